#!/bin/sh
# bench/lag.sh OUT.csv REPS N: benchmark 4 of issue 6, replication lag, in
# the lab, layersync and tuned lsyncd in turn on the same running container
# (never both at once). One process in alpha (bench/lagprobe.py) writes
# through the container's merged view and polls the copy on beta's disk
# (same machine, same clock), so no CLI or podman time is counted. Per tool
# and repetition, four loads:
#   single  a 100-byte file, then wait for it on beta, N / 2 times, 20 ms
#           apart: the lag of each, from its close to its content on beta
#   stream  a steady stream: a 100-byte file every 5 ms (200 writes a
#           second), N of them, and a 4 MiB file after every 50th; the lag
#           of each small file
#   append  1 MiB appended to a 24 MB file, N / 4 times, one at a time:
#           from the close to the new size and tail on beta
#   burst   500 files of 1 KiB written as fast as they can be: from the
#           first write to all 500 on beta, and (write_ms) how long
#           the writes alone took, the floor under that
# For layersync, "on beta" is the twin's upper layer, where a file shows
# only once its batch is committed (durable, fsync'd); lsyncd's copy is
# never fsync'd. layersync-nofsync is layersync with beta's `fsync =
# false` (committed, not flushed: the peers' terms). disk-floor (a
# reference, not a peer): on beta's disk, a 100-byte file written,
# fdatasync'd, renamed and its directory fsync'd; 1 MiB appended and
# fdatasync'd; the burst's 500 files staged, flushed with one syncfs,
# renamed into place, their directory fsync'd: the least any durable
# copy costs.
# Rows "lag,TOOL,LOAD,REP,METRIC,VALUE" (p50_ms, p99_ms,
# max_ms; burst: ms, write_ms) are appended to OUT.csv.
# Run by scripts/bench, which sets top_srcdir and LAYERSYNC.
. "$top_srcdir/tests/integration/lib.sh"
. "$top_srcdir/tests/integration/replib.sh"
. "$top_srcdir/bench/lsyncdlib.sh"
. "$top_srcdir/bench/benchlib.sh"

out=$1 reps=$2 n=$3
LDST=/var/lib/layersync-lab/beta/bench-lag-lsyncd
FLOOR=/var/lib/layersync-lab/beta/bench-lag-floor
repl_setup
on_exit 'rm -rf "$LDST" "$FLOOR"'
daemon_start alpha
daemon_start beta
img=$("$LAB" exec alpha podman images -q | head -1)

# probe TOOL REP DEST: run the three loads, append their rows
probe() {
	"$LAB" exec alpha python3 "$TOP/bench/lagprobe.py" "$merged" "$3" "$n" "$1" "$2" \
		>>"$out" 2>"$TMP/probe.err" || { stuck_report; fail "$1 rep $2: $(tail -3 "$TMP/probe.err")"; }
}

rep=1
while [ "$rep" -le "$reps" ]; do
	"$LAB" exec alpha podman run -d --name lagbench "$img" sleep 100000 >/dev/null ||
		fail "cannot run the lag container"
	merged=$("$LAB" exec alpha podman mount lagbench) || fail "cannot mount lagbench"
	ls_on alpha add lagbench >/dev/null || fail "add failed"
	probe layersync "$rep" "$(upper beta lagbench)"
	trees_equal lagbench
	twin_fsync off
	# the restarted daemon's first session up and in step before timing
	ls_on alpha sync lagbench --wait --timeout 60 >/dev/null || fail "sync after the restart failed"
	probe layersync-nofsync "$rep" "$(upper beta lagbench)"
	trees_equal lagbench
	sync	# its writes flushed now, not in the next tool's time
	twin_fsync on
	# the reference: what a durable copy costs on beta's disk, no tool
	mkdir -p "$FLOOR"
	"$LAB" exec beta python3 "$TOP/bench/lagprobe.py" - "$FLOOR" "$n" disk-floor "$rep" \
		>>"$out" 2>"$TMP/probe.err" || fail "disk-floor rep $rep: $(tail -3 "$TMP/probe.err")"
	rm -rf "$FLOOR"
	ls_on alpha remove lagbench --purge >/dev/null 2>&1 || fail "remove --purge failed"

	lsyncd_start tuned "$(upper alpha lagbench)=$LDST"
	lsyncd_wait_startup 60
	probe lsyncd "$rep" "$LDST"
	wait_for 30 diff -r --no-dereference "$(upper alpha lagbench)" "$LDST" >/dev/null ||
		fail "rep $rep: lsyncd's copy differs from the layer"
	lsyncd_stop
	rm -rf "$LDST"
	"$LAB" exec alpha podman rm -f -t 0 lagbench >/dev/null 2>&1
	note "rep $rep: $(grep ",$rep,p99_ms," "$out" | cut -d, -f2,3,6 | tr '\n' ' ')"
	rep=$((rep + 1))
done
pass "lag: $reps reps of $n small files, $((n / 4)) appends, a 500-file burst"
