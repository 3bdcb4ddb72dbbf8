#!/bin/sh
# Stateful mode (CRIU). A busybox container keeps a counter in a shell
# variable (memory only) and writes it to /tmp/count every 100 ms. Added
# in stateful mode, it is checkpointed periodically, each checkpoint
# shipped to beta as deltas. Checks:
#  - add refuses stateful mode when `criu check` fails, saying why;
#  - stateful mode set in the configuration's containers list applies,
#    and an edit of it applies on SIGHUP;
#  - the second checkpoint of the idle service ships a small fraction of
#    the bytes of the first;
#  - after failover (alpha's link cut), beta restores the container from
#    its last checkpoint: the counter goes on from at least the value it
#    had at that checkpoint, never from zero.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/replib.sh"
. "$(dirname "$0")/vrrplib.sh"

vrrp_setup
counter_run
# A criu that fails 'criu check' (here: one that is not there): add
# refuses stateful mode and says why.
CONF=/etc/netns/alpha/layersync/test.conf
cp "$CONF" "$TMP/test.conf.good"
sed -i '/^criu_path/d' "$CONF"
echo 'criu_path = "/nonexistent/criu";' >>"$CONF"
kill -HUP "$(cat "$TMP/alpha.pid")"
sleep 1
if ls_on alpha add counter --mode=criu >"$TMP/bad.out" 2>&1; then
	fail "add --mode=criu succeeded with a criu that cannot run"
fi
grep -q "'/nonexistent/criu check' fails, so CRIU cannot checkpoint here" "$TMP/bad.out" ||
	fail "add does not say why: $(cat "$TMP/bad.out")"
ls_on alpha status | grep -q "container counter" && fail "counter is replicated after the refused add"
note "criu check failing: $(cut -c1-120 "$TMP/bad.out")"
# Stateful mode from the configuration's containers list this time;
# an edit of it applies on SIGHUP.
cp "$TMP/test.conf.good" "$CONF"
echo 'containers = ( { name = "counter"; mode = "criu"; checkpoint_interval_ms = 600000; } );' >>"$CONF"
kill -HUP "$(cat "$TMP/alpha.pid")"
sleep 1
ls_on alpha add counter >"$TMP/add.out" 2>&1 || fail "add (criu from the conf) failed: $(cat "$TMP/add.out")"
ls_on alpha status | grep -q "checkpoint (criu, every 600000 ms)" ||
	fail "counter is not in stateful mode from the conf: $(ls_on alpha status | grep -A1 'container counter')"
sed -i 's/checkpoint_interval_ms = 600000/checkpoint_interval_ms = 700000/' "$CONF"
kill -HUP "$(cat "$TMP/alpha.pid")"
wait_for 5 eval 'ls_on alpha status | grep -q "checkpoint (criu, every 700000 ms)"' ||
	fail "the interval edited in the conf did not apply on SIGHUP: $(ls_on alpha status | grep checkpoint)"

count_on() { "$LAB" exec "$1" podman exec counter cat /tmp/count 2>/dev/null; }
json_num() { ls_on alpha status --json | grep -o "\"$1\":[0-9.]*" | head -1 | cut -d: -f2; }

# The first checkpoint is taken as soon as the container is added.
wait_for 30 eval 'ls_on alpha status --json | grep -q "\"checkpoint_durable\":true"' ||
	fail "no first checkpoint on beta: $(ls_on alpha status | grep -A2 'container counter')"
first=$(json_num checkpoint_shipped_bytes)
size=$(json_num checkpoint_bytes)
note "first checkpoint: $size bytes, $first shipped"
ls_on alpha checkpoint counter >"$TMP/ck2" 2>&1 || fail "second checkpoint failed: $(cat "$TMP/ck2")"
second=$(json_num checkpoint_shipped_bytes)
note "second checkpoint: $(cat "$TMP/ck2")"
[ -n "$first" ] && [ "$first" -gt 0 ] || fail "the first checkpoint shipped '$first' bytes"
[ "$second" -lt $((first / 4)) ] ||
	fail "the second checkpoint shipped $second bytes, not a small fraction of the first ($first)"
ls_on beta status | grep -q "twin counter: checkpoint taken" ||
	fail "beta's status shows no checkpoint: $(ls_on beta status | grep counter)"

# The last checkpoint's value is at most what the counter shows now.
at_ckpt=$(count_on alpha)
ls_on alpha checkpoint counter >"$TMP/ck3" 2>&1 || fail "third checkpoint failed: $(cat "$TMP/ck3")"
sleep 1
before_cut=$(count_on alpha)
[ -n "$at_ckpt" ] && [ "$before_cut" -gt "$at_ckpt" ] || fail "the counter does not count on alpha ($at_ckpt, $before_cut)"

ip -n labnet link set v-alpha down
wait_for 20 eval '[ "$(vip_on)" = beta ]' || fail "the VIP did not move to beta"
wait_for 30 eval '[ -n "$(count_on beta)" ]' || fail "counter does not run on beta: $(ls_on beta status | grep -A3 'container counter')"
c1=$(count_on beta)
sleep 1
c2=$(count_on beta)
[ "$c1" -ge "$at_ckpt" ] || fail "beta's counter $c1 started below the checkpointed value $at_ckpt"
[ "$c2" -gt "$c1" ] || fail "beta's counter does not count ($c1, then $c2)"
ls_on beta status | grep -q "RESTORE FAILED" && fail "beta says the restore failed: $(ls_on beta status | grep RESTORE)"
grep -q "restored from its checkpoint" "$TMP/beta.log" || fail "beta's log does not say it restored"
restore=$(grep -o 'restore counter: [0-9]* ms: .*' "$TMP/beta.log" | tail -1)
note "beta: $restore"
daemon_stop beta	# under ASan, a leak fails the exit status
pass "checkpoints shipped $first then $second bytes (of $size); after failover beta's counter went on from $c1 (>= $at_ckpt at the checkpoint; $before_cut on alpha at the cut)"
