#!/usr/bin/env bash
# daemon_stalled: beta's receiver stops (SIGSTOP) with a batch on its
# way. Alpha's session moves no byte for stall_timeout_ms (2 s here):
# alpha says so, drops the session and builds a new one, which ships the
# batch again and the next. Then the stopped receiver resumes, with the
# old batch and its COMMIT still in its input: it must refuse to commit
# it over the newer data, so the twin ends equal to the layer.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/replib.sh"

repl_setup
echo 'stall_timeout_ms = 2000;' >>/etc/netns/alpha/layersync/test.conf
daemon_start alpha
daemon_start beta
"$LAB" exec alpha podman run -d --name web localhost/layersync-test:latest \
	sleep 1000 >/dev/null || fail "cannot start the container"
ls_on alpha add web >/dev/null || fail "add failed"
wait_for 10 eval '[ -n "$(receivers beta)" ]' || fail "no receiver on beta"
old=$(receivers beta)
[ "$(echo "$old" | wc -w)" -eq 1 ] || fail "more than one receiver on beta: $old"
on_exit "kill -CONT $old 2>/dev/null"

kill -STOP "$old"
"$LAB" exec alpha podman exec web sh -c 'echo v1 >/page' || fail "cannot write v1"
# until then, status says what the session waits for
wait_for 5 eval 'ls_on alpha status | grep -q "^session with beta: awaiting ack (container web, batch [0-9]*), nothing moved for [0-9]* ms; "' ||
	fail "status does not say what the session waits for: $(ls_on alpha status | grep session)"
# the warning comes first, then the drop: wait for the second
wait_for 15 grep -q 'session lost (stalled)' "$TMP/alpha.log" ||
	fail "alpha did not drop the stalled session: $(tail -5 "$TMP/alpha.log")"
grep -q 'stalled: awaiting ack (container web, batch [0-9]*), nothing moved for [0-9]* ms' "$TMP/alpha.log" ||
	fail "alpha did not say what the session waited for: $(tail -5 "$TMP/alpha.log")"
ls_on alpha sync web --wait --timeout 30 >/dev/null || fail "no sync after the stall"
"$LAB" exec alpha podman exec web sh -c 'echo v2 >/page' || fail "cannot write v2"
ls_on alpha sync web --wait --timeout 30 >/dev/null || fail "no sync of v2"
trees_equal web

# The old receiver now reads v1's batch and its COMMIT, then the end.
kill -CONT "$old"
wait_for 10 eval '! kill -0 '"$old"' 2>/dev/null' || fail "the old receiver did not exit"
trees_equal web
[ "$("$LAB" exec beta cat "$(upper beta web)/page")" = v2 ] ||
	fail "beta's twin does not hold v2"
daemon_stop alpha
daemon_stop beta
pass "a stalled session dropped and rebuilt; the stale receiver's batch refused"
