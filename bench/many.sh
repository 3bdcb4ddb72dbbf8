#!/bin/sh
# bench/many.sh OUT.csv REPS N...: benchmark 2 of issue 6, many containers
# on one host (the image-layer paper's table 2), in the lab. N containers
# run on alpha; the same change lands in each of them, one after the
# other: 20 files of 50 KiB and a marker written last. A container's sync
# time runs from the end of its own writes to its marker on beta (for
# layersync: in the twin's upper layer, committed, fsync'd). Per tool, N
# and repetition: the average and the maximum over the N containers.
#   layersync  one agent replicating all N (`add` each)
#   lsyncd     one lsyncd, tuned (bench/lsyncdlib.sh), a sync{} per
#              container, started after layersync let go of them
# Rows "many,TOOL,N,REP,avg_ms|max_ms,VALUE" are appended to OUT.csv.
# Run by scripts/bench, which sets top_srcdir and LAYERSYNC.
. "$top_srcdir/tests/integration/lib.sh"
. "$top_srcdir/tests/integration/replib.sh"
. "$top_srcdir/bench/lsyncdlib.sh"
. "$top_srcdir/bench/benchlib.sh"

out=$1 reps=$2; shift 2
LBASE=/var/lib/layersync-lab/beta/bench-many
repl_setup
on_exit 'rm -rf "$LBASE"'
daemon_start alpha
daemon_start beta

# change_all ROUND: write the change into every container's layer; prints
# "NAME END_MS" per container
change_all() {
	for c in $BENCH_NAMES; do
		up=$(cat "$TMP/up.$c")
		mkdir -p "$up/round$1"
		i=0
		while [ $i -lt 20 ]; do
			head -c 51200 /dev/urandom >"$up/round$1/f$i"
			i=$((i + 1))
		done
		echo "$1" >"$up/round$1/zz-marker"
		echo "$c $(date +%s%3N)"
	done
}

# wait_all ROUND DIR_OF_NAME: for each "NAME END_MS" line of $TMP/ends,
# wait for its marker on beta; "AVG MAX" of the lags into $TMP/lags
wait_all() {
	: >"$TMP/lag.each"
	while read -r c end; do
		dst=$($2 "$c")/round$1/zz-marker
		wait_file "$dst" 120 || fail "$c: round $1 not on beta after 120 s"
		echo $(( $(date +%s%3N) - end )) >>"$TMP/lag.each"
	done <"$TMP/ends"
	awk '{ s += $1; if ($1 > m) m = $1 } END { printf "%d %d\n", s / NR, m }' \
		"$TMP/lag.each" >"$TMP/lags"
}

twin_of() { cat "$TMP/tw.$1"; }
lsyncd_dst() { echo "$LBASE/$1"; }

for n in "$@"; do
	rep=1
	while [ "$rep" -le "$reps" ]; do
		i=1
		while [ $i -le "$n" ]; do
			c=many$i
			bench_run $c
			upper alpha $c >"$TMP/up.$c"
			ls_on alpha add $c >/dev/null || fail "add $c failed"
			i=$((i + 1))
		done
		# the twins' paths, looked up once, outside the timing
		for c in $BENCH_NAMES; do upper beta "$c" >"$TMP/tw.$c"; done
		change_all 1 >"$TMP/ends"
		wait_all 1 twin_of
		read -r avg max <"$TMP/lags"
		echo "many,layersync,$n,$rep,avg_ms,$avg" >>"$out"
		echo "many,layersync,$n,$rep,max_ms,$max" >>"$out"
		for c in $BENCH_NAMES; do
			trees_equal "$c"
			ls_on alpha remove $c --purge >/dev/null 2>&1 || fail "remove $c failed"
		done

		# lsyncd: one instance, a sync{} per container
		rm -rf "$LBASE"; mkdir -p "$LBASE"
		srcs=
		for c in $BENCH_NAMES; do srcs="$srcs $(cat "$TMP/up.$c")=$LBASE/$c"; done
		# shellcheck disable=SC2086
		lsyncd_start tuned $srcs
		lsyncd_wait_startup 300 "$n"
		change_all 2 >"$TMP/ends"
		wait_all 2 lsyncd_dst
		read -r avg max <"$TMP/lags"
		echo "many,lsyncd,$n,$rep,avg_ms,$avg" >>"$out"
		echo "many,lsyncd,$n,$rep,max_ms,$max" >>"$out"
		for c in $BENCH_NAMES; do
			wait_for 30 diff -r --no-dereference "$(cat "$TMP/up.$c")" "$LBASE/$c" >/dev/null ||
				fail "$c: lsyncd's copy differs from the layer"
		done
		lsyncd_stop
		rm -rf "$LBASE"
		bench_rm_all
		note "$n containers rep $rep: $(grep "^many,[a-z]*,$n,$rep," "$out" | cut -d, -f2,5,6 | tr '\n' ' ')"
		rep=$((rep + 1))
	done
done
pass "many containers: $*, $reps reps"
