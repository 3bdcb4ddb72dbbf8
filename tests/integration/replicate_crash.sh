#!/usr/bin/env bash
# replicate_crash: kill -9 of the receiver, then of the sender, in the
# middle of a large batch. The twin never holds a torn file or part of
# a batch (every file of the interrupted batch is still old), and
# replication converges once the session is back or the daemon is
# restarted. The changes are made while the agent is stopped, so that
# its restart ships them all in one batch (a rescan): the one killed.
# The big file is a new one each time: a file the twin holds that only
# the rescan finds changed goes in the batch after, as a delta.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/replib.sh"

repl_setup
"$LAB" exec alpha podman run -d --name web localhost/layersync-test:latest \
	sleep 1000 >/dev/null || fail "cannot start the container"
"$LAB" exec alpha podman exec web sh -c 'mkdir /data; for i in $(seq 1 50); do echo old > /data/s$i; done' ||
	fail "workload"
daemon_start alpha
ls_on alpha add web >/dev/null || fail "add failed"
twin=$(upper beta web)
stage=$(dirname "$twin")/layersync-stage

# A batch large enough to catch in flight: 50 small files and 400 MB.
change() {
	"$LAB" exec alpha podman exec web sh -c "for i in \$(seq 1 50); do echo $1 > /data/s\$i; done;
		dd if=/dev/urandom of=/data/big-$1 bs=1M count=400 2>/dev/null" || fail "change $1"
}
# Wait until the receiver has staged part of the batch, then kill.
stage_busy() { [ -n "$("$LAB" exec beta find "$stage" -mindepth 1 -print -quit 2>/dev/null)" ]; }
all_old() {	# all_old WORD: every small file on the twin still says WORD
	for i in $(seq 1 50); do
		[ "$(cat "$twin/data/s$i")" = "$1" ] || return 1
	done
}

daemon_stop alpha
change new1
daemon_start alpha
wait_for 60 stage_busy || fail "never saw the batch in flight"
serve=$("$LAB" exec beta pgrep -f -- "serve --stdio") || fail "no receiver process on beta"
kill -9 $serve
note "killed the receiver (pid $serve) mid-batch"
all_old old || fail "the twin holds part of the interrupted batch"
[ ! -e "$twin/data/big-new1" ] || fail "the twin holds the big file of an uncommitted batch"
ls_on alpha sync web --wait --timeout 120 >/dev/null || fail "no convergence after the receiver died"
trees_equal web
all_old new1 || fail "the small files did not all arrive"
big1=$(sha256sum <"$twin/data/big-new1")
note "converged after the receiver was killed"

daemon_stop alpha
change new2
daemon_start alpha
wait_for 60 stage_busy || fail "never saw the second batch in flight"
kill -9 "$(cat "$TMP/alpha.pid")"
wait "$(cat "$TMP/alpha.pid")" 2>/dev/null
rm -f "$TMP/alpha.pid"
note "killed the sender mid-batch"
all_old new1 || fail "the twin holds part of the batch the sender died in"
[ "$(sha256sum <"$twin/data/big-new1")" = "$big1" ] ||
	fail "the big file on the twin is not its last committed version"
[ ! -e "$twin/data/big-new2" ] || fail "the twin holds the big file of the batch the sender died in"
daemon_start alpha
ls_on alpha sync web --wait --timeout 120 >/dev/null || fail "no convergence after the sender restarted"
trees_equal web
all_old new2 || fail "the small files did not all arrive after restart"
daemon_stop alpha
pass "kill -9 of either end left the twin at a whole batch; both converged"
