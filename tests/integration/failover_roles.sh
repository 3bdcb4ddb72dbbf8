#!/bin/sh
# promote and demote, called twice and in a race, end in a consistent
# state: a host is either the primary (role primary, the container
# running, replicated from here, no twin state) or the standby (role
# standby, the container stopped, a twin that receives). No keepalived
# here: the commands are called directly, as its notify would. A promote
# on one host fences the other.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/replib.sh"
. "$(dirname "$0")/vrrplib.sh"

repl_setup
daemon_start alpha
daemon_start beta
web_run

role_of() { ls_on "$1" status --json | grep -o '"role":"[a-z]*"' | cut -d'"' -f4; }
state=/var/lib/layersync-lab

# consistent HOST: print its role after checking that everything agrees.
consistent() {
	r=$(role_of "$1")
	if [ "$r" = primary ]; then
		running "$1" || fail "$1 is the primary but web does not run"
		[ -e "$state/$1/state/containers/web/peer" ] || fail "$1 is the primary but does not replicate web"
		[ ! -e "$state/$1/state/twins/web/gen" ] || fail "$1 is the primary but keeps twin state for web"
		ls_on "$1" check >/dev/null || fail "$1: check fails on a healthy primary"
	elif [ "$r" = standby ]; then
		! running "$1" || fail "$1 is the standby but web runs"
		[ ! -e "$state/$1/state/containers/web" ] || fail "$1 is the standby but replicates web"
		[ -e "$state/$1/state/twins/web/gen" ] || fail "$1 is the standby but has no twin state for web"
	else
		fail "$1 has no role: '$r'"
	fi
	echo "$r"
}

# Twice each, in turn: the second call must change nothing.
[ "$(consistent alpha)" = primary ] || fail "alpha does not start as the primary"
ls_on alpha promote >/dev/null || fail "promote on the primary failed"
[ "$(consistent alpha)" = primary ] || fail "a second promote changed alpha's role"
ls_on alpha demote >/dev/null || fail "demote failed"
ls_on alpha demote >/dev/null || fail "a second demote failed"
[ "$(consistent alpha)" = standby ] || fail "demote twice did not leave alpha the standby"
ls_on beta promote >/dev/null || fail "promote on beta failed"
ls_on beta promote >/dev/null || fail "a second promote on beta failed"
[ "$(consistent beta)" = primary ] || fail "beta is not the primary after promote twice"
ls_on beta sync web --wait --timeout 30 >/dev/null || fail "beta cannot sync to alpha"

# Races on one host: the requests run one at a time in arrival order,
# so the host ends in the role of the last one, whichever that was.
for round in 1 2 3; do
	ls_on beta demote >"$TMP/r1" 2>&1 &
	p1=$!
	ls_on beta promote >"$TMP/r2" 2>&1 &
	p2=$!
	ls_on beta demote >"$TMP/r3" 2>&1 &
	p3=$!
	ls_on beta promote >"$TMP/r4" 2>&1 &
	p4=$!
	for p in $p1 $p2 $p3 $p4; do wait $p || fail "round $round: a racing call failed: $(cat "$TMP"/r[1-4])"; done
	r=$(consistent beta)
	last=$(grep -o "\(promote\|demote\): beta is the [a-z]*" "$TMP/beta.log" | tail -n 1)
	[ "${last##* }" = "$r" ] || fail "round $round: beta is the $r, but the last request it ran says '$last'"
	note "round $round: beta ends as the $r, as its last request said"
done
ls_on beta promote >/dev/null || fail "promote on beta failed"
# A promote on the other host (after a partition, say) fences this one:
# beta stands down, as demote would, without anyone calling it there.
# A fence older than this host's own promote is refused instead: it may
# have been sent before it (senders give a fence up after 3 s).
sleep 5.5
ls_on alpha promote >/dev/null || fail "promote on alpha failed"
wait_for 20 eval '[ "$(role_of beta)" = standby ]' || fail "alpha's promote did not fence beta"
[ "$(consistent alpha)" = primary ] || fail "alpha is not the primary"
[ "$(consistent beta)" = standby ] || fail "beta is not the standby after the fence"
ls_on beta promote >/dev/null || fail "promote on beta failed"
wait_for 20 grep -q "fence: refused, this host was promoted" "$TMP/alpha.log" ||
	fail "alpha did not refuse the fence of a promote older than its own"
[ "$(consistent alpha)" = primary ] || fail "a stale fence demoted alpha"
[ "$(consistent beta)" = primary ] || fail "beta is not the primary"
ls_on beta demote >/dev/null || fail "demote on beta failed"
[ "$(consistent beta)" = standby ] || fail "beta is not the standby"
ls_on alpha sync web --wait --timeout 30 >/dev/null || fail "alpha does not sync to beta after the fence"
trees_equal web
pass "promote and demote twice and racing end consistent; a promote fences the other host, a stale fence is refused"
