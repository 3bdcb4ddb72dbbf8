#!/bin/sh
# Stateful mode: a restore that fails on promote falls back to the twin.
# A counter container is added in stateful mode and its checkpoint
# reaches beta; beta's agent then runs with a `tar` that always fails
# first on its PATH, so packing the checkpoint for `podman container
# restore --import` fails (the pack runs while the twin is renamed
# aside). After failover (alpha's link cut) beta must say RESTORE FAILED
# (its log with tar's own message), give the twin its name back and start it cold
# from the replicated layer: the service runs, under its name, and no
# twin is left set aside.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/replib.sh"
. "$(dirname "$0")/vrrplib.sh"

vrrp_setup
counter_run
ls_on alpha add counter --mode=criu --checkpoint-interval=600000 >"$TMP/add.out" 2>&1 ||
	fail "add --mode=criu failed: $(cat "$TMP/add.out")"
wait_for 30 eval 'ls_on alpha status --json | grep -q "\"checkpoint_durable\":true"' ||
	fail "no first checkpoint on beta: $(ls_on alpha status | grep -A2 'container counter')"

# beta's agent again, with the failing tar first on its PATH (its
# restore child inherits it; the receivers sshd starts do not)
mkdir -p "$TMP/bin"
printf '#!/bin/sh\necho "tar: made to fail by %s" >&2\nexit 2\n' "$TEST" >"$TMP/bin/tar"
chmod +x "$TMP/bin/tar"
daemon_stop beta
daemon_start beta PATH="$TMP/bin:$PATH"

ip -n labnet link set v-alpha down
wait_for 20 eval '[ "$(vip_on)" = beta ]' || fail "the VIP did not move to beta"
wait_for 30 eval 'ls_on beta status | grep -q "RESTORE FAILED"' ||
	fail "beta does not say the restore failed: $(ls_on beta status | grep -A3 'counter')"
grep "restore counter: " "$TMP/beta.log" | grep -q "tar -c .*exit 2: tar: made to fail by $TEST" ||
	fail "beta's log does not give tar's message: $(grep 'restore counter' "$TMP/beta.log")"
wait_for 30 eval '[ "$("$LAB" exec beta podman container inspect --format "{{.State.Running}}" counter 2>/dev/null)" = true ]' ||
	fail "the twin was not started cold under its name: $("$LAB" exec beta podman ps -a --format '{{.Names}} {{.Status}}')"
"$LAB" exec beta podman container exists counter.layersync-twin &&
	fail "a twin set aside is left on beta: $("$LAB" exec beta podman ps -a --format '{{.Names}}')"
grep -q "started cold from the replicated layer" "$TMP/beta.log" ||
	fail "beta's log does not say it started the twin cold"
note "beta: $(ls_on beta status | grep 'RESTORE FAILED' | head -1 | cut -c1-200)"
daemon_stop beta	# under ASan, a leak fails the exit status
pass "a failed pack on promote: RESTORE FAILED with tar's message, the twin started cold under its name"
