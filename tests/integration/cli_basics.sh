#!/usr/bin/env bash
# cli_basics: help is real for every command, commands that are not
# built yet say so and fail, unknown commands and a missing daemon fail.
. "$(dirname "$0")/lib.sh"

LS=${LAYERSYNC:?LAYERSYNC must name the built binary}
TMP=$(mktemp -d)
on_exit "rm -rf $TMP"

help=$("$LS" help) || fail "layersync help failed"
for cmd in daemon add remove status sync promote demote serve version help; do
	grep -q "^  $cmd " <<<"$help" || fail "help does not list $cmd"
	out=$("$LS" "$cmd" --help) || fail "$cmd --help failed"
	grep -q "^usage: layersync \[-c FILE\] $cmd" <<<"$out" || fail "$cmd --help: $out"
	"$LS" help "$cmd" | grep -q "^usage: layersync \[-c FILE\] $cmd" ||
		fail "help $cmd gives no usage"
done
"$LS" version | grep -qE '^layersync [0-9]+\.[0-9]+\.[0-9]+$' || fail "version"

# Until their issue lands, these must refuse rather than pretend.
for cmd in $(sed -n 's/^  \([a-z]*\) .*(not built yet)$/\1/p' <<<"$help"); do
	rc=0; "$LS" "$cmd" x 2>"$TMP/err" || rc=$?
	[ "$rc" -eq 69 ] || fail "$cmd exited $rc, want 69 (not built)"
	grep -q "not built yet" "$TMP/err" || fail "$cmd does not say it is not built"
done

rc=0; "$LS" frobnicate 2>"$TMP/err" || rc=$?
[ "$rc" -eq 2 ] && grep -q "unknown command 'frobnicate'" "$TMP/err" ||
	fail "unknown command: rc $rc, $(cat "$TMP/err")"

printf 'node = "n1"\ncontrol_socket = "%s/none.sock"\n' "$TMP" >"$TMP/c.conf"
rc=0; "$LS" -c "$TMP/c.conf" status 2>"$TMP/err" || rc=$?
[ "$rc" -eq 1 ] && grep -q "cannot reach the daemon at $TMP/none.sock" "$TMP/err" ||
	fail "status without a daemon: rc $rc, $(cat "$TMP/err")"
pass "help, version, not-built commands and errors behave"
