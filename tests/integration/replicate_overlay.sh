#!/usr/bin/env bash
# replicate_overlay: everything an overlay upper layer can hold reaches
# the twin: files, dirs, symlinks, hard links, sparse files, fifos,
# devices, whiteouts, opaque dirs, xattrs, modes and owners, renames of
# files and dirs, overwrites in the middle of a large file, truncation,
# appends, deep trees, many small files and non-UTF-8 names. After
# `sync --wait` the two upper trees are equal, and the twin, started,
# shows the same merged view as the primary.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/replib.sh"

repl_setup
"$LAB" exec alpha podman run -d --name web localhost/layersync-test:latest \
	httpd -f -p 8080 -h /var/www >/dev/null || fail "cannot start web on alpha"
in_web() { "$LAB" exec alpha podman exec web sh -c "$1" || fail "workload step failed: $1"; }

in_web 'echo v1 > /var/www/index.html; mkdir -p /data/d/e; echo f > /data/d/e/f;
	dd if=/dev/urandom of=/data/big bs=1M count=24 2>/dev/null'
daemon_start alpha
ls_on alpha add web >"$TMP/add.out" || fail "add failed: $(cat "$TMP/add.out")"
grep -q "in step with its twin on beta" "$TMP/add.out" || fail "add did not report the first sync"
trees_equal web
note "first full sync equal"
# The receiver widens the pipe sshd feeds it (recv.c: widen_input); at
# 64 KiB, sshd's own buffering made a burst crawl on a fresh session.
rp=$(receivers beta | head -1)
[ -n "$rp" ] || fail "no receiver on beta"
psz=$(python3 -c 'import fcntl, os, sys
fd = os.open("/proc/%s/fd/0" % sys.argv[1], os.O_RDONLY | os.O_NONBLOCK)
print(fcntl.fcntl(fd, fcntl.F_GETPIPE_SZ))' "$rp") || fail "cannot read the receiver's pipe size"
[ "$psz" -eq 1048576 ] || fail "the receiver's input pipe holds $psz bytes, not 1 MiB"

# Every kind of change, made by the container itself.
in_web '
	echo v2 > /var/www/index.html
	mv /data/d /data/renamed_dir; mv /data/renamed_dir/e/f /data/renamed_dir/e/g
	dd if=/dev/urandom of=/data/big bs=4k count=3 seek=3000 conv=notrunc 2>/dev/null
	echo tail >> /data/big
	dd if=/dev/urandom of=/data/trunc bs=1k count=64 2>/dev/null; truncate -s 1000 /data/trunc
	dd if=/dev/zero of=/data/sparse bs=1 count=1 seek=50000000 2>/dev/null
	ln -s ../var/www/index.html /data/sym; ln -s /nonexistent /data/dangling
	echo linked > /data/h1; ln /data/h1 /data/h2
	mkfifo /data/fifo
	chmod 4755 /data/h1; chown 1234:5678 /data/trunc; chmod 700 /data/renamed_dir
	rm /etc/group
	rm -rf /root; mkdir /root; echo fresh > /root/only
	p=/data/deep; for i in $(seq 1 40); do p=$p/l$i; done; mkdir -p $p; echo bottom > $p/f
	mkdir /data/many; for i in $(seq 1 500); do echo $i > /data/many/f$i; done
	touch "/data/$(printf "bad\377\376name")"; touch "/data/sp ace"
'
# What the container lacks the capabilities for, done in its merged view.
merged=$("$LAB" exec alpha podman mount web) || fail "podman mount"
"$LAB" exec alpha mknod "$merged/data/nulldev" c 1 3 || fail "mknod"
"$LAB" exec alpha setfattr -n user.origin_test -v kept "$merged/data/h1" || fail "setfattr"
"$LAB" exec alpha setfattr -n user.dirattr -v 1 "$merged/data/many" || fail "setfattr dir"

ls_on alpha sync web --wait --timeout 60 >"$TMP/sync.out" ||
	fail "sync --wait failed: $(cat "$TMP/sync.out") $(tail -5 "$TMP/alpha.log")"
trees_equal web
for want in 'renamed_dir/e/g' 'data/nulldev|character special file|644|0|0|0|1:3' \
	'root|directory' 'etc/group|character special file|0|0|0|0|0:0' \
	"data/h1|regular file|4755" 'data/trunc|regular file|644|1234|5678|1000' \
	'user.origin_test=0x6b657074' 'l40/f|regular file' 'bad\377\376name'; do
	grep -qF "$want" "$TMP/tree.beta" || fail "beta lacks: $want"
done
grep -q "^root|directory.*trusted.overlay.opaque=0x79" "$TMP/tree.beta" ||
	fail "the recreated /root is not opaque on beta: $(grep '^root|' "$TMP/tree.beta")"
blocks=$("$LAB" exec beta stat -c %b "$(upper beta web)/data/sparse")
[ "$blocks" -lt 1000 ] || fail "sparse file is not sparse on beta ($blocks blocks)"
note "every kind of change replicated; trees equal; sparse kept sparse"

# The merged views, seen from inside each container, must match.
view='cd / && find bin data etc root var -xdev | sort | while IFS= read -r p; do
	case $p in etc/hosts|etc/hostname|etc/resolv.conf) continue;; esac
	if [ -f "$p" ] && [ ! -L "$p" ]; then s=$(md5sum "$p" | cut -c1-12); else s=-; fi
	echo "$p $(stat -c "%F %a %u %g" "$p") $s"; done'
"$LAB" exec alpha podman exec web sh -c "$view" >"$TMP/view.alpha" || fail "view on alpha"
daemon_stop alpha
"$LAB" exec beta podman start web >/dev/null || fail "the twin does not start on beta"
"$LAB" exec beta podman exec web sh -c "$view" >"$TMP/view.beta" || fail "view on beta"
"$LAB" exec beta podman stop -t 0 web >/dev/null
[ "$(wc -l <"$TMP/view.alpha")" -gt 500 ] || fail "merged view listing too short"
diff "$TMP/view.alpha" "$TMP/view.beta" >"$TMP/view.diff" ||
	fail "merged views differ: $(head -20 "$TMP/view.diff")"
pass "overlay semantics replicated; the started twin shows the primary's merged view"
