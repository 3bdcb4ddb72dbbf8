#!/bin/sh
# Stateful mode: a half-shipped checkpoint never becomes the current one.
# A container holds a small counter; its first checkpoint reaches beta.
# Then it grows to ~250 MB of memory and a checkpoint is asked for; while
# that one streams to beta, the sender (alpha's agent) is killed with -9.
# beta's checkpoint must still be the first one, every file of it, and
# must restore; once alpha's agent is back, the next checkpoint arrives
# whole (beta's tree equals alpha's).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/replib.sh"

repl_setup
daemon_start alpha
daemon_start beta
img=$("$LAB" exec alpha podman images -q | head -1)
# One line: the twin's command travels in the TWIN frame (no newlines).
"$LAB" exec alpha podman run -d --name counter --network none "$img" sh -c \
	'i=0; while :; do i=$((i+1)); echo $i >/tmp/count; if [ -e /tmp/grow ] && [ -z "$big" ]; then big=$(head -c 180000000 /dev/urandom | base64); echo grown >/tmp/grown; fi; sleep 0.1; done' \
	>/dev/null || fail "cannot run the counter container"
timeout 60 "$LAB" exec alpha "$LS" -c $TESTCONF add counter --mode=criu --checkpoint-interval=600000 >"$TMP/add.out" 2>&1 ||
	fail "add --mode=criu failed: $(cat "$TMP/add.out")"
wait_for 30 eval 'ls_on alpha status --json | grep -q "\"checkpoint_durable\":true"' ||
	fail "no first checkpoint on beta"

BTREE=/var/lib/layersync-lab/beta/state/twins/counter/ckpt/tree
ATREE=/var/lib/layersync-lab/alpha/state/containers/counter/ckpt/tree
STAGE=/var/lib/layersync-lab/beta/state/twins/counter/ckpt/layersync-stage
"$TOP/tests/integration/treelist" "$BTREE" >"$TMP/first" || fail "cannot list beta's checkpoint"
grep -q 'pages-1.img' "$TMP/first" || fail "beta's checkpoint has no memory pages: $(head -5 "$TMP/first")"

"$LAB" exec alpha podman exec counter touch /tmp/grow
wait_for 60 eval '"$LAB" exec alpha podman exec counter test -e /tmp/grown' || fail "the counter did not grow"
ls_on alpha checkpoint counter >"$TMP/ck" 2>&1 &
staged() { [ "$(du -sm "$STAGE" 2>/dev/null | cut -f1)" -ge 20 ]; }
wait_for 120 staged || fail "the big checkpoint never reached beta's stage: $(cat "$TMP/ck")"
staged_mb=$(du -sm "$STAGE" | cut -f1)
kill -KILL "$(cat "$TMP/alpha.pid")"
sleep 1
"$TOP/tests/integration/treelist" "$BTREE" >"$TMP/after" || fail "cannot list beta's checkpoint after the kill"
diff "$TMP/first" "$TMP/after" >"$TMP/diff" ||
	fail "beta's current checkpoint changed though the new one was cut off ($staged_mb MB staged):
$(head -20 "$TMP/diff")"
note "sender killed with $staged_mb MB of the new checkpoint staged on beta; beta's checkpoint is still the first, whole"

# The agent comes back: the next checkpoint lands whole.
rm -f "$TMP/alpha.pid"
daemon_start alpha
ls_on alpha checkpoint counter >"$TMP/ck2" 2>&1 || fail "checkpoint after the restart failed: $(cat "$TMP/ck2")"
"$TOP/tests/integration/treelist" "$ATREE" >"$TMP/alpha.tree" || fail "cannot list alpha's checkpoint"
"$TOP/tests/integration/treelist" "$BTREE" >"$TMP/beta.tree" || fail "cannot list beta's checkpoint"
diff "$TMP/alpha.tree" "$TMP/beta.tree" >"$TMP/diff2" ||
	fail "after the restart beta's checkpoint is not alpha's: $(head -20 "$TMP/diff2")"
[ -z "$(ls -A "$STAGE" 2>/dev/null)" ] || fail "beta's stage still holds $(ls "$STAGE" | wc -l) entries"
size=$(ls_on alpha status --json | grep -o '"checkpoint_bytes":[0-9]*' | cut -d: -f2)
daemon_stop alpha	# under ASan, a leak fails the exit status
daemon_stop beta
[ "$size" -gt 100000000 ] || fail "the checkpoint after the restart is only $size bytes"
pass "a checkpoint cut off at $staged_mb MB never became current on beta; the next one ($((size / 1048576)) MB) arrived whole: $(cat "$TMP/ck2")"
