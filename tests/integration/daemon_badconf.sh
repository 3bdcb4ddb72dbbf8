#!/usr/bin/env bash
# daemon_badconf: a bad config makes the daemon exit non-zero naming
# file:line; a bad config on SIGHUP keeps the old one running.
. "$(dirname "$0")/lib.sh"

LS=${LAYERSYNC:?LAYERSYNC must name the built binary}
TMP=$(mktemp -d)
on_exit "rm -rf $TMP"

cat >"$TMP/bad.conf" <<'CONF'
node = "alpha";
state_dir = "/tmp/x";
colour = "blue";
peers = ( { name = "beta"; address = "10.210.0.2"; port = 0;
            identity = "/k"; known_hosts = "/kh"; } );
CONF
rc=0; "$LS" -c "$TMP/bad.conf" daemon 2>"$TMP/err" || rc=$?
[ "$rc" -ne 0 ] || fail "daemon accepted a bad config"
grep -q "$TMP/bad.conf:3: unknown setting 'colour'" "$TMP/err" ||
	fail "no file:line message for the unknown setting: $(cat "$TMP/err")"
grep -q "$TMP/bad.conf:4: 'peers.\[0\].port' must be between 1 and 65535 (got 0)" "$TMP/err" ||
	fail "no file:line message for the bad port: $(cat "$TMP/err")"
[ ! -e /tmp/x ] || fail "daemon created its state dir despite the bad config"

rc=0; "$LS" -c "$TMP/missing.conf" daemon 2>"$TMP/err" || rc=$?
[ "$rc" -ne 0 ] || fail "daemon started without a config file"
grep -q "$TMP/missing.conf: cannot read: No such file or directory" "$TMP/err" ||
	fail "missing file not named: $(cat "$TMP/err")"

printf 'node = "alpha"\nstate_dir = "%s/state"\ncontrol_socket = "%s/ctl.sock"\n' \
	"$TMP" "$TMP" >"$TMP/good.conf"
"$LS" -c "$TMP/good.conf" daemon -n | grep -qx 'configuration OK' ||
	fail "daemon -n did not accept a good config"
"$LS" -c "$TMP/good.conf" daemon 2>"$TMP/log" &
pid=$!
on_exit "kill $pid 2>/dev/null || true"
wait_for 10 "$LS" -c "$TMP/good.conf" status >/dev/null || fail "daemon did not start"
cp "$TMP/good.conf" "$TMP/good.conf.orig"
echo 'nonsense = 1;' >>"$TMP/good.conf"
kill -HUP "$pid"
wait_for 10 grep -q 'reload failed' "$TMP/log" || fail "bad reload not reported: $(cat "$TMP/log")"
grep -q "good.conf:4: unknown setting 'nonsense'" "$TMP/log" || fail "bad reload lacks file:line"
cp "$TMP/good.conf.orig" "$TMP/good.conf"
"$LS" -c "$TMP/good.conf" status | grep -qx 'node: alpha' || fail "daemon died on a bad reload"
kill -TERM "$pid"
rc=0; wait "$pid" || rc=$?
[ "$rc" -eq 0 ] || fail "daemon exited $rc on SIGTERM"
pass "bad configs are refused with file:line; a bad reload keeps the old config"
