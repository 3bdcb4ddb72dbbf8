#!/usr/bin/env bash
# daemon_partitioned: the peer stops answering (its link cut: no RST, no
# goodbye ever comes).
#  - A session idle or busy gives the silent peer up within about 10 s
#    (SSH_DEAD_PEER_MS), not TCP's many minutes; once the link is back a
#    new session ships what was written meanwhile.
#  - SIGTERM still stops the daemon at once and cleanly: exit 0 within
#    2 s, its SSH session freed whole (in the sanitizers build a leak
#    makes the exit status non-zero).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/replib.sh"

repl_setup
on_exit 'ip -n labnet link set v-alpha up 2>/dev/null || true'
"$LAB" exec alpha podman run -d --name web localhost/layersync-test:latest \
	httpd -f -p 8080 -h /var/www >/dev/null || fail "cannot start web on alpha"

daemon_start alpha
daemon_start beta
wait_for 10 grep -q 'peer beta: session up' "$TMP/alpha.log" ||
	fail "alpha: no session to beta: $(tail -5 "$TMP/alpha.log")"
ls_on alpha add web >/dev/null || fail "add failed"
trees_equal web

# Cut while a write is in flight: its batch waits for an answer.
ip -n labnet link set v-alpha down
"$LAB" exec alpha podman exec web sh -c 'head -c 2000000 /dev/urandom > /var/www/during-cut' ||
	fail "workload"
t0=$(date +%s%3N)
wait_for 30 grep -q 'peer beta: session lost' "$TMP/alpha.log" ||
	fail "alpha kept its session to a silent beta for 30 s"
lost_ms=$(( $(date +%s%3N) - t0 ))
[ "$lost_ms" -le 15000 ] || fail "alpha took $lost_ms ms to give up a silent beta"
note "alpha gave up the silent peer after $lost_ms ms: $(grep -m1 'peer beta: session lost' "$TMP/alpha.log" | cut -c1-160)"
ip -n labnet link set v-alpha up
ls_on alpha sync web --wait --timeout 30 >/dev/null || fail "no sync once the link is back"
trees_equal web

ip -n labnet link set v-alpha down
t0=$(date +%s%3N)
daemon_stop alpha
ms=$(( $(date +%s%3N) - t0 ))
[ "$ms" -le 2000 ] || fail "alpha took $ms ms to stop with its peer unreachable"
note "alpha stopped in $ms ms with its link cut"
ip -n labnet link set v-alpha up

daemon_stop beta
pass "a silent peer is given up in $lost_ms ms and the next session repairs; SIGTERM with the link cut stops in $ms ms, exit 0, nothing leaked"
