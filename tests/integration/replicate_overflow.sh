#!/usr/bin/env bash
# replicate_overflow: with a tiny inotify queue, a burst overflows it;
# the overflow is counted, the container rescanned, and the twin still
# converges to the primary's tree.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/replib.sh"

repl_setup
q=/proc/sys/fs/inotify/max_queued_events
saved=$(cat $q) || fail "cannot read $q"
on_exit "echo $saved > $q"
"$LAB" exec alpha podman run -d --name web localhost/layersync-test:latest \
	sleep 1000 >/dev/null || fail "cannot start the container"
# The queue size is fixed when the inotify instance is made: shrink it
# only while the daemon starts, then give the machine its value back.
echo 32 >$q || fail "cannot set $q"
daemon_start alpha
echo "$saved" >$q
ls_on alpha add web >/dev/null || fail "add failed"
"$LAB" exec alpha podman exec web sh -c 'mkdir /data; for d in 1 2 3 4; do mkdir /data/d$d;
	for i in $(seq 1 400); do echo $i > /data/d$d/f$i; done; done' || fail "burst"
ls_on alpha sync web --wait --timeout 60 >/dev/null || fail "sync after the burst failed"
trees_equal web
json=$(ls_on alpha status --json)
overflows=$(sed -n 's/.*"overflows":\([0-9]*\).*/\1/p' <<<"$json")
rescans=$(sed -n 's/.*"rescans":\([0-9]*\).*/\1/p' <<<"$json")
[ "${overflows:-0}" -ge 1 ] || fail "no overflow counted: $json"
[ "${rescans:-0}" -ge 1 ] || fail "no rescan counted: $json"
grep -q "overflow" "$TMP/alpha.log" || fail "the overflow was not logged"
daemon_stop alpha
pass "$overflows overflows, $rescans rescans; the burst converged"
