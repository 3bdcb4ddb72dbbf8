#!/usr/bin/env bash
# daemon_basics: in each lab host, with the lab's own layersync.conf,
# the daemon starts, answers `layersync status` with that host's node
# and peer, opens its SSH session to the peer before any container is
# added, and stops cleanly on SIGTERM (exit 0, socket removed).
. "$(dirname "$0")/lib.sh"

lab_up
LS=${LAYERSYNC:?LAYERSYNC must name the built binary}

start_daemon() {	# start_daemon HOST: runs the agent in HOST, sets $wrapper
	"$LAB" exec "$1" "$LS" daemon 2>"$TMP/$1.log" &
	wrapper=$!
	on_exit "kill $wrapper 2>/dev/null || true"
	wait_for 10 "$LAB" exec "$1" "$LS" status >/dev/null ||
		fail "$1: daemon never answered status; log: $(cat "$TMP/$1.log")"
}

TMP=$(mktemp -d)
on_exit "rm -rf $TMP"

start_daemon alpha; alpha_wrapper=$wrapper
start_daemon beta; beta_wrapper=$wrapper

out=$("$LAB" exec alpha "$LS" status) || fail "alpha: status failed"
grep -qx 'node: alpha' <<<"$out" || fail "alpha: status lacks 'node: alpha': $out"
grep -qx 'peer beta: root@10.210.0.2 port 22' <<<"$out" ||
	fail "alpha: status lacks its peer beta: $out"
out_beta=$("$LAB" exec beta "$LS" status) || fail "beta: status failed"
grep -qx 'node: beta' <<<"$out_beta" || fail "beta: status lacks 'node: beta': $out_beta"
# no container yet, and each has already logged in to the other over SSH:
# its session is up, or the remote command answered (this config runs
# the installed layersync there, which a test build may not have)
for host in alpha beta; do
	wait_for 10 grep -Eq 'peer (alpha|beta): (session up|remote:)' "$TMP/$host.log" ||
		fail "$host: no session to its peer before any add; log: $(cat "$TMP/$host.log")"
done

for host in alpha beta; do
	if [ $host = alpha ]; then w=$alpha_wrapper; s=$out; else w=$beta_wrapper; s=$out_beta; fi
	pid=$(sed -n 's/^pid: //p' <<<"$s")
	[ -n "$pid" ] || fail "$host: status gave no pid"
	kill -TERM "$pid" || fail "$host: cannot signal daemon pid $pid"
	rc=0; wait "$w" || rc=$?
	[ "$rc" -eq 0 ] || fail "$host: daemon exited $rc after SIGTERM; log: $(cat "$TMP/$host.log")"
	grep -q 'shutting down' "$TMP/$host.log" || fail "$host: no shutdown line in log"
	sock=$("$LAB" exec $host sh -c 'sed -n "s/^control_socket = \"\(.*\)\";/\1/p" /etc/layersync/layersync.conf')
	[ -n "$sock" ] || fail "$host: cannot find control_socket in its config"
	"$LAB" exec $host test ! -e "$sock" || fail "$host: control socket $sock left behind"
	if "$LAB" exec $host "$LS" status >/dev/null 2>&1; then
		fail "$host: status still answers after shutdown"
	fi
	note "$host: started, answered status, stopped cleanly on SIGTERM"
done
pass "daemon starts, answers status and stops on SIGTERM in both hosts"
