#!/usr/bin/env bash
# replicate_restart: a restarted daemon resumes its containers from the
# state dir without a full copy, and ships what changed while it was
# down (including a removal and a rename).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/replib.sh"

repl_setup
"$LAB" exec alpha podman run -d --name web localhost/layersync-test:latest \
	httpd -f -p 8080 -h /var/www >/dev/null || fail "cannot start web on alpha"
"$LAB" exec alpha podman exec web sh -c 'mkdir /data; for i in $(seq 1 300); do echo $i > /data/f$i; done' ||
	fail "workload"
daemon_start alpha
ls_on alpha add web >/dev/null || fail "add failed"
trees_equal web
daemon_stop alpha
note "first sync done; agent stopped"

"$LAB" exec alpha podman exec web sh -c 'echo while-down > /data/new; rm /data/f1; mv /data/f2 /data/f2.moved; echo changed > /data/f3' ||
	fail "changes while down"
daemon_start alpha
grep -q "container web: resumed" "$TMP/alpha.log" || fail "daemon did not resume web: $(tail -5 "$TMP/alpha.log")"
ls_on alpha sync web --wait --timeout 30 >/dev/null || fail "sync after restart failed"
trees_equal web
files=$(ls_on alpha status --json | sed -n 's/.*"files":\([0-9]*\).*/\1/p')
[ -n "$files" ] || fail "status --json gave no files count"
# 300 files are in the tree; only the changes (and their directory) ship.
[ "$files" -le 10 ] || fail "restart shipped $files entries: a full copy, not the differences"
grep -qx 'while-down' "$(upper beta web)/data/new" || fail "the file written while down is missing"
[ ! -e "$(upper beta web)/data/f1" ] || fail "the file removed while down is still on beta"
daemon_stop alpha
pass "restart resumed without a full copy ($files entries shipped) and caught up"
