# bench/benchlib.sh: what the benchmarks that run many containers share,
# sourced after tests/integration/lib.sh and replib.sh.
#   ms               milliseconds, wall clock
#   bench_run NAME   run container NAME in alpha (the lab's image, asleep)
#   bench_rm_all     remove every container bench_run ran; also on exit

BENCH_NAMES=
BENCH_IMG=

ms() { date +%s%3N; }

bench_run() {
	if [ -z "$BENCH_IMG" ]; then
		BENCH_IMG=$("$LAB" exec alpha podman images -q | head -1)
		on_exit 'bench_rm_all'
	fi
	"$LAB" exec alpha podman run -d --name "$1" "$BENCH_IMG" sleep 100000 >/dev/null ||
		fail "cannot run $1"
	BENCH_NAMES="$BENCH_NAMES $1"
}

bench_rm_all() {
	# shellcheck disable=SC2086
	[ -z "$BENCH_NAMES" ] || "$LAB" exec alpha podman rm -f -t 0 $BENCH_NAMES >/dev/null 2>&1
	BENCH_NAMES=
}
