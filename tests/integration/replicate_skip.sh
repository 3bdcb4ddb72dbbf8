#!/usr/bin/env bash
# replicate_skip: a path the twin cannot take (here a directory of its
# upper layer has something mounted over it, so nothing beneath resolves)
# is skipped by the receiver, which says why, and shipped again by the
# primary: at once the first time (the usual cause is a race that is
# gone by then), then with a doubling wait, not in a tight loop; and
# `sync --wait` never reports the twin in step while a path is missing.
# Once the twin can take it, the path arrives.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/replib.sh"

repl_setup
"$LAB" exec alpha podman run -d --name web localhost/layersync-test:latest \
	sh -c 'mkdir -p /data && echo first >/data/f && exec sleep 1000' >/dev/null ||
	fail "cannot start the container"
daemon_start alpha
wait_for 10 "$LAB" exec alpha podman exec web test -f /data/f || fail "the container did not write /data/f"
ls_on alpha add web >/dev/null || fail "add failed"
ls_on alpha sync web --wait --timeout 20 >/dev/null || fail "first sync failed"

up=$(upper beta web)
"$LAB" exec beta mount -t tmpfs -o size=1m lsskip "$up/data" || fail "cannot mount over the twin's data"
on_exit "'$LAB' exec beta umount '$up/data' 2>/dev/null"
"$LAB" exec alpha podman exec web sh -c 'echo second >/data/g' || fail "cannot write /data/g"
if ls_on alpha sync web --wait --timeout 6 >"$TMP/sync.out" 2>&1; then
	fail "sync --wait says in step while the twin cannot take data/g: $(cat "$TMP/sync.out")"
fi
grep -q 'data/g did not fit the tree (.*crosses a mount point)' "$TMP/alpha.log" ||
	fail "the receiver's log does not say why: $(grep 'did not fit' "$TMP/alpha.log" | tail -1)"
grep -q 'the peer skipped 1 path (data/g) in [0-9]* batches in a row' "$TMP/alpha.log" ||
	fail "the primary does not warn of the repeated skip: $(tail -3 "$TMP/alpha.log")"
ls_on alpha status | grep -q 'the peer skipped 1 path (data/g)' ||
	fail "status does not show the skip: $(ls_on alpha status | grep -A3 'container web')"
# With its wait doubling from 100 ms, six seconds hold about seven
# batches; a tight loop makes hundreds.
n=$(grep -c 'peer skipped data/g, shipping it again' "$TMP/alpha.log")
[ "$n" -ge 3 ] && [ "$n" -le 15 ] || fail "data/g was shipped again $n times in about 6 s"

"$LAB" exec beta umount "$up/data" || fail "cannot unmount the twin's data"
ls_on alpha sync web --wait --timeout 30 >/dev/null || fail "no catch-up once the twin could take data/g"
[ "$("$LAB" exec beta cat "$up/data/g")" = second ] || fail "data/g did not arrive"
trees_equal web
ls_on alpha status | grep -q 'the peer skipped' && fail "status still shows the skip once it landed"
daemon_stop alpha
pass "a path the twin could not take was shipped again $n times in 6 s, sync --wait waited for it, and it landed once it fit"
