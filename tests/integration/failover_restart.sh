#!/bin/sh
# Local restart before failover. Killing the container's process on
# alpha gets it restarted on alpha, and the VIP stays; killed more often
# than restart_attempts (3) within the window, it is given up: the track
# script fails, keepalived moves the VIP, and beta serves.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/replib.sh"
. "$(dirname "$0")/vrrplib.sh"

vrrp_setup
write_page restart-test
ls_on alpha sync web --wait --timeout 20 >/dev/null || fail "sync failed"

web_pid() { "$LAB" exec alpha podman container inspect --format '{{.State.Pid}}' web 2>/dev/null; }
restarted() { p=$(web_pid); [ -n "$p" ] && [ "$p" != 0 ] && [ "$p" != "$1" ] && running alpha; }

for i in 1 2 3; do
	pid=$(web_pid)
	[ -n "$pid" ] && [ "$pid" != 0 ] || fail "web does not run on alpha before kill $i"
	kill -KILL "$pid"
	wait_for 15 restarted "$pid" || fail "kill $i: web was not restarted on alpha"
	[ "$(vip_on)" = alpha ] || fail "kill $i: the VIP moved to $(vip_on)"
	[ "$("$LAB" client curl -s -m 2 "http://$VIP/index.html")" = restart-test ] ||
		fail "kill $i: alpha does not serve the page after the restart"
	note "kill $i: restarted on alpha (pid $pid -> $(web_pid)), VIP still on alpha"
done
ls_on alpha status | grep -q "3 local restarts" || fail "status does not count 3 restarts: $(ls_on alpha status | grep 'container web')"

t0=$(now_ms)
kill -KILL "$(web_pid)"
wait_for 15 eval '[ "$(vip_on)" = beta ] && running beta' ||
	fail "the VIP did not move after the restart limit (vip on '$(vip_on)')"
t1=$(now_ms)
! ls_on alpha check >/dev/null 2>&1 || [ "$(ls_on alpha status --json | grep -o '"role":"[a-z]*"')" = '"role":"standby"' ] ||
	fail "alpha's check passes though web failed there and it is not the standby"
wait_for 10 eval '[ "$("$LAB" client curl -s -m 1 "http://$VIP/index.html")" = restart-test ]' ||
	fail "beta does not serve the page"
grep -q "no more local restarts" "$TMP/alpha.log" || fail "alpha's log does not say it gave up"
pass "3 kills restarted on alpha; the 4th moved the VIP to beta in $((t1 - t0)) ms"
