#!/usr/bin/env bash
# replicate_nofsync: `fsync = false` in the standby's config. strace on
# beta's receiver counts its fsync, fdatasync and syncfs calls, and the
# writeback it starts ahead of them (sync_file_range), while
# small files, an append and a new large file replicate: none with the
# setting, some without it (the count can fail both ways), and the twin
# equals the layer either way. The receiver warns of it, once a session.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/replib.sh"

command -v strace >/dev/null || fail "strace is missing (scripts/setup installs it)"
repl_setup
CONF=/etc/netns/beta/layersync/layersync.conf
cp "$CONF" "$TMP/beta.conf" || fail "cannot save beta's config"
on_exit "cp '$TMP/beta.conf' '$CONF'"
"$LAB" exec alpha podman run -d --name web localhost/layersync-test:latest \
	sleep 1000 >/dev/null || fail "cannot start the container"
"$LAB" exec alpha podman exec web sh -c 'mkdir /data &&
	dd if=/dev/urandom of=/data/big bs=1M count=4 2>/dev/null' || fail "cannot write /data/big"

receiver() { receivers beta; }
traced() { ! grep -q '^TracerPid:[[:space:]]*0$' "/proc/$1/status"; }

# flushes ROUND: replicate three batches with strace on beta's receiver;
# print how many flushes it made
flushes() {
	wait_for 10 eval '[ -n "$(receiver)" ]' || fail "$1: no receiver on beta"
	rpid=$(receiver)
	strace -qq -e trace=fsync,fdatasync,syncfs,sync_file_range -o "$TMP/strace.$1" -p "$rpid" &
	spid=$!
	wait_for 10 traced "$rpid" || fail "$1: strace did not attach to $rpid"
	"$LAB" exec alpha podman exec web sh -c "for i in \$(seq 1 20); do echo $1 \$i >/data/small\$i; done" ||
		fail "$1: small files"
	ls_on alpha sync web --wait --timeout 30 >/dev/null || fail "$1: sync after the small files"
	"$LAB" exec alpha podman exec web sh -c "head -c 65536 /dev/urandom >>/data/big" ||
		fail "$1: append"
	ls_on alpha sync web --wait --timeout 30 >/dev/null || fail "$1: sync after the append"
	"$LAB" exec alpha podman exec web sh -c "head -c 1048576 /dev/urandom >/data/new.$1" ||
		fail "$1: new file"
	ls_on alpha sync web --wait --timeout 30 >/dev/null || fail "$1: sync after the new file"
	kill "$spid"; wait "$spid" 2>/dev/null
	grep -cE '^(fsync|fdatasync|syncfs|sync_file_range)\(' "$TMP/strace.$1"
}

echo 'fsync = false;' >>"$CONF"
daemon_start alpha
ls_on alpha add web >/dev/null || fail "add failed"
off=$(flushes off)
trees_equal web
[ "$off" -eq 0 ] || fail "fsync = false, yet beta's receiver flushed $off times:
$(head -5 "$TMP/strace.off")"
warning='fsync = false: batches are committed without flushing'
[ "$(grep -c "$warning" "$TMP/alpha.log")" -eq 1 ] ||
	fail "the receiver's warning is not in alpha's log once: $(grep -c "$warning" "$TMP/alpha.log")"
daemon_stop alpha

cp "$TMP/beta.conf" "$CONF"
wait_for 10 eval '[ -z "$(receiver)" ]' || fail "the first receiver did not exit"
daemon_start alpha
on=$(flushes on)
trees_equal web
[ "$on" -ge 3 ] || fail "fsync on, yet beta's receiver flushed only $on times"
[ "$(grep -c "$warning" "$TMP/alpha.log")" -eq 1 ] || fail "the warning came again with fsync on"
daemon_stop alpha
pass "three batches: no flush with fsync = false, $on with the default"
