# bench/benchlib.sh: what the benchmarks that run many containers share,
# sourced after tests/integration/lib.sh and replib.sh.
#   ms               milliseconds, wall clock
#   bench_run NAME   run container NAME in alpha (the lab's image, asleep)
#   bench_rm_all     remove every container bench_run ran; also on exit
#   twin_fsync on|off  beta's receivers flush (the default) or not (its
#                    config's `fsync = false`, the peers' terms); restarts
#                    alpha's daemon, whose next session reads it, and
#                    returns once that session is up

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

TWIN_CONF=/etc/netns/beta/layersync/layersync.conf

twin_fsync() {
	if [ -z "${TWIN_FSYNC_RESTORE:-}" ]; then
		TWIN_FSYNC_RESTORE=1
		on_exit "sed -i '/^fsync = false;\$/d' '$TWIN_CONF'"
	fi
	sed -i '/^fsync = false;$/d' "$TWIN_CONF"
	[ "$1" = on ] || echo 'fsync = false;' >>"$TWIN_CONF"
	_tf_ups=$(grep -c 'session up' "$TMP/alpha.log")
	daemon_stop alpha
	daemon_start alpha
	# timings start with the session up, as they do in a daemon running long
	wait_for 20 eval '[ "$(grep -c "session up" "$TMP/alpha.log")" -gt "$_tf_ups" ]' ||
		fail "alpha's session to beta did not come up after its restart"
}

bench_rm_all() {
	# shellcheck disable=SC2086
	[ -z "$BENCH_NAMES" ] || "$LAB" exec alpha podman rm -f -t 0 $BENCH_NAMES >/dev/null 2>&1
	BENCH_NAMES=
}
