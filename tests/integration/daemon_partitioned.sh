#!/usr/bin/env bash
# daemon_partitioned: a daemon whose peer stops answering (its link cut,
# no RST: the peer's sshd never says goodbye) still stops at once and
# cleanly on SIGTERM: exit 0 within 2 s, its SSH session freed whole
# (in the sanitizers build a leak makes the exit status non-zero).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/replib.sh"

repl_setup
on_exit 'ip -n labnet link set v-alpha up 2>/dev/null || true'

daemon_start alpha
daemon_start beta
wait_for 10 grep -q 'peer beta: session up' "$TMP/alpha.log" ||
	fail "alpha: no session to beta: $(tail -5 "$TMP/alpha.log")"

ip -n labnet link set v-alpha down
t0=$(date +%s%3N)
daemon_stop alpha
ms=$(( $(date +%s%3N) - t0 ))
[ "$ms" -le 2000 ] || fail "alpha took $ms ms to stop with its peer unreachable"
note "alpha stopped in $ms ms with its link cut"
ip -n labnet link set v-alpha up

daemon_stop beta
pass "a daemon whose peer went silent stops in $ms ms, exit 0, nothing leaked"
