#!/usr/bin/env bash
# replicate_image: `add` of a container whose image the peer lacks ships
# the image over the same SSH session (save on alpha, load on beta),
# keeps its image ID, creates the twin from it and replicates.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/replib.sh"

repl_setup
"$LAB" exec alpha podman run --name base localhost/layersync-test:latest \
	sh -c 'echo baked > /baked' >/dev/null || fail "cannot make the base"
"$LAB" exec alpha podman commit -q base localhost/alpha-only:1 >/dev/null || fail "commit"
on_exit "'$LAB' exec alpha podman rmi -f localhost/alpha-only:1 >/dev/null 2>&1; '$LAB' exec beta podman rmi -f localhost/alpha-only:1 >/dev/null 2>&1"
id=$("$LAB" exec alpha podman image inspect --format '{{.Id}}' localhost/alpha-only:1) || fail "no image id"
if "$LAB" exec beta podman image inspect "$id" >/dev/null 2>&1; then
	fail "beta already has the image: the test would prove nothing"
fi
"$LAB" exec alpha podman run -d --name app localhost/alpha-only:1 sleep 1000 >/dev/null ||
	fail "cannot run app"
"$LAB" exec alpha podman exec app sh -c 'echo data > /written' || fail "write"
daemon_start alpha
ls_on alpha add app >"$TMP/add.out" || fail "add failed: $(cat "$TMP/add.out"; tail -5 "$TMP/alpha.log")"
grep -q "image .* is missing there, shipping it" "$TMP/alpha.log" || fail "no image shipping in the log"
twin_image=$("$LAB" exec beta podman container inspect --format '{{.Image}}' app) || fail "no twin on beta"
[ "$twin_image" = "$id" ] || fail "twin image $twin_image, want $id"
trees_equal app
"$LAB" exec beta podman start app >/dev/null || fail "the twin does not start"
[ "$("$LAB" exec beta podman exec app cat /baked /written)" = "baked
data" ] || fail "the twin lacks the image's or the layer's content"
"$LAB" exec beta podman stop -t 0 app >/dev/null
daemon_stop alpha
pass "the missing image was shipped with its ID; the twin runs with both layers"
