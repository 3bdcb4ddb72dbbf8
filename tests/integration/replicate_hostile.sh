#!/usr/bin/env bash
# replicate_hostile: a container that keeps swapping directories and
# files for symlinks to host paths, racing both agents, cannot make the
# primary read a host file or the standby write one. Canaries: a host
# directory with a secret file that nobody may read into the twin, and
# that must not change; then, once the container stops racing, the
# twin converges to the primary's tree.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/replib.sh"

repl_setup
canary=/tmp/layersync-canary.$$
mkdir -p "$canary/dir" || fail "canary"
echo "CANARY-SECRET-$$" >"$canary/secret"
echo "CANARY-SECRET-$$" >"$canary/dir/inner"
on_exit "rm -rf $canary"
before=$(cd "$canary" && find . -printf '%p %s %T@\n' | sort)

"$LAB" exec alpha podman run -d --name evil localhost/layersync-test:latest \
	sleep 1000 >/dev/null || fail "cannot start the container"
daemon_start alpha
ls_on alpha add evil >/dev/null || fail "add failed"

# The race: each name is a real dir or file one instant, a symlink to
# the host's canary (an absolute path, so it points into the host when
# read from outside the container) the next.
race='cd /tmp; i=0; while [ $i -lt 300 ]; do
	rm -rf x; mkdir x; echo data$i > x/f
	rm -rf x; ln -s '"$canary"' x
	rm -rf y; echo plain > y; rm -f y; ln -s '"$canary"'/secret y
	rm -rf z; mkdir -p z/d; rm -rf z/d; ln -s '"$canary"'/dir z/d; echo w > z/e
	i=$((i+1)); done'
"$LAB" exec alpha podman exec evil sh -c "$race" &
racer=$!
for _ in $(seq 1 20); do
	ls_on alpha sync evil --wait --timeout 20 >/dev/null 2>&1 ||
		fail "sync failed during the race: $(tail -3 "$TMP/alpha.log")"
done
wait $racer || fail "the racing workload failed"
ls_on alpha sync evil --wait --timeout 30 >/dev/null || fail "final sync failed"

after=$(cd "$canary" && find . -printf '%p %s %T@\n' | sort)
[ "$before" = "$after" ] || fail "the canary dir changed:
$before
---
$after"
twin=$(upper beta evil)
if grep -rqs "CANARY-SECRET-$$" "$twin"; then
	fail "canary content was read into the twin: $(grep -rls "CANARY-SECRET-$$" "$twin")"
fi
trees_equal evil
daemon_stop alpha
pass "symlink races touched no host file on either side; the twin converged"
