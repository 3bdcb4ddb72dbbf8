#!/bin/sh
# lab_updown: `scripts/lab up` builds a working lab and is idempotent (it
# also repairs missing parts); `down` removes every namespace, process,
# mount and file, also when run twice or after an up that failed half-way.
# Leaves the lab down.
. "$(dirname "$0")/lib.sh"
set -u

ROOT_NET=$(readlink /proc/self/ns/net)
HOST_MNT_INOS=	# mount namespaces of the hosts seen while up
SSHD_PIDS=	# sshd pids seen while up

# lab_state: remember the hosts' sshd pids and mount namespaces (those
# that exist: after a failed up some may not).
lab_state() {
	for h in alpha beta; do
		p=$(cat /run/layersync-lab/$h/sshd.pid 2>/dev/null) && SSHD_PIDS="$SSHD_PIDS $p"
		ino=$(stat -L -c %i /run/layersync-lab/ns/$h.mnt 2>/dev/null) &&
			HOST_MNT_INOS="$HOST_MNT_INOS $ino"
	done
	BETA_SSHD=$(cat /run/layersync-lab/beta/sshd.pid 2>/dev/null) || BETA_SSHD=
}

assert_up() {	# assert_up WHEN
	for n in alpha beta labnet; do
		[ "$(stat -f -c %T /run/netns/$n 2>/dev/null)" = nsfs ] ||
			fail "$1: no network namespace $n"
	done
	"$LAB" exec alpha busybox ping -c 1 -W 3 10.210.0.2 >/dev/null ||
		fail "$1: alpha cannot ping beta"
	"$LAB" exec beta busybox ping -c 1 -W 3 10.210.0.1 >/dev/null ||
		fail "$1: beta cannot ping alpha"
	# the root namespace has no lab address and no route into the lab
	if ip -4 -o addr show | grep -q ' 10\.210\.0\.'; then
		fail "$1: the root namespace has a 10.210.0.x address"
	fi
	if ip -4 route show table all | grep -q '10\.210\.0\.'; then
		fail "$1: the root namespace routes to 10.210.0.0/24: $(ip -4 route show table all | grep '10\.210\.')"
	fi
	for h in alpha beta; do
		[ "$("$LAB" exec $h hostname)" = $h ] || fail "$1: $h: wrong hostname"
		"$LAB" exec $h grep -qx "node = \"$h\";" /etc/layersync/layersync.conf ||
			fail "$1: $h does not see its own /etc/layersync/layersync.conf"
		"$LAB" exec $h podman info --format '{{.Store.GraphRoot}}' |
			grep -qx "/var/lib/layersync-lab/$h/storage" ||
			fail "$1: $h: podman does not use the host's graphroot"
	done
	p=$(cat /run/layersync-lab/alpha/sshd.pid) || fail "$1: no alpha sshd pid file"
	[ "$(readlink /proc/"$p"/ns/net)" = "$(readlink /proc/self/ns/net)" ] &&
		fail "$1: alpha's sshd runs in the root network namespace"
	[ "$("$LAB" vip)" = 10.210.0.100 ] || fail "$1: lab vip"
	[ "$("$LAB" addr beta)" = 10.210.0.2 ] || fail "$1: lab addr beta"
	"$LAB" status >/dev/null || fail "$1: lab status says the lab is not up"
}

lab_mounts() {
	awk '{ print $5 }' /proc/self/mountinfo |
		grep -E '^(/run/layersync-lab|/var/lib/layersync-lab|/etc/netns|/run/netns/(alpha|beta|labnet)|/etc/layersync)(/|$)'
}

assert_down() {	# assert_down WHEN
	for n in alpha beta labnet; do
		[ ! -e /run/netns/$n ] || fail "$1: /run/netns/$n is left"
		if ip netns list | grep -qw "^$n"; then fail "$1: netns $n is listed"; fi
	done
	for d in /etc/netns/alpha /etc/netns/beta /etc/netns/labnet \
		/var/lib/layersync-lab /run/layersync-lab; do
		[ ! -e $d ] || fail "$1: $d is left"
	done
	m=$(lab_mounts) && fail "$1: mounts left: $m"
	for p in $SSHD_PIDS; do
		if [ -e /proc/"$p" ] && [ "$(readlink /proc/"$p"/ns/net)" != "$ROOT_NET" ]; then
			fail "$1: lab sshd $p still runs"
		fi
	done
	for p in $(pgrep -x sshd) $(pgrep -x conmon); do
		n=$(readlink /proc/"$p"/ns/net 2>/dev/null) || continue
		[ "$n" = "$ROOT_NET" ] || fail "$1: $(cat /proc/"$p"/comm) $p runs in $n"
	done
	for ino in $HOST_MNT_INOS; do
		left=$(find /proc -mindepth 3 -maxdepth 3 -path '/proc/[0-9]*/ns/mnt' \
			-lname "mnt:?$ino?" 2>/dev/null)
		[ -z "$left" ] || fail "$1: processes left in a host mount namespace: $left"
	done
	# directories up had to create (the machine had neither) go again
	for d in /etc/netns /etc/layersync; do
		if [ -d $d ] && [ -z "$(ls -A $d)" ]; then fail "$1: empty $d is left"; fi
	done
}

# The test may find the lab up (left by other tests) or down.
lab_up
assert_up "first up"
lab_state "first up"
alpha_img=$("$LAB" exec alpha podman image inspect --format '{{.Id}}' localhost/layersync-test:latest)

t0=$(date +%s%N)
lab_up
t1=$(date +%s%N)
note "warm up took $(( (t1 - t0) / 1000000 )) ms"
assert_up "second up"
[ $(( (t1 - t0) / 1000000 )) -lt 5000 ] || fail "a warm up takes $(( (t1 - t0) / 1000000 )) ms"
[ "$(cat /run/layersync-lab/beta/sshd.pid)" = "$BETA_SSHD" ] ||
	fail "a warm up restarted beta's sshd"
[ "$("$LAB" exec beta podman image inspect --format '{{.Id}}' localhost/layersync-test:latest)" = "$alpha_img" ] ||
	fail "a warm up changed the image"

# Repair: up re-creates what is missing.
kill "$(cat /run/layersync-lab/beta/sshd.pid)"
ip -n labnet link del v-alpha || fail "cannot delete alpha's link"
lab_up
assert_up "repairing up"
lab_state "repairing up"
note "up repaired a dead sshd and a deleted link"

"$LAB" down || fail "first down failed"
assert_down "first down"
"$LAB" down || fail "second down failed"
assert_down "second down"

# Cold up, and down after a namespace vanished under the lab.
t0=$(date +%s%N)
lab_up
t1=$(date +%s%N)
note "cold up took $(( (t1 - t0) / 1000000 )) ms"
assert_up "cold up"
lab_state "cold up"
ip netns del beta || fail "cannot delete netns beta"
"$LAB" down || fail "down after netns beta vanished failed"
assert_down "down after netns beta vanished"

# An up that fails half-way names its step and exits non-zero; down cleans up.
rc=0
LAB_FAIL_STEP="beta: starting sshd" "$LAB" up 2>"${TMPDIR:-/tmp}/lab_updown.$$" || rc=$?
err=$(cat "${TMPDIR:-/tmp}/lab_updown.$$"); rm -f "${TMPDIR:-/tmp}/lab_updown.$$"
[ "$rc" -ne 0 ] || fail "an up failing at beta's sshd exited 0"
echo "$err" | grep -qx 'lab: up: beta: starting sshd failed' ||
	fail "a failing up does not name its step: $err"
[ -e /run/layersync-lab/alpha/sshd.pid ] || fail "the failing up stopped before alpha's sshd"
lab_state "half-failed up"
"$LAB" down || fail "down after a half-failed up failed"
assert_down "down after a half-failed up"

pass "up, repair, idempotent up and down, down twice, down after failures"
