# replib.sh: helpers for replication tests, sourced after lib.sh.
#
#   repl_setup           lab up, test configs on both hosts whose peer runs
#                        $LAYERSYNC, clean layersync state, cleanup on exit
#   ls_on HOST ARGS...   run layersync with the test config in HOST
#   daemon_start HOST [VAR=VALUE...]
#                        start the agent in HOST (log in $TMP/HOST.log),
#                        with those variables in its environment
#   daemon_stop HOST     SIGTERM it; fail unless it exits 0 (under ASan a
#                        leak makes the exit status non-zero)
#   upper HOST NAME      the upperdir of container NAME in HOST
#   trees_equal NAME     fail unless NAME's upper trees are equal on
#                        alpha and beta (tests/integration/treelist)
#   ls_procs HOST CMD    the PIDs of the built binary running CMD (serve,
#                        daemon) in HOST
#   receivers HOST       the PIDs of the `layersync serve` processes
#                        (the peer's sessions) running in HOST
#   stuck_report         on stderr, for a replication that stopped: alpha's
#                        status, and for alpha's daemon and beta's receivers
#                        their state, wait channel, kernel stack and the CPU
#                        they used in one second (a loop spins, a wait sleeps)
# The daemons' logs of the last run stay in /tmp/layersync-test-logs.

LS=${LAYERSYNC:?LAYERSYNC must name the built binary}
TMP=$(mktemp -d)
TESTCONF=/etc/layersync/test.conf

repl_setup() {
	lab_up
	"$LAB" conf test "$LS" || fail "cannot write the test configs"
	for h in alpha beta; do
		rm -rf "/var/lib/layersync-lab/$h/state"
		"$LAB" exec $h podman rm -af -t 0 >/dev/null 2>&1
	done
	on_exit "repl_cleanup"
}

repl_cleanup() {
	# Keep the daemons' logs of the last run for whoever debugs a failure.
	mkdir -p /tmp/layersync-test-logs
	for h in alpha beta; do
		[ -f "$TMP/$h.log" ] && cp "$TMP/$h.log" "/tmp/layersync-test-logs/$TEST.$h.log"
	done
	for h in alpha beta; do
		pid=$(cat "$TMP/$h.pid" 2>/dev/null) && kill "$pid" 2>/dev/null
		"$LAB" exec $h podman rm -af -t 0 >/dev/null 2>&1
		rm -rf "/var/lib/layersync-lab/$h/state" "/etc/netns/$h/layersync/test.conf"
	done
	rm -rf "$TMP"
}

ls_on() {
	h=$1; shift
	"$LAB" exec "$h" "$LS" -c $TESTCONF "$@"
}

daemon_up() { ls_on "$1" status >/dev/null 2>&1; }

daemon_start() {
	_ds_host=$1
	shift
	"$LAB" exec "$_ds_host" env "$@" "$LS" -c $TESTCONF daemon -v 2>>"$TMP/$_ds_host.log" &
	echo $! >"$TMP/$_ds_host.pid"
	wait_for 10 daemon_up "$_ds_host" ||
		fail "$_ds_host: daemon did not start: $(tail -5 "$TMP/$_ds_host.log")"
}

daemon_stop() {
	pid=$(cat "$TMP/$1.pid") || fail "$1: no daemon pid"
	kill -TERM "$pid"
	rc=0; wait "$pid" || rc=$?
	rm -f "$TMP/$1.pid"
	[ "$rc" -eq 0 ] || fail "$1: daemon exited $rc on SIGTERM: $(tail -20 "$TMP/$1.log")"
}

# ls_procs HOST CMD: PIDs of the built binary running CMD (serve, daemon) in HOST
ls_procs() {
	_exe=$(readlink -f "$LS")
	for _p in $(ip netns pids "$1"); do
		[ "$(readlink "/proc/$_p/exe" 2>/dev/null)" = "$_exe" ] &&
			grep -qz "^$2\$" "/proc/$_p/cmdline" 2>/dev/null && echo "$_p"
	done
}

receivers() { ls_procs "$1" serve; }

# _cpu_ticks PID: user + system clock ticks the process has used
_cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null; }

# _proc_report LABEL PID: its state, wait channel, CPU in 1 s, kernel stack
_proc_report() {
	_t0=$(_cpu_ticks "$2"); sleep 1; _t1=$(_cpu_ticks "$2")
	echo "--- $1 $2: state $(awk '{ print $3 }' "/proc/$2/stat" 2>/dev/null)," \
		"wchan $(cat "/proc/$2/wchan" 2>/dev/null)," \
		"$(( ${_t1:-0} - ${_t0:-0} )) ticks of CPU in 1 s (of $(getconf CLK_TCK))"
	head -12 "/proc/$2/stack" 2>/dev/null
}

stuck_report() {
	{
		echo "--- stuck_report: alpha's status"
		ls_on alpha status 2>&1 | head -40
		for _sp in $(ls_procs alpha daemon); do _proc_report alpha-daemon "$_sp"; done
		for _sp in $(receivers beta); do _proc_report beta-serve "$_sp"; done
		# bytes in a socket's Recv-Q are there for its owner to read
		echo "--- alpha's SSH sockets to beta (Recv-Q unread, Send-Q unacknowledged)"
		"$LAB" exec alpha ss -tn state established '( dport = :22 )' 2>&1
		echo "--- beta's sshd sockets"
		"$LAB" exec beta ss -tn state established '( sport = :22 )' 2>&1
	} >&2
}

upper() {
	"$LAB" exec "$1" podman container inspect --format '{{.GraphDriver.Data.UpperDir}}' "$2"
}

trees_equal() {
	"$LAB" exec alpha "$TOP/tests/integration/treelist" "$(upper alpha "$1")" >"$TMP/tree.alpha" ||
		fail "cannot list alpha's tree"
	"$LAB" exec beta "$TOP/tests/integration/treelist" "$(upper beta "$1")" >"$TMP/tree.beta" ||
		fail "cannot list beta's tree"
	[ -s "$TMP/tree.alpha" ] || fail "alpha's tree listing is empty"
	diff "$TMP/tree.alpha" "$TMP/tree.beta" >"$TMP/tree.diff" ||
		fail "upper trees differ (< alpha, > beta):
$(head -40 "$TMP/tree.diff")"
}
