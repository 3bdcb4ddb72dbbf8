#!/bin/sh
# lab_ssh: each lab host reaches the other's sshd as root with its
# layersync key and the pinned host key, and the command runs on the other
# host; passwords are refused; a wrong pinned key stops the connection.
# Leaves the lab up.
. "$(dirname "$0")/lib.sh"
set -u

lab_up
TMP=$(mktemp -d)
on_exit "rm -rf $TMP"

# lab_ssh FROM ADDR KNOWN_HOSTS CMD...: ssh as the layersync agent will.
lab_ssh() {
	_from=$1 _addr=$2 _kh=$3; shift 3
	"$LAB" exec "$_from" ssh -i /etc/layersync/id_ed25519 \
		-o UserKnownHostsFile="$_kh" -o GlobalKnownHostsFile=/dev/null \
		-o StrictHostKeyChecking=yes -o BatchMode=yes -o ConnectTimeout=5 \
		"root@$_addr" "$@" </dev/null
}

for pair in alpha:beta beta:alpha; do
	from=${pair%:*} to=${pair#*:}
	addr=$("$LAB" addr "$to")
	"$LAB" exec "$from" grep -q "^$addr ssh-ed25519 " /etc/layersync/known_hosts ||
		fail "$from: known_hosts does not pin $to's ed25519 key by $addr"
	out=$(lab_ssh "$from" "$addr" /etc/layersync/known_hosts \
		'hostname; ip -4 -o addr show eth0; cat /etc/layersync/layersync.conf') ||
		fail "$from cannot ssh to $to: $out"
	echo "$out" | grep -q "inet $addr/24" ||
		fail "$from -> $to: the command did not run in $to: $out"
	[ "$(echo "$out" | head -n 1)" = "$to" ] || fail "$from -> $to: hostname is not $to: $out"
	echo "$out" | grep -qx "node = \"$to\";" ||
		fail "$from -> $to: the session does not see $to's /etc/layersync"
	note "$from -> $to: key login as root ran the command in $to"
done

# sshd listens on the host's lab address only.
out=$("$LAB" exec beta ss -Hltn) || fail "ss in beta"
echo "$out" | grep -q '10\.210\.0\.2:22 ' || fail "beta's sshd does not listen on 10.210.0.2:22: $out"
[ "$(echo "$out" | grep -c ':22 ')" -eq 1 ] || fail "beta listens on more than one :22: $out"
if ss -Hltn | grep -q '10\.210\.'; then fail "something listens on a lab address in the root namespace"; fi

# Password (and keyboard-interactive) logins are refused: the server only
# offers publickey, so ssh never even asks for the password.
cfg=$("$LAB" exec beta /usr/sbin/sshd -T -f /etc/ssh/sshd_config) || fail "sshd -T in beta"
for want in 'passwordauthentication no' 'kbdinteractiveauthentication no' \
	'permitrootlogin without-password' 'usepam no'; do
	echo "$cfg" | grep -qx "$want" || fail "beta's sshd lacks '$want'"
done
printf '#!/bin/sh\ntouch %s/askpass-ran\necho not-the-password\n' "$TMP" >"$TMP/askpass"
chmod +x "$TMP/askpass"
rc=0
"$LAB" exec alpha env SSH_ASKPASS="$TMP/askpass" SSH_ASKPASS_REQUIRE=force DISPLAY=:0 \
	ssh -o PubkeyAuthentication=no -o PreferredAuthentications=password,keyboard-interactive \
	-o NumberOfPasswordPrompts=1 -o UserKnownHostsFile=/etc/layersync/known_hosts \
	-o StrictHostKeyChecking=yes -o ConnectTimeout=5 root@10.210.0.2 "touch $TMP/ran" \
	</dev/null >/dev/null 2>"$TMP/err" || rc=$?
[ "$rc" -ne 0 ] || fail "a password login was accepted"
grep -q 'Permission denied (publickey)' "$TMP/err" ||
	fail "password login not refused for the expected reason: $(cat "$TMP/err")"
[ ! -e "$TMP/askpass-ran" ] || fail "ssh was asked for a password"
[ ! -e "$TMP/ran" ] || fail "the command ran without a key"
note "password login refused (server offers publickey only)"

# A known_hosts pinning another key for beta stops the connection.
ssh-keygen -q -t ed25519 -N '' -f "$TMP/wrong" || fail "ssh-keygen"
echo "10.210.0.2 $(cut -d' ' -f1,2 "$TMP/wrong.pub")" >"$TMP/wrong_known_hosts"
rc=0
lab_ssh alpha 10.210.0.2 "$TMP/wrong_known_hosts" "touch $TMP/ran" >/dev/null 2>"$TMP/err" || rc=$?
[ "$rc" -ne 0 ] || fail "ssh accepted beta with a wrong pinned key"
grep -q 'Host key verification failed' "$TMP/err" ||
	fail "wrong key: no host key verification error: $(cat "$TMP/err")"
[ ! -e "$TMP/ran" ] || fail "the command ran despite the wrong host key"
note "a wrong pinned host key fails host key verification"

pass "key logins both ways with pinned host keys; passwords and wrong keys refused"
