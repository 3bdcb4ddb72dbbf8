#!/usr/bin/env bash
# replicate_delta: a change of a few KiB inside a large file the twin
# already holds ships as the blocks that changed (PATCH: the twin's
# block sums compared with ours block for block), written in place on
# the twin; when bytes moved (an insertion near the start), most blocks
# differ, and the primary asks for a signature: a librsync delta against
# the twin's copy. Neither sends the whole file, and the result is byte
# for byte the primary's. A file that only grew ships its new tail alone
# (APPEND), once the twin's digest of what it holds matches ours; one
# that grew and changed inside is found out by the digests and asks for
# block sums: a patch. A changed copy renamed over the file ships against
# the file it replaced.
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
# change WHAT SCRIPT: run SCRIPT in db, sync, compare the trees; the bytes
# that shipped into $shipped
change() {
	_b=$(bytes)
	"$LAB" exec alpha podman exec db sh -c "$2" || fail "$1"
	ls_on alpha sync db --wait --timeout 60 >/dev/null || fail "sync after $1 failed"
	trees_equal db
	shipped=$(( $(bytes) - _b ))
}
[ "$(bytes)" -ge 33554432 ] || fail "first sync shipped only $(bytes) bytes"
ino_before=$(stat -c %i "$(upper beta db)/data/table")

change "a change" 'dd if=/dev/urandom of=/data/table bs=4k count=2 seek=4000 conv=notrunc 2>/dev/null;
	echo appended >> /data/table'
note "an 8 KiB change and an append to a 32 MiB file shipped $shipped bytes"
[ "$shipped" -lt 65536 ] || fail "the change shipped $shipped bytes: not the changed blocks"
grep -q "batch .*: data/table patch" "$TMP/alpha.log" || fail "the log does not show a patch"
patched=$shipped

# one write that changes the last 4 KiB and adds 4 KiB: it grew, but the
# digests tell the twin's bytes changed too, and it asks for block sums:
# the changed block and the new one ship in place
change "grow and change" 'dd if=/dev/urandom of=/data/table bs=4k count=2 seek=8191 conv=notrunc 2>/dev/null'
[ "$shipped" -lt 65536 ] || fail "growing and changing shipped $shipped bytes: not a patch"
grep -q "batch .*: data/table did not only grow: asking for block sums" "$TMP/alpha.log" ||
	fail "the grown and changed file was not checked as an append first"
grown=$shipped

# a change in place alone: we summed our file while the twin summed its
change "a change in place" 'dd if=/dev/urandom of=/data/table bs=4k count=1 seek=100 conv=notrunc 2>/dev/null'
[ "$shipped" -lt 32768 ] || fail "a 4 KiB change in place shipped $shipped bytes"
grep -q "batch .*: data/table: .* bytes differ in place (summed ahead)" "$TMP/alpha.log" ||
	fail "the primary did not sum its file while the twin summed its own"
inplace=$shipped
[ "$(stat -c %i "$(upper beta db)/data/table")" = "$ino_before" ] ||
	fail "the twin's file was replaced, not patched in place"

# a save the safe way: a changed copy renamed over the file. The agent
# is paused meanwhile, so that the copy is never shipped under its
# temporary name: the rename replaces a file the twin holds, which is
# the basis the change ships against, not the whole file again
apid=$(cat "$TMP/alpha.pid") b0=$(bytes)
kill -STOP "$apid"
"$LAB" exec alpha podman exec db sh -c 'cp /data/table /data/table.new &&
	dd if=/dev/urandom of=/data/table.new bs=4k count=1 seek=300 conv=notrunc 2>/dev/null &&
	mv /data/table.new /data/table'
rc=$?
kill -CONT "$apid"
[ $rc -eq 0 ] || fail "cannot save the table by renaming a copy over it"
ls_on alpha sync db --wait --timeout 60 >/dev/null || fail "sync after the save failed"
trees_equal db
shipped=$(( $(bytes) - b0 ))
[ "$shipped" -lt 1048576 ] || fail "a copy renamed over the file shipped $shipped bytes: not against the old file"
saved=$shipped

# 9 bytes inserted at the start: every block moved, none is in place;
# the delta finds them where they went (the shifted copy is made in
# /dev/shm, a tmpfs, not in the layer)
change "an insertion" '{ echo inserted; cat /data/table; } >/dev/shm/t2 &&
	dd if=/dev/shm/t2 of=/data/table bs=1M conv=notrunc 2>/dev/null && rm /dev/shm/t2'
[ "$shipped" -lt 1048576 ] || fail "an insertion shipped $shipped bytes: not a delta"
grep -q "batch .*: data/table differs in most blocks: asking for a signature" "$TMP/alpha.log" ||
	fail "the moved blocks did not turn the patch into a delta"
grep -q "batch .*: data/table delta" "$TMP/alpha.log" || fail "the log does not show a delta"
delta=$shipped

# the twin's copy grew behind the primary's back (a byte appended on
# beta): the twin refuses block sums for the size the primary
# acknowledged, and a signature of what it holds makes the delta
"$LAB" exec beta sh -c "printf x >>'$(upper beta db)/data/table'" || fail "cannot touch the twin"
change "a change after the twin's copy grew" 'dd if=/dev/urandom of=/data/table bs=4k count=1 seek=200 conv=notrunc 2>/dev/null'
grep -q "batch .*: data/table is not on the peer as acknowledged: asking for a signature" "$TMP/alpha.log" ||
	fail "block sums of a twin's copy that changed were not refused"
[ "$shipped" -lt 1048576 ] || fail "the change after the twin's copy grew shipped $shipped bytes: not a delta"

# an append alone: the tail ships, written in place on the twin
ino_before=$(stat -c %i "$(upper beta db)/data/table")
change "an append" 'dd if=/dev/urandom bs=100k count=1 2>/dev/null >> /data/table'
[ "$shipped" -eq 102400 ] || fail "a 100 KiB append shipped $shipped bytes, not its tail"
grep -q "batch .*: data/table append" "$TMP/alpha.log" || fail "the log does not show an append"
for i in 1 2 3; do
	change "append $i" "echo line $i >> /data/table"
done
[ "$(stat -c %i "$(upper beta db)/data/table")" = "$ino_before" ] ||
	fail "the twin's file was replaced, not appended to"
daemon_stop alpha
pass "a 32 MiB file: an 8 KiB change shipped $patched bytes in place, $grown in place when it grew too, a 4 KiB one $inplace, a changed copy renamed over it $saved, an insertion $delta as a delta; a 100 KiB append: its tail alone, in place"
