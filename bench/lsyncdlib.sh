# bench/lsyncdlib.sh: the lsyncd peer, sourced by benchmarks after
# tests/integration/lib.sh and replib.sh (uses $LAB, $TMP, on_exit, fail).
#
#   lsyncd_start KIND SRC=DST...  run lsyncd in alpha, syncing each SRC (a
#                               path in alpha) to its DST on beta (made empty)
#                               KIND tuned: default.rsyncssh as its best user
#                               runs it: delay 0, maxDelays 1, inotifyMode
#                               CloseWrite, ssh connection reuse
#                               (ControlMaster auto, ControlPersist);
#                               KIND untuned: the same without connection
#                               reuse, so each rsync run pays an SSH
#                               handshake
#                               Both: rsync archive, hard_links, acls,
#                               xattrs, --numeric-ids; the same host key
#                               checks as layersync (StrictHostKeyChecking)
#   lsyncd_wait_startup T [N]   until N (default 1) startup rsyncs have
#                               finished (its log says so); fail after T s
#   lsyncd_stop                 stop it (and its ssh master) and wait
#   wait_file PATH T            poll every 2 ms until PATH exists; fail
#                               after T seconds
# The peer's versions: `lsyncd --version`.

LSYNCD_PID=
LSYNCD_LOG=

lsyncd_beta() {
	sed -n 's/.*address = "\([0-9.]*\)".*/\1/p' /etc/netns/alpha/layersync/test.conf | head -1
}

lsyncd_start() {
	_kind=$1
	shift
	_beta=$(lsyncd_beta)
	[ -n "$_beta" ] || fail "lsyncd: cannot find beta's address in alpha's config"
	LSYNCD_LOG=$TMP/lsyncd-$_kind.log
	: >"$LSYNCD_LOG"
	case $_kind in
	tuned) _reuse="ControlMaster = \"auto\", ControlPath = \"$TMP/cm-%r@%h:%p\", ControlPersist = \"60\"," ;;
	untuned) _reuse= ;;
	*) fail "lsyncd_start: unknown kind $_kind" ;;
	esac
	cat >"$TMP/lsyncd-$_kind.lua" <<-EOF
	settings { logfile = "$LSYNCD_LOG", nodaemon = true,
	           inotifyMode = "CloseWrite", maxDelays = 1 }
	EOF
	for _pair in "$@"; do
		_src=${_pair%%=*} _dst=${_pair#*=}
		rm -rf "$_dst"
		mkdir -p "$_dst"
		cat >>"$TMP/lsyncd-$_kind.lua" <<-EOF
		sync { default.rsyncssh, source = "$_src", host = "root@$_beta",
		       targetdir = "$_dst", delay = 0,
		       rsync = { archive = true, hard_links = true, acls = true,
		                 xattrs = true, _extra = { "--numeric-ids" } },
		       ssh = { identityFile = "/etc/layersync/id_ed25519",
		               options = { UserKnownHostsFile = "/etc/layersync/known_hosts",
		                           StrictHostKeyChecking = "yes", BatchMode = "yes",
		                           $_reuse } } }
		EOF
	done
	"$LAB" exec alpha lsyncd -nodaemon "$TMP/lsyncd-$_kind.lua" >>"$LSYNCD_LOG" 2>&1 &
	LSYNCD_PID=$!
	on_exit 'lsyncd_stop'
}

lsyncd_startups() {
	grep -c 'Startup of .* finished' "$LSYNCD_LOG"
}

lsyncd_wait_startup() {
	_n=$(($1 * 500))
	while [ "$(lsyncd_startups)" -lt "${2:-1}" ]; do
		if ! kill -0 "$LSYNCD_PID" 2>/dev/null || grep -q 'Error:' "$LSYNCD_LOG"; then
			fail "lsyncd failed: $(grep -m3 -E 'Error|error' "$LSYNCD_LOG")"
		fi
		_n=$((_n - 1))
		[ $_n -gt 0 ] || fail "lsyncd's startup did not finish in $1 s: $(tail -3 "$LSYNCD_LOG")"
		sleep 0.002
	done
}

lsyncd_stop() {
	[ -n "$LSYNCD_PID" ] || return 0
	kill -TERM "$LSYNCD_PID" 2>/dev/null
	wait "$LSYNCD_PID" 2>/dev/null
	LSYNCD_PID=
	# the ssh master (ControlPersist) outlives lsyncd; it is ours to end
	for _s in "$TMP"/cm-*; do
		[ -S "$_s" ] && "$LAB" exec alpha ssh -o ControlPath="$_s" -O exit x >/dev/null 2>&1
	done
	return 0
}

wait_file() {
	_n=$(($2 * 500))
	while [ ! -e "$1" ]; do
		_n=$((_n - 1))
		[ $_n -gt 0 ] || return 1
		sleep 0.002
	done
}
