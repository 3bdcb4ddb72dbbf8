#!/bin/sh
# lab_podman: each lab host has its own podman (storage, database, locks):
# a container made in alpha is invisible to beta and has its upperdir under
# alpha's graphroot; the base image has the same ID in both; both hosts can
# create containers at the same time; containers use the host's network, so
# a web server in alpha answers beta on alpha's address. Leaves the lab up.
. "$(dirname "$0")/lib.sh"
set -u

lab_up
TMP=$(mktemp -d)
on_exit "rm -rf $TMP"

IMG=localhost/layersync-test:latest
alpha() { "$LAB" exec alpha podman "$@"; }
beta() { "$LAB" exec beta podman "$@"; }

cleanup() {
	for h in alpha beta; do
		"$LAB" exec $h podman rm --force --time 0 --ignore iso-test iso-web iso-client \
			par-1 par-2 par-3 par-4 >/dev/null 2>&1
	done
}
cleanup	# leftovers of an earlier, killed run
on_exit cleanup

# The image: present in both hosts, one ID.
ida=$(alpha image inspect --format '{{.Id}}' $IMG) || fail "alpha lacks $IMG"
idb=$(beta image inspect --format '{{.Id}}' $IMG) || fail "beta lacks $IMG"
if [ -z "$ida" ] || [ "$ida" != "$idb" ]; then
	fail "image IDs differ: alpha '$ida', beta '$idb'"
fi

# A container in alpha: listed there, invisible to beta.
alpha run -d --name iso-test $IMG sleep 1000 >/dev/null || fail "alpha: podman run failed"
alpha ps --format '{{.Names}}' | grep -qx iso-test ||
	fail "alpha does not list iso-test: $(alpha ps -a)"
[ "$(alpha inspect --format '{{.State.Status}}' iso-test)" = running ] ||
	fail "alpha's iso-test is not running"
if beta ps -a --format '{{.Names}}' | grep -qx iso-test; then
	fail "beta's podman lists alpha's container"
fi
if beta container exists iso-test; then fail "beta's podman finds alpha's container"; fi

# Its upperdir lies under alpha's graphroot and is the live layer.
upper=$(alpha inspect --format '{{.GraphDriver.Data.UpperDir}}' iso-test) || fail "inspect"
case $upper in
/var/lib/layersync-lab/alpha/storage/*) ;;
*) fail "iso-test's upperdir $upper is not under alpha's graphroot" ;;
esac
alpha exec iso-test sh -c 'echo layer > /root/marker' || fail "podman exec in alpha"
[ "$(cat "$upper/root/marker" 2>/dev/null)" = layer ] ||
	fail "a file written in the container is not in $upper"

# The same name in beta is another container with its own storage.
beta create --name iso-test $IMG true >/dev/null || fail "beta cannot create its own iso-test"
upper_b=$(beta inspect --format '{{.GraphDriver.Data.UpperDir}}' iso-test) || fail "inspect in beta"
case $upper_b in
/var/lib/layersync-lab/beta/storage/*) ;;
*) fail "beta's iso-test upperdir $upper_b is not under beta's graphroot" ;;
esac

# Both hosts create and remove containers at the same time.
for h in alpha beta; do
	for i in 1 2 3 4; do
		"$LAB" exec $h podman create --name par-$i $IMG true >"$TMP/$h.$i" 2>&1 &
	done
done
wait
for h in alpha beta; do
	n=$("$LAB" exec $h podman ps -a --filter name=par- --format '{{.Names}}' | sort | tr '\n' ' ')
	[ "$n" = "par-1 par-2 par-3 par-4 " ] || fail "$h after parallel creates: '$n' $(cat "$TMP/$h".*)"
	"$LAB" exec $h podman rm par-1 par-2 par-3 par-4 >/dev/null || fail "$h: rm par-*"
done
note "alpha and beta created 4 containers each at the same time"

# Host networking: busybox httpd in alpha on :8080, fetched from beta.
token="lab-podman-$$-$(date +%s)"
alpha run -d --name iso-web -e TOKEN="$token" $IMG \
	sh -c 'echo "$TOKEN" >/var/www/index.html && exec httpd -f -p 8080 -h /var/www' >/dev/null ||
	fail "alpha: cannot start the web container"
fetch_from_beta() {
	[ "$("$LAB" exec beta timeout 5 busybox wget -qO- http://10.210.0.1:8080/index.html 2>/dev/null)" = "$token" ]
}
wait_for 10 fetch_from_beta || fail "beta cannot fetch http://10.210.0.1:8080/ from alpha's container"
"$LAB" exec alpha ss -Hltn 'sport = :8080' | grep -q ':8080' ||
	fail "alpha's network namespace has no :8080 listener"
if ss -Hltn 'sport = :8080' | grep -q ':8080'; then
	fail "the web container listens in the root namespace"
fi
out=$(beta run --rm --name iso-client $IMG timeout 5 wget -qO- http://10.210.0.1:8080/index.html) ||
	fail "a container in beta cannot fetch from alpha: $out"
[ "$out" = "$token" ] || fail "a container in beta got '$out'"
note "alpha's web container answers beta (host and container) on 10.210.0.1:8080"

pass "separate podman per host, same image ID, host networking"
