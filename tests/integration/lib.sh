# tests/integration/lib.sh: sourced first by every integration test, under
# sh (dash) or bash:   . "$(dirname "$0")/lib.sh"
#
#   TOP              the repository's top ($top_srcdir, else found from here)
#   LAB              $TOP/scripts/lab
#   TEST             this test's name (its file name without .sh)
#   fail MSG         print "FAIL: TEST: MSG" on stderr and exit 1
#   skip MSG         print "SKIP: TEST: MSG" and exit 77; only for a kernel
#                    feature the machine lacks
#   pass MSG         print "PASS: TEST: MSG"
#   note MSG         print "note: TEST: MSG"
#   wait_for T CMD   run CMD until it succeeds, polling every 20-200 ms;
#                    return 1 if it still fails after T seconds
#   lab_up           run scripts/lab up, fail the test if it fails
#   on_exit 'CMD'    run CMD when the test exits, passed, failed or killed;
#                    the last one added runs first
#
# Exit codes: 0 pass, 1 fail, 77 skip.
#
# Integration tests share one lab and never run at the same time, even under
# `make -j check`: this file re-executes the test under
# `flock -o /run/layersync-lab.lock`. The lock is held by that flock process,
# not by the test, so a daemon a test leaves behind cannot keep it.

TEST=$(basename "$0" .sh)

if [ -z "${LAB_TEST_LOCKED:-}" ]; then
	_lib_lock=/run/layersync-lab.lock
	if [ ! -w /run ] && [ ! -w "$_lib_lock" ]; then
		_lib_lock=${TMPDIR:-/tmp}/layersync-lab-$(id -u).lock
	fi
	if ! flock -n "$_lib_lock" true 2>/dev/null; then
		echo "note: $TEST: waiting for $_lib_lock (another integration test runs)"
	fi
	LAB_TEST_LOCKED=$TEST
	export LAB_TEST_LOCKED
	if [ -n "${BASH_VERSION:-}" ]; then _lib_sh=$BASH; else _lib_sh=/bin/sh; fi
	exec flock -o -w "${LAB_LOCK_TIMEOUT:-1800}" -E 99 "$_lib_lock" "$_lib_sh" "$0" "$@"
fi

TOP=${top_srcdir:-$(dirname "$0")/../..}
TOP=$(cd "$TOP" && pwd)
LAB=$TOP/scripts/lab

fail() { echo "FAIL: $TEST: $*" >&2; exit 1; }
skip() { echo "SKIP: $TEST: $*"; exit 77; }
pass() { echo "PASS: $TEST: $*"; }
note() { echo "note: $TEST: $*"; }

# on_exit CMD: remember CMD; _lib_exit runs them, newest first, ignoring
# their failures, then exits with the test's own status.
_lib_exit_cmds=
on_exit() {
	_lib_exit_cmds="$1
$_lib_exit_cmds"
}
_lib_exit() {
	_lib_rc=$?
	trap - EXIT
	set +e
	eval "$_lib_exit_cmds"
	exit "$_lib_rc"
}
trap _lib_exit EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM

# _lib_now: centiseconds since boot, without forking.
_lib_now() {
	read -r _lib_up _lib_idle </proc/uptime
	_lib_up=${_lib_up%.*}${_lib_up#*.}
	_lib_up=${_lib_up#"${_lib_up%%[!0]*}"}
	echo "${_lib_up:-0}"
}

wait_for() {
	_wf_end=$(( $(_lib_now) + $1 * 100 ))
	shift
	_wf_sleep=0.02
	while :; do
		if "$@"; then return 0; fi
		[ "$(_lib_now)" -lt "$_wf_end" ] || return 1
		sleep "$_wf_sleep"
		case $_wf_sleep in
		0.02) _wf_sleep=0.05 ;;
		0.05) _wf_sleep=0.1 ;;
		*) _wf_sleep=0.2 ;;
		esac
	done
}

lab_up() {
	if [ ! -e /proc/self/ns/net ] || [ ! -e /proc/self/ns/mnt ]; then
		skip "the kernel lacks network or mount namespaces"
	fi
	if ! grep -qw overlay /proc/filesystems && ! modprobe -q overlay 2>/dev/null; then
		skip "the kernel lacks overlayfs"
	fi
	"$LAB" up || fail "scripts/lab up failed (its messages are above)"
}
