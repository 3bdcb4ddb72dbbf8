#!/bin/sh
# bench/ckpt_cost.sh OUT.csv REPS MB...: benchmark 3, checkpoint cost
# against memory size (the CRIU paper's table 2), in the lab, layersync's
# stateful mode and the naive podman path alternating within each rep.
# The service: a busybox container whose `dd bs=MB iflag=fullblock`
# holds MB megabytes of random data in its buffer (anonymous memory, in
# the checkpoint's pages-*.img), fed through a FIFO; more bytes fed later
# overwrite the start of the buffer in place (the "dirtied" memory).
#   layersync (add --mode=criu, checkpoints on demand, beta's promote):
#     dump_ms, freeze_ms, image_mb   the first checkpoint: the agent's
#                   podman checkpoint --export (not the unpacking after
#                   it), CRIU's frozen time, its size
#     first_ship_ms the first checkpoint, from taken (unpacked, swapped
#                   in) to durable on beta (status: checkpoint_ship_ms)
#     next_kb, next_ship_ms  the next one, memory untouched: bytes
#                   shipped, taken to durable
#     dirty_next_kb, dirty_next_ship_ms  the next one after 10 % of the
#                   memory was rewritten
#     restore_ms    beta's restore child on promote, as its log says
#                   (pack the replicated checkpoint, set the twin aside,
#                   podman container restore --import)
#   podman (the peer): checkpoint --leave-running --export --compress=none
#     on alpha (checkpoint_ms), scp of the file to beta (copy_ms), restore
#     --import under a new name on beta (restore_ms), total_ms, image_mb
# Each restored container (podman's, then layersync's) must hold the same
# memory as alpha's at the checkpoint: the md5 of dd's buffer, read from
# /proc/PID/mem, is compared. Pre-dump is not measured: this kernel lacks
# memory dirty tracking (see bench/ckpt_cost.md).
# Rows "ckpt_cost,TOOL,MB,REP,METRIC,VALUE" are appended to OUT.csv.
# Run by scripts/bench, which sets top_srcdir and LAYERSYNC.
. "$top_srcdir/tests/integration/lib.sh"
. "$top_srcdir/tests/integration/replib.sh"

usage="usage: bench/ckpt_cost.sh OUT.csv REPS MB..."
[ $# -ge 3 ] || fail "$usage"
out=$1 reps=$2; shift 2
case $reps in '' | *[!0-9]*) fail "$usage" ;; esac
[ "$reps" -ge 1 ] || fail "REPS must be at least 1"
for mb in "$@"; do
	case $mb in '' | *[!0-9]*) fail "$usage (MB: a whole number)" ;; esac
	[ "$mb" -ge 1 ] || fail "MB must be at least 1"
done

AEXP=/var/lib/layersync-lab/alpha/bench-ckpt.tar	# podman's export, alpha's disk
BEXP=/var/lib/layersync-lab/beta/bench-ckpt.tar	# its copy on beta's disk
SSHOPTS="-i /etc/layersync/id_ed25519 -o UserKnownHostsFile=/etc/layersync/known_hosts -o StrictHostKeyChecking=yes -o BatchMode=yes"

repl_setup
on_exit 'rm -f "$AEXP" "$BEXP"'
CONF=/etc/netns/alpha/layersync/test.conf
BETA=$(sed -n 's/.*address = "\([0-9.]*\)".*/\1/p' "$CONF" | head -1)
[ -n "$BETA" ] || fail "cannot find beta's address in alpha's config"
# podman finds criu on PATH, as the agent arranges from criu_path.
CRIU=$(sed -n 's/^criu_path = "\(.*\)";.*/\1/p' "$CONF" | head -1)
CPATH=$PATH
[ -n "$CRIU" ] && CPATH=$(dirname "$CRIU"):$PATH
if ! "${CRIU:-criu}" check --feature mem_dirty_track >/dev/null 2>&1; then
	note "pre-dump not measured: '${CRIU:-criu} check --feature mem_dirty_track' fails (no memory dirty tracking here)"
fi
daemon_start alpha
daemon_start beta
img=$("$LAB" exec alpha podman images -q | head -1)

ms() { date +%s%3N; }
row() { echo "ckpt_cost,$1,$2,$3,$4,$5" >>"$out"; }
json_num() {	# HOST KEY: a number from HOST's status --json
	ls_on "$1" status --json | grep -o "\"$2\":[0-9.]*" | head -1 | cut -d: -f2
}
kb() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1024 }'; }
mbs() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }'; }

# holder HOST NAME: the host PID of the dd holding the memory in NAME.
holder() {
	_cpid=$("$LAB" exec "$1" podman container inspect --format '{{.State.Pid}}' "$2" 2>/dev/null) &&
		[ -n "$_cpid" ] && [ "$_cpid" != 0 ] && pgrep -P "$_cpid" -x dd | head -1
}
# io_is PID RCHAR [WCHAR]: dd has read (and written) exactly that much.
io_is() {
	[ "$(sed -n 's/^rchar: //p' "/proc/$1/io" 2>/dev/null)" = "$2" ] &&
		{ [ -z "${3:-}" ] || [ "$(sed -n 's/^wchar: //p' "/proc/$1/io")" = "$3" ]; }
}
# memsum HOST NAME: md5 of dd's buffer (its biggest anonymous mapping),
# read from /proc/PID/mem; CRIU restores it at the same address.
memsum() {
	_pid=$(holder "$1" "$2") && [ -n "$_pid" ] || return 1
	_best=0 _start=
	while read -r _range _perms _off _dev _ino _path; do
		[ -z "$_path" ] || continue
		_s=$((0x${_range%-*})) _e=$((0x${_range#*-}))
		if [ $((_e - _s)) -gt "$_best" ]; then _best=$((_e - _s)) _start=$_s; fi
	done <"/proc/$_pid/maps"
	[ "$_best" -ge $((mb * 1048576)) ] || return 1
	dd if="/proc/$_pid/mem" bs=1M iflag=skip_bytes,count_bytes skip="$_start" \
		count="$_best" status=none | md5sum | cut -c1-32
}
# feed BYTES: random bytes from inside the container into dd's FIFO.
feed() {
	"$LAB" exec alpha podman exec bench dd if=/dev/urandom of=/f bs=1M \
		count="$1" iflag=fullblock,count_bytes 2>/dev/null
}
# reset: both agents stopped, their state and every container gone,
# both started again (a promote changed the roles).
reset() {
	# beta checkpoints the restored container at once: let that child end.
	wait_for 300 eval '! pgrep -f -- "$TESTCONF serve --checkpoint=bench" >/dev/null' ||
		note "beta's checkpoint child of the restored container still runs"
	for h in alpha beta; do [ -f "$TMP/$h.pid" ] && daemon_stop $h; done
	for h in alpha beta; do
		"$LAB" exec $h podman rm -af -t 0 >/dev/null 2>&1
		rm -rf "/var/lib/layersync-lab/$h/state"
	done
	rm -f "$AEXP" "$BEXP"
	daemon_start alpha
	daemon_start beta
}

BTREE=/var/lib/layersync-lab/beta/state/twins/bench/ckpt/tree
for mb in "$@"; do
	total=$((mb * 1048576))
	dirty=$((total / 10))
	rep=1
	while [ "$rep" -le "$reps" ]; do
		# The service: dd holds one block of MB in its buffer, waiting
		# for the next; the sleep keeps the FIFO open for writing.
		"$LAB" exec alpha podman run -d --name bench --network none "$img" sh -c \
			"mkfifo /f; sleep 999999 >/f & dd if=/f of=/dev/null bs=${mb}M iflag=fullblock; sleep 999999" \
			>/dev/null || fail "cannot run the bench container"
		feed "$total" || fail "cannot feed $mb MB to the bench container"
		wait_for 60 eval 'p=$(holder alpha bench) && io_is "$p" $total $total' ||
			fail "dd in the bench container does not hold $mb MB: $(cat /proc/"$(holder alpha bench)"/io 2>&1 | head -2 | tr '\n' ' ')"

		# Layer mode, for the issue's comparison of synchronizing a
		# layer-mode container against podman's checkpoint path: a
		# 4 KiB file written into its layer, until durable on beta.
		ls_on alpha add bench >"$TMP/add.out" 2>&1 || fail "add (layer mode) failed: $(tail -3 "$TMP/add.out")"
		head -c 4096 /dev/urandom >"$(upper alpha bench)/state.bin"
		t0=$(ms)
		ls_on alpha sync bench --wait --timeout 60 >/dev/null || fail "sync --wait (layer mode) failed"
		row layersync "$mb" "$rep" sync_ms $(($(ms) - t0))
		cmp -s "$(upper alpha bench)/state.bin" "$(upper beta bench)/state.bin" ||
			fail "$mb MB: the layer-mode change is not on beta"
		ls_on alpha remove bench --purge >/dev/null 2>&1 || fail "remove (layer mode) failed"

		# layersync: add; the first checkpoint is taken at once.
		timeout 600 "$LAB" exec alpha "$LS" -c $TESTCONF add bench --mode=criu \
			--checkpoint-interval=600000 >"$TMP/add.out" 2>&1 ||
			fail "add --mode=criu failed: $(tail -3 "$TMP/add.out")"
		wait_for 600 eval 'ls_on alpha status --json | grep -q "\"checkpoint_durable\":true"' ||
			fail "$mb MB: the first checkpoint never became durable on beta: $(ls_on alpha status | grep -A2 'container bench')"
		row layersync "$mb" "$rep" dump_ms "$(json_num alpha checkpoint_dump_ms)"
		row layersync "$mb" "$rep" freeze_ms "$(json_num alpha checkpoint_frozen_ms)"
		row layersync "$mb" "$rep" image_mb "$(mbs "$(json_num alpha checkpoint_bytes)")"
		row layersync "$mb" "$rep" first_ship_ms "$(json_num alpha checkpoint_ship_ms)"
		# beta holds it: its memory pages are there, all MB of them.
		pages=$(find "$BTREE" -name 'pages-*.img' -printf '%s\n' 2>/dev/null | awk '{ s += $1 } END { print s + 0 }')
		[ "$pages" -ge "$total" ] ||
			fail "$mb MB: beta's checkpoint holds only $pages bytes of memory pages"

		# The next one, memory untouched.
		t0=$(ms)
		ls_on alpha checkpoint bench >"$TMP/ck2" 2>&1 || fail "$mb MB: checkpoint failed: $(cat "$TMP/ck2")"
		wall2=$(($(ms) - t0))
		row layersync "$mb" "$rep" next_kb "$(kb "$(json_num alpha checkpoint_shipped_bytes)")"
		row layersync "$mb" "$rep" next_ship_ms "$(json_num alpha checkpoint_ship_ms)"

		# 10 % of the memory rewritten in place, then the next one.
		feed "$dirty" || fail "cannot rewrite 10 % of the memory"
		wait_for 60 eval 'io_is "$(holder alpha bench)" $((total + dirty))' ||
			fail "dd did not take the rewrite"
		sum=$(memsum alpha bench) || fail "cannot read dd's memory on alpha"
		t0=$(ms)
		ls_on alpha checkpoint bench >"$TMP/ck3" 2>&1 || fail "$mb MB: checkpoint failed: $(cat "$TMP/ck3")"
		wall3=$(($(ms) - t0))
		row layersync "$mb" "$rep" dirty_next_kb "$(kb "$(json_num alpha checkpoint_shipped_bytes)")"
		row layersync "$mb" "$rep" dirty_next_ship_ms "$(json_num alpha checkpoint_ship_ms)"

		# podman, the naive script: export, copy, import on beta.
		rm -f "$AEXP" "$BEXP"
		t0=$(ms)
		"$LAB" exec alpha env PATH="$CPATH" podman container checkpoint --leave-running \
			--export="$AEXP" --compress=none bench >"$TMP/pm.out" 2>&1 ||
			fail "podman checkpoint failed: $(tail -3 "$TMP/pm.out")"
		t1=$(ms)
		# shellcheck disable=SC2086
		"$LAB" exec alpha scp -q $SSHOPTS "$AEXP" "root@$BETA:$BEXP" >"$TMP/pm.out" 2>&1 ||
			fail "scp of the checkpoint failed: $(tail -3 "$TMP/pm.out")"
		t2=$(ms)
		"$LAB" exec beta env PATH="$CPATH" podman container restore --import="$BEXP" \
			--name bench-pm >"$TMP/pm.out" 2>&1 ||
			fail "podman restore on beta failed: $(tail -3 "$TMP/pm.out")"
		t3=$(ms)
		row podman "$mb" "$rep" checkpoint_ms $((t1 - t0))
		row podman "$mb" "$rep" copy_ms $((t2 - t1))
		row podman "$mb" "$rep" restore_ms $((t3 - t2))
		row podman "$mb" "$rep" total_ms $((t3 - t0))
		row podman "$mb" "$rep" sync_ms $((t3 - t0))	# its way to sync
		row podman "$mb" "$rep" image_mb "$(mbs "$(stat -c %s "$AEXP")")"
		got=$(memsum beta bench-pm) || fail "podman's restored container on beta holds no $mb MB dd"
		[ "$got" = "$sum" ] ||
			fail "$mb MB rep $rep: podman's restored memory on beta differs from alpha's ($got, not $sum)"
		"$LAB" exec beta podman rm -f -t 0 bench-pm >/dev/null 2>&1
		rm -f "$AEXP" "$BEXP"

		# layersync's restore: beta promotes (fencing alpha) and restores
		# from the last checkpoint it holds.
		logline=$(wc -l <"$TMP/beta.log")
		t0=$(ms)
		ls_on beta promote >"$TMP/promote.out" 2>&1 || fail "promote on beta failed: $(cat "$TMP/promote.out")"
		t1=$(ms)
		restore=$(tail -n +"$((logline + 1))" "$TMP/beta.log" | grep -o 'restore bench: [0-9]* ms: .*' | tail -1)
		[ -n "$restore" ] || fail "$mb MB: beta did not restore from the checkpoint: $(tail -n +"$((logline + 1))" "$TMP/beta.log" | grep -i 'restore' | tail -3)"
		ls_on beta status | grep -q "RESTORE FAILED" && fail "beta says the restore failed: $(ls_on beta status | grep RESTORE)"
		row layersync "$mb" "$rep" restore_ms "$(echo "$restore" | cut -d' ' -f3)"
		got=$(memsum beta bench) || fail "layersync's restored container on beta holds no $mb MB dd"
		[ "$got" = "$sum" ] ||
			fail "$mb MB rep $rep: layersync's restored memory on beta differs from alpha's ($got, not $sum)"

		note "$mb MB rep $rep: $(grep "^ckpt_cost,[a-z]*,$mb,$rep," "$out" | cut -d, -f2,5,6 | tr '\n' ' ')| checkpoint command returned in $wall2 ms (untouched), $wall3 ms (dirtied); $restore; promote returned in $((t1 - t0)) ms; dd's memory (md5 $sum) equal on alpha and in both restores"
		reset
		rep=$((rep + 1))
	done
done
pass "checkpoint cost: $* MB, $reps reps"
