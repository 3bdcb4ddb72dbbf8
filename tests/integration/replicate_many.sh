#!/usr/bin/env bash
# replicate_many: several containers on one agent, written to at once,
# round after round; each change must reach its twin. A container whose
# change waited for an unrelated event (the ship went idle inside the
# loop's before_sleep, and nothing woke the loop again) would miss the
# bound: nothing else happens here. Writes go straight into the upper
# layers, for many rounds in little time.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/replib.sh"

N=3 ROUNDS=${ROUNDS:-150} BOUND=10
NAMES=
repl_setup
daemon_start alpha
daemon_start beta
for i in $(seq 1 $N); do
	c=many$i
	"$LAB" exec alpha podman run -d --name $c localhost/layersync-test:latest \
		sleep 100000 >/dev/null || fail "cannot run $c"
	NAMES="$NAMES $c"
	upper alpha $c >"$TMP/up.$c" || fail "no upperdir for $c"
	ls_on alpha add $c >/dev/null || fail "add $c failed"
	upper beta $c >"$TMP/tw.$c" || fail "no twin for $c"
done

for r in $(seq 1 $ROUNDS); do
	for c in $NAMES; do
		up=$(cat "$TMP/up.$c")
		mkdir "$up/r$r" || fail "cannot write into $c's layer"
		for f in a b c; do head -c 20000 /dev/urandom >"$up/r$r/$f"; done
		echo "$r" >"$up/r$r/marker"
	done
	for c in $NAMES; do
		wait_for $BOUND test -e "$(cat "$TMP/tw.$c")/r$r/marker" ||
			{ stuck_report; fail "$c: round $r not on beta after $BOUND s"; }
	done
done
for c in $NAMES; do
	ls_on alpha sync $c --wait --timeout 30 >/dev/null || fail "sync $c failed"
	trees_equal $c
done
daemon_stop alpha
daemon_stop beta
pass "$ROUNDS rounds of changes to $N containers at once, each on beta within $BOUND s"
