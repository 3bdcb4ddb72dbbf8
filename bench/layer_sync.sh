#!/bin/sh
# bench/layer_sync.sh OUT.csv REPS MB...: benchmark 1 of issue 6, layer
# sync against layer size (the image-layer paper's table 1), in the lab,
# layersync and the peers alternating within each repetition:
#   full  the first full sync of a fresh layer of MB megabytes
#         layersync: `add` (creates the twin, returns once the whole layer
#         is durable on beta); rsync: `rsync -aHAX --numeric-ids --delete`
#         of the upperdir over SSH into an empty directory on beta
#         lsyncd (tuned and untuned, see bench/lsyncdlib.sh): started on the
#         layer, timed until its startup rsync has finished
#         ssh-stream (a reference, not a peer): the layer as one tar
#         stream through OpenSSH into /dev/null on beta, nothing written:
#         what SSH alone costs on this machine, the floor under any tool
#         that ships over it
#         disk-fsync (a reference too): MB megabytes written to beta's disk
#         by one dd and fsync'd: the floor under any durable copy
#         layersync-nofsync: layersync with beta's `fsync = false`
#         (committed, not flushed, as the peers leave their copies)
#   change  1 % of the layer's bytes rewritten in place (64 KiB chunks at
#         random offsets of random files), then: layersync `sync --wait`
#         (durable on beta); rsync the same command again; lsyncd, running
#         while the writes happen, as layersync does: timed from the end of
#         the writes until a marker file written after them is on beta (the
#         marker sorts last, so rsync sends it after the changed files)
# Rows "bench,tool,mb,rep,metric,ms" are appended to OUT.csv.
# Run by scripts/bench, which sets top_srcdir and LAYERSYNC.
. "$top_srcdir/tests/integration/lib.sh"
. "$top_srcdir/tests/integration/replib.sh"
. "$top_srcdir/bench/lsyncdlib.sh"
. "$top_srcdir/bench/benchlib.sh"

out=$1 reps=$2; shift 2
TREES=/var/lib/layersync-lab/bench
RDST=/var/lib/layersync-lab/beta/bench-rsync
LDST=/var/lib/layersync-lab/beta/bench-lsyncd
SSH="ssh -i /etc/layersync/id_ed25519 -o UserKnownHostsFile=/etc/layersync/known_hosts -o StrictHostKeyChecking=yes -o BatchMode=yes"

repl_setup
on_exit 'rm -rf "$RDST" "$RDST.dd" "$LDST"'
# beta's address: the peer in alpha's config.
BETA=$(sed -n 's/.*address = "\([0-9.]*\)".*/\1/p' /etc/netns/alpha/layersync/test.conf | head -1)
[ -n "$BETA" ] || fail "cannot find beta's address in alpha's config"
daemon_start alpha
daemon_start beta
img=$("$LAB" exec alpha podman images -q | head -1)

row() { echo "layer_sync,$1,$2,$3,$4,$5" >>"$out"; }

# change_1pct DIR MB SEED: rewrite 1 % of MB in 64 KiB chunks in place.
change_1pct() {
	find "$1" -type f -size +64k | sort >"$TMP/files"
	awk -v n="$(( $2 * 1048576 / 100 / 65536 ))" -v seed="$3" '
		{ f[NR] = $0 } END { srand(seed); for (i = 0; i < n; i++) print f[1 + int(rand() * NR)] }' \
		"$TMP/files" | while read -r f; do
		size=$(stat -c %s "$f")
		off=$(( $(od -An -N4 -tu4 /dev/urandom) % (size / 65536) ))
		dd if=/dev/urandom of="$f" bs=65536 seek="$off" count=1 conv=notrunc status=none
	done
}

rsync_to_beta() {
	"$LAB" exec alpha rsync -aHAX --numeric-ids --delete -e "$SSH" "$1/" "root@$BETA:$RDST/"
}

for mb in "$@"; do
	tree=$TREES/tree-$mb
	if [ ! -d "$tree" ]; then	# made once, kept for later runs
		rm -rf "$tree.tmp"
		"$TOP/bench/tree.sh" "$tree.tmp" "$mb" 1 && mv "$tree.tmp" "$tree" ||
			fail "cannot make the $mb MB tree"
	fi
	rep=1
	while [ "$rep" -le "$reps" ]; do
		"$LAB" exec alpha podman run -d --name bench "$img" sleep 100000 >/dev/null ||
			fail "cannot run the bench container"
		up=$(upper alpha bench)
		cp -a "$tree/." "$up/" || fail "cannot fill the layer"
		sync
		# layersync: add returns once the first full sync is durable.
		t0=$(ms)
		ls_on alpha add bench >"$TMP/add.out" 2>&1 || fail "add failed: $(tail -2 "$TMP/add.out")"
		t1=$(ms); row layersync "$mb" "$rep" full $((t1 - t0))
		# rsync, the naive script: an empty destination each time.
		rm -rf "$RDST"; mkdir -p "$RDST"; sync
		t0=$(ms); rsync_to_beta "$up" || fail "rsync failed"
		t1=$(ms); row rsync "$mb" "$rep" full $((t1 - t0))
		# rsync leaves its writes in the page cache: flush them here, not
		# in layersync's next syncfs
		sync
		t0=$(ms)
		"$LAB" exec alpha sh -c "tar -C '$up' -cf - . | $SSH root@$BETA 'cat >/dev/null'" ||
			fail "the ssh stream failed"
		t1=$(ms); row ssh-stream "$mb" "$rep" full $((t1 - t0))
		t0=$(ms)
		dd if=/dev/zero of="$RDST.dd" bs=1M count="$mb" conv=fsync status=none ||
			fail "cannot write beta's disk"
		t1=$(ms); row disk-fsync "$mb" "$rep" full $((t1 - t0))
		rm -f "$RDST.dd"

		change_1pct "$up" "$mb" "$rep"
		t0=$(ms)
		ls_on alpha sync bench --wait --timeout 120 >/dev/null || { stuck_report; fail "sync --wait failed"; }
		t1=$(ms); row layersync "$mb" "$rep" change $((t1 - t0))
		t0=$(ms); rsync_to_beta "$up" || fail "rsync failed"
		t1=$(ms); row rsync "$mb" "$rep" change $((t1 - t0))

		# Both copies must be the layer, or the figures mean nothing.
		diff -r --no-dereference "$up" "$(upper beta bench)" >/dev/null ||
			fail "$mb MB rep $rep: beta's twin differs from the layer"
		diff -r --no-dereference "$up" "$RDST" >/dev/null ||
			fail "$mb MB rep $rep: rsync's copy differs from the layer"

		ls_on alpha remove bench --purge >/dev/null 2>&1 || fail "remove --purge failed"
		rm -rf "$RDST"

		# layersync again, beta's receiver not flushing; its writes are
		# flushed after, out of every timing
		twin_fsync off
		t0=$(ms)
		ls_on alpha add bench >"$TMP/add.out" 2>&1 || fail "add failed: $(tail -2 "$TMP/add.out")"
		t1=$(ms); row layersync-nofsync "$mb" "$rep" full $((t1 - t0))
		sync
		change_1pct "$up" "$mb" "$((rep + 50))"
		t0=$(ms)
		ls_on alpha sync bench --wait --timeout 120 >/dev/null || { stuck_report; fail "sync --wait failed"; }
		t1=$(ms); row layersync-nofsync "$mb" "$rep" change $((t1 - t0))
		diff -r --no-dereference "$up" "$(upper beta bench)" >/dev/null ||
			fail "$mb MB rep $rep: beta's twin (fsync off) differs from the layer"
		ls_on alpha remove bench --purge >/dev/null 2>&1 || fail "remove --purge failed"
		sync
		twin_fsync on

		# lsyncd, on its own (layersync no longer watches the layer)
		for kind in tuned untuned; do
			tool=lsyncd; [ $kind = tuned ] || tool=lsyncd-untuned
			t0=$(ms)
			lsyncd_start $kind "$up=$LDST"
			lsyncd_wait_startup 300
			t1=$(ms); row $tool "$mb" "$rep" full $((t1 - t0))
			change_1pct "$up" "$mb" "$((rep * 100 + ${#kind}))"
			t0=$(ms)
			echo "$rep $kind" >"$up/zz-marker-$kind"
			wait_file "$LDST/zz-marker-$kind" 120 || fail "lsyncd ($kind) did not ship the change"
			t1=$(ms); row $tool "$mb" "$rep" change $((t1 - t0))
			wait_for 30 diff -r --no-dereference "$up" "$LDST" >/dev/null ||
				fail "$mb MB rep $rep: lsyncd's ($kind) copy differs from the layer"
			lsyncd_stop
		done
		rm -rf "$LDST"
		"$LAB" exec alpha podman rm -f -t 0 bench >/dev/null 2>&1
		note "$mb MB rep $rep: $(grep ",$mb,$rep," "$out" | cut -d, -f2,5,6 | tr '\n' ' ')"
		rep=$((rep + 1))
	done
done
pass "layer sync: $* MB, $reps reps"
