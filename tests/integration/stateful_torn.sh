#!/bin/sh
# Stateful mode: a half-shipped checkpoint never becomes the current one.
# A container holds a small counter; its first checkpoint reaches beta.
# Then it grows to ~250 MB of memory and a checkpoint is asked for; while
# that one streams to beta, the sender (alpha's agent) is killed with -9.
# beta's checkpoint must still be the first one, every file of it, and
# must restore; once alpha's agent is back, the next checkpoint arrives
# whole (beta's tree equals alpha's). A checkpoint that streams in while
# beta's twin lock is taken (as a promote takes it) commits only after.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/replib.sh"

repl_setup
daemon_start alpha
daemon_start beta
img=$("$LAB" exec alpha podman images -q | head -1)
# One line: the twin's command travels in the TWIN frame (no newlines).
"$LAB" exec alpha podman run -d --name counter --network none "$img" sh -c \
	'i=0; while :; do i=$((i+1)); echo $i >/tmp/count; if [ -e /tmp/grow ] && [ -z "$big" ]; then big=$(head -c 180000000 /dev/urandom | base64); echo grown >/tmp/grown; fi; if [ -e /tmp/regrow ] && [ ! -e /tmp/regrown ]; then big=$(head -c 180000000 /dev/urandom | base64); echo regrown >/tmp/regrown; fi; sleep 0.1; done' \
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

# A promote holds the twin's lock while it restores from the checkpoint
# tree: a checkpoint streaming in then must wait for it to commit, not
# commit beneath it. New memory makes the next checkpoint stream for a
# while; the lock is taken as a promote would, mid-stream.
"$LAB" exec alpha podman exec counter touch /tmp/regrow
wait_for 60 eval '"$LAB" exec alpha podman exec counter test -e /tmp/regrown' || fail "the counter did not regrow"
ls_on alpha checkpoint counter >"$TMP/ck3" 2>&1 &
ck3=$!
wait_for 120 staged || fail "the third checkpoint never reached beta's stage: $(cat "$TMP/ck3")"
exec 9>"/var/lib/layersync-lab/beta/state/twins/counter/lock"
flock -x 9 || fail "cannot take beta's twin lock"
held_mb=$(du -sm "$STAGE" | cut -f1)
sleep 8
"$TOP/tests/integration/treelist" "$BTREE" >"$TMP/held" || fail "cannot list beta's checkpoint"
diff "$TMP/beta.tree" "$TMP/held" >/dev/null ||
	fail "a checkpoint was committed on beta while its twin's lock was held ($held_mb MB staged when taken)"
kill -0 "$ck3" 2>/dev/null || fail "the checkpoint was acknowledged while beta's twin lock was held: $(cat "$TMP/ck3")"
exec 9>&-
wait "$ck3" || fail "the checkpoint failed once beta's twin lock was released: $(cat "$TMP/ck3")"
"$TOP/tests/integration/treelist" "$ATREE" >"$TMP/alpha.tree" || fail "cannot list alpha's checkpoint"
"$TOP/tests/integration/treelist" "$BTREE" >"$TMP/beta.tree" || fail "cannot list beta's checkpoint"
diff "$TMP/alpha.tree" "$TMP/beta.tree" >/dev/null || fail "once the lock was released beta's checkpoint is not alpha's"
note "a checkpoint streaming in ($held_mb MB staged) waited 8 s for beta's twin lock, then committed: $(cat "$TMP/ck3")"

daemon_stop alpha	# under ASan, a leak fails the exit status
daemon_stop beta
[ "$size" -gt 100000000 ] || fail "the checkpoint after the restart is only $size bytes"
pass "a checkpoint cut off at $staged_mb MB never became current on beta; the next one ($((size / 1048576)) MB) arrived whole: $(cat "$TMP/ck2")"
