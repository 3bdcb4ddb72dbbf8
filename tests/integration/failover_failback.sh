#!/bin/sh
# Failback. Alpha is cut off holding a change it never shipped; beta takes
# over and the service is written to there; alpha returns. Alpha must end
# as the BACKUP whose stopped container holds exactly beta's layer (its
# own unshipped change undone), shipped as deltas against its stale copy
# rather than whole; and no sample, taken continuously on both hosts
# through all of it, may see the container running on both.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/replib.sh"
. "$(dirname "$0")/vrrplib.sh"

vrrp_setup
"$LAB" exec alpha podman exec web sh -c \
	'dd if=/dev/urandom of=/www/big bs=1M count=4 2>/dev/null && echo before >/www/index.html' ||
	fail "cannot write in web"
ls_on alpha sync web --wait --timeout 20 >/dev/null || fail "first sync failed"
sample_start
wait_for 5 eval '[ "$(wc -l <"$TMP/sample")" -ge 2 ]' || fail "the sampler does not run"

# A change alpha's agent never ships: it is paused while the container
# writes and the link goes down, and resumes to find the peer gone.
# Among it, 8 KiB of the 4 MiB file: the failback must undo them by
# a patch against alpha's copy, not by sending the file again. The
# pause ends as the link goes down: a cut-off host fences itself (its
# keepalived enters FAULT and the agent demotes it) before the standby
# takes over, but a frozen agent cannot, and the sampler below would
# see the service on both (README: an unreachable host is not fenced).
apid=$(cat "$TMP/alpha.pid")
kill -STOP "$apid"
"$LAB" exec alpha podman exec web sh -c 'echo diverged >/www/only-alpha; echo alpha-late >/www/index.html
	dd if=/dev/urandom of=/www/big bs=8k count=1 seek=300 conv=notrunc 2>/dev/null' ||
	{ kill -CONT "$apid"; fail "cannot write the unshipped change"; }
ip -n labnet link set v-alpha down
kill -CONT "$apid"

wait_for 15 eval '[ "$(vip_on)" = beta ] && running beta' || fail "beta did not take over"
[ "$("$LAB" client curl -s -m 2 "http://$VIP/index.html")" = before ] ||
	fail "beta does not serve the last shipped page"

# The service goes on, on beta: a new page, a new file, 8 KiB changed
# in the middle of the 4 MiB one.
"$LAB" exec beta podman exec web sh -c 'echo from-beta >/www/index.html; echo new >/www/beta-file;
	dd if=/dev/urandom of=/www/big bs=8k count=1 seek=100 conv=notrunc 2>/dev/null' ||
	fail "cannot write on beta"
bytes() { ls_on beta status --json | sed 's/.*"bytes":\([0-9]*\).*/\1/'; }
b0=$(bytes)

ip -n labnet link set v-alpha up
wait_for 30 eval '[ "$(ls_on alpha status --json | grep -o "\"role\":\"[a-z]*\"")" = "\"role\":\"standby\"" ]' ||
	fail "alpha is not the standby"
wait_for 10 ka_state_is alpha BACKUP || fail "alpha's keepalived is not BACKUP"
ls_on beta sync web --wait --timeout 60 >/dev/null || fail "the failback sync failed"
shipped=$(( $(bytes) - b0 ))
sample_stop

[ "$(vip_on)" = beta ] || fail "the VIP went back to $(vip_on): nopreempt"
! running alpha || fail "web runs on alpha, the standby"
trees_equal web
up=$(upper alpha web)
[ "$("$LAB" exec alpha cat "$up/www/index.html")" = from-beta ] || fail "alpha's twin lacks beta's page"
! "$LAB" exec alpha test -e "$up/www/only-alpha" || fail "alpha's unshipped file survived the failback"
[ "$shipped" -lt 1048576 ] || fail "the failback shipped $shipped bytes: the 4 MiB file went whole"
pass "alpha is the BACKUP holding beta's layer; failback shipped $shipped bytes for 8 KiB changed on each side of a 4 MiB file, a new page and a new file"
