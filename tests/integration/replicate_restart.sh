#!/usr/bin/env bash
# replicate_restart: a restarted daemon resumes its containers from the
# state dir without a full copy, and ships what changed while it was
# down (including a removal and a rename); a large file changed while it
# was down ships as the blocks that changed, not whole, though only the
# rescan's walk finds it (it goes in the batch after, planned), and
# `sync --wait` waits for that batch too.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/replib.sh"

repl_setup
"$LAB" exec alpha podman run -d --name web localhost/layersync-test:latest \
	httpd -f -p 8080 -h /var/www >/dev/null || fail "cannot start web on alpha"
"$LAB" exec alpha podman exec web sh -c 'mkdir /data; for i in $(seq 1 300); do echo $i > /data/f$i; done
	mkdir /data/db; dd if=/dev/urandom of=/data/db/table bs=1M count=8 2>/dev/null' ||
	fail "workload"
daemon_start alpha
ls_on alpha add web >/dev/null || fail "add failed"
trees_equal web
daemon_stop alpha
note "first sync done; agent stopped"

bytes() { ls_on alpha status --json | sed -n 's/.*"bytes":\([0-9]*\).*/\1/p'; }
"$LAB" exec alpha podman exec web sh -c 'echo while-down > /data/new; rm /data/f1; mv /data/f2 /data/f2.moved; echo changed > /data/f3
	dd if=/dev/urandom of=/data/db/table bs=4k count=1 seek=1000 conv=notrunc 2>/dev/null' ||
	fail "changes while down"
daemon_start alpha
grep -q "container web: resumed" "$TMP/alpha.log" || fail "daemon did not resume web: $(tail -5 "$TMP/alpha.log")"
ls_on alpha sync web --wait --timeout 30 >"$TMP/sync.out" || fail "sync after restart failed"
trees_equal web
files=$(ls_on alpha status --json | sed -n 's/.*"files":\([0-9]*\).*/\1/p')
[ -n "$files" ] || fail "status --json gave no files count"
# 300 files are in the tree; only the changes (and their directory) ship.
[ "$files" -le 10 ] || fail "restart shipped $files entries: a full copy, not the differences"
shipped=$(bytes)
[ "$shipped" -lt 1048576 ] || fail "restart shipped $shipped bytes: the 8 MiB file changed by 4 KiB went whole"
grep -q "data/db/table changed: the next batch ships it" "$TMP/alpha.log" ||
	fail "the changed table was not left to the next batch"
# the sync answered once the batch that patched the table was durable
synced=$(sed -n 's/.* at generation \([0-9]*\) .*/\1/p' "$TMP/sync.out")
patched=$(sed -n 's/.* batch \([0-9]*\): data\/db\/table patch$/\1/p' "$TMP/alpha.log")
[ -n "$synced" ] && [ -n "$patched" ] || fail "cannot tell the sync's generation ($(cat "$TMP/sync.out")) or the patch's"
[ "$synced" -ge "$patched" ] || fail "sync --wait answered at generation $synced, before the table's patch ($patched)"
grep -qx 'while-down' "$(upper beta web)/data/new" || fail "the file written while down is missing"
[ ! -e "$(upper beta web)/data/f1" ] || fail "the file removed while down is still on beta"
daemon_stop alpha
pass "restart resumed without a full copy ($files entries, $shipped bytes shipped; 4 KiB of an 8 MiB file among them) and caught up"
