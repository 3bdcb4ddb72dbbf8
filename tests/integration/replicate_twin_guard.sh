#!/usr/bin/env bash
# replicate_twin_guard: while the twin runs on beta (its overlay is
# mounted) the receiver refuses to change its upper layer, says so, and
# the primary keeps the changes; once the twin stops they arrive. Then
# `remove --purge` removes the stopped twin on beta.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/replib.sh"

repl_setup
"$LAB" exec alpha podman run -d --name web localhost/layersync-test:latest \
	sleep 1000 >/dev/null || fail "cannot start the container"
daemon_start alpha
ls_on alpha add web >/dev/null || fail "add failed"
"$LAB" exec beta podman start web >/dev/null || fail "cannot start the twin"
"$LAB" exec alpha podman exec web sh -c 'echo while-twin-runs > /f' || fail "write"
if ls_on alpha sync web --wait --timeout 5 >/dev/null 2>&1; then
	fail "a batch was applied under the running twin's overlay"
fi
# The refusal reaches status once the peer answered (it fsyncs: slow when
# the machine is busy).
wait_for 20 eval 'ls_on alpha status | grep -q "twin web is running on beta"' ||
	fail "status does not say why: $(ls_on alpha status | grep container)"
[ ! -e "$(upper beta web)/f" ] || fail "the file reached the running twin's upper layer"
"$LAB" exec beta podman stop -t 0 web >/dev/null || fail "cannot stop the twin"
ls_on alpha sync web --wait --timeout 30 >/dev/null || fail "no catch-up after the twin stopped"
trees_equal web
note "running twin refused, then caught up once stopped"

ls_on alpha sync web --wait --timeout 30 >/dev/null || fail "sync before remove failed"
ls_on alpha remove web --purge >"$TMP/rm.out" || fail "remove --purge failed: $(cat "$TMP/rm.out")"
# in step, nothing was outstanding about web: its session had no reason to go
grep 'session lost' "$TMP/alpha.log" | grep -v 'peer reported an error' &&
	fail "removing a container in step dropped the session"
if "$LAB" exec beta podman container exists web; then
	fail "the twin is still on beta after remove --purge"
fi
ls_on alpha status | grep -q "containers: none" || fail "web still listed after remove"

# A twin the peer refuses to create (a label with a newline): add fails
# with the reason and takes the container back, instead of retrying.
img=$("$LAB" exec alpha podman images -q | head -1)
"$LAB" exec alpha podman run -d --name oddlabel --label 'note=two
lines' "$img" sleep 1000 >/dev/null || fail "cannot run the oddlabel container"
if timeout 60 "$LAB" exec alpha "$LS" -c $TESTCONF add oddlabel >"$TMP/odd.out" 2>&1; then
	fail "add of a container whose twin is refused succeeded: $(cat "$TMP/odd.out")"
fi
grep -q "the twin cannot be created.*labels entry 1 holds a newline" "$TMP/odd.out" ||
	fail "add does not say why: $(tail -2 "$TMP/odd.out")"
ls_on alpha status | grep -q "container oddlabel" && fail "oddlabel is still replicated after the refused add"
note "a twin the peer refuses: add fails with '$(tail -1 "$TMP/odd.out" | cut -c1-100)'"
daemon_stop alpha
pass "the twin's overlay is never changed while it runs; purge removes it; a refused twin fails add"
