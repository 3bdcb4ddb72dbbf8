#!/usr/bin/env bash
# replicate_delta: a change of a few KiB inside a large file the twin
# already holds ships as a librsync delta against the twin's copy (the
# peer's BLAKE2 signature, then the delta), not the whole file; the
# result is byte for byte the primary's.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/replib.sh"

repl_setup
"$LAB" exec alpha podman run -d --name db localhost/layersync-test:latest \
	sleep 1000 >/dev/null || fail "cannot start the container"
"$LAB" exec alpha podman exec db sh -c 'mkdir /data; dd if=/dev/urandom of=/data/table bs=1M count=32 2>/dev/null' ||
	fail "workload"
daemon_start alpha
ls_on alpha add db >/dev/null || fail "add failed"
bytes() { ls_on alpha status --json | sed -n 's/.*"bytes":\([0-9]*\).*/\1/p'; }
before=$(bytes)
[ "$before" -ge 33554432 ] || fail "first sync shipped only $before bytes"
"$LAB" exec alpha podman exec db sh -c 'dd if=/dev/urandom of=/data/table bs=4k count=2 seek=4000 conv=notrunc 2>/dev/null;
	echo appended >> /data/table' || fail "change"
ls_on alpha sync db --wait --timeout 60 >/dev/null || fail "sync failed"
trees_equal db
shipped=$(( $(bytes) - before ))
note "an 8 KiB change and an append to a 32 MiB file shipped $shipped bytes"
[ "$shipped" -lt 1048576 ] || fail "the change shipped $shipped bytes: not a delta"
grep -q "batch .*: data/table delta" "$TMP/alpha.log" || fail "the log does not show a delta"
daemon_stop alpha
pass "delta of a small change: $shipped bytes for a 32 MiB file"
