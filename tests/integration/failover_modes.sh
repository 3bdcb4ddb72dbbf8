#!/bin/sh
# Failover with keepalived, alpha lost three ways: its link cut, its
# keepalived and agent killed with kill -9, the whole host frozen with
# SIGSTOP. After the kill, nothing on alpha stops its container: beta's
# promote must fence it. Each time a client in a third namespace, polling the VIP, must
# get the replicated page from beta; the failover time (loss to the first
# answer through beta's MAC) is printed. Between the modes alpha returns
# as the standby, catches up, and a planned switchover makes it the
# master again.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/replib.sh"
. "$(dirname "$0")/vrrplib.sh"

vrrp_setup

role_of() { ls_on "$1" status --json | grep -o '"role":"[a-z]*"' | cut -d'"' -f4; }

standby_caught_up() {
	[ "$(role_of alpha)" = standby ] && ! running alpha
}

for mode in cut kill freeze; do
	page_from_alpha "$mode"
	t0=$(now_ms)
	lose_alpha $mode
	wait_for 15 eval '[ -n "$(first_ok_from $BETA_MAC $t0)" ]' ||
		fail "$mode: beta never answered on the VIP: $(tail -5 "$TMP/poll")"
	t1=$(first_ok_from $BETA_MAC "$t0")
	grep "^$t1 ok $BETA_MAC" "$TMP/poll" | grep -q " $page\$" ||
		fail "$mode: beta answered something else: $(grep "^$t1 " "$TMP/poll")"
	poll_stop
	promote=$(ls_on beta status | sed -n 's/^last promote: \([0-9]*\) ms.*/\1/p')
	note "$mode: failover $((t1 - t0)) ms from the loss to the page served by beta on the VIP (promote: ${promote:-?} ms to every container running)"
	echo "$mode $((t1 - t0)) ${promote:-}" >>"$TMP/times"
	if [ $mode = kill ]; then
		# Nothing on alpha would stop its container or drop the VIP:
		# beta's promote fences it over SSH.
		wait_for 10 eval '! running alpha && [ "$(vip_on)" = beta ]' ||
			fail "kill: alpha was not fenced (web running: $(running alpha && echo yes || echo no), vip on '$(vip_on)')"
		note "kill: beta's fence stopped web on alpha and took the VIP off it"
	fi

	restore_alpha $mode
	wait_for 30 standby_caught_up || fail "$mode: alpha did not come back as the standby: role $(role_of alpha)"
	wait_for 10 ka_state_is alpha BACKUP || fail "$mode: alpha's keepalived is not BACKUP"
	[ "$(vip_on)" = beta ] || fail "$mode: the VIP moved back to $(vip_on): nopreempt"

	# A planned switchover back to alpha: beta catches alpha up, stops
	# its container, and gives the address up.
	ls_on beta sync web --wait --timeout 30 >/dev/null || fail "$mode: failback sync failed"
	ls_on beta demote >/dev/null || fail "$mode: demote on beta failed"
	"$LAB" vrrp-stop beta >/dev/null
	wait_for 10 eval '[ "$(vip_on)" = alpha ] && running alpha' ||
		fail "$mode: alpha did not take over again (vip on '$(vip_on)')"
	[ "$("$LAB" client curl -s -m 2 "http://$VIP/index.html")" = "$page" ] ||
		fail "$mode: alpha does not serve the page after the switchover"
	vrrp_start beta
	wait_for 10 ka_state_is beta BACKUP || fail "$mode: beta did not return to BACKUP"
done
pass "failover times (ms): $(awk '{ printf "%s %s; ", $1, $2 }' "$TMP/times")"
