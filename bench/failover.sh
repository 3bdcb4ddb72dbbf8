#!/bin/sh
# bench/failover.sh OUT.csv TRIALS: benchmark 5, failover time over many
# trials, in the lab: alpha the primary running the web container (busybox
# httpd on the VIP), beta the standby with keepalived (0.1 s adverts), a
# client in labclient polling the VIP every ~20 ms. Each trial writes a
# new page on alpha, ships it (sync --wait), sees the client get it from
# alpha, then loses alpha:
#   cut   alpha's link cut (labnet:v-alpha down), TRIALS trials
#   kill  alpha's keepalived and agent killed with kill -9 (its container
#         keeps running: beta's promote fences it), a few trials
# and measures, per trial (rows "failover,layersync,KIND,TRIAL,METRIC,VALUE"
# appended to OUT.csv):
#   failover_ms  the loss to the first probe answered through beta's MAC
#   detect_ms    the loss to beta's agent beginning its promote (VRRP's
#                detection and keepalived's notify)
#   promote_ms   beta's promote, as its status reports it (every container
#                started and checked running)
# Every answer after the loss must be the page written last on alpha.
# After each trial alpha returns as the standby, catches beta up's changes,
# and a planned switchover (beta demotes, its keepalived stops) makes it
# the primary again, so that every trial starts the same.
# Run by scripts/bench, which sets top_srcdir and LAYERSYNC.
. "$top_srcdir/tests/integration/lib.sh"
. "$top_srcdir/tests/integration/replib.sh"
. "$top_srcdir/tests/integration/vrrplib.sh"

out=$1 trials=$2
case $trials in '' | *[!0-9]*) fail "usage: bench/failover.sh OUT.csv TRIALS" ;; esac
[ "$trials" -ge 1 ] || fail "TRIALS must be at least 1"
# kill trials: a few (one per five cut trials, at least one).
kills=${FAILOVER_KILLS:-$(( trials / 5 > 0 ? trials / 5 : 1 ))}

vrrp_setup

row() { echo "failover,layersync,$1,$2,$3,$4" >>"$out"; }
lines() { wc -l <"$1" 2>/dev/null || echo 0; }
role_of() { ls_on "$1" status --json | grep -o '"role":"[a-z]*"' | cut -d'"' -f4; }
kalog() { echo "/run/layersync-lab/$1/keepalived.log"; }
# oks_from MAC T: how many probes since T got an answer through MAC.
oks_from() { awk -v m="$1" -v t="$2" '$1 >= t && $2 == "ok" && $3 == m' "$TMP/poll" | wc -l; }
# ka_entered HOST STATE N: HOST's keepalived entered STATE after line N.
ka_entered() { tail -n "+$(( $3 + 1 ))" "$(kalog "$1")" | grep -q "Entering $2 STATE"; }

# The agents log local time of day (HH:MM:SS.mmm): the loss's epoch ms
# is turned into the same with this zone offset.
tz_ms=$(date +%z | awk '{ s = substr($1, 1, 1) == "-" ? -1 : 1
	print s * (substr($1, 2, 2) * 3600000 + substr($1, 4, 2) * 60000) }')

# detect_after HOST N T0: ms from T0 to the first "promote: begins" in
# HOST's agent log after line N (empty if none yet).
detect_after() {
	tail -n "+$(( $2 + 1 ))" "$TMP/$1.log" | awk -v t0="$3" -v tz="$tz_ms" '
		/ promote: begins$/ {
			split($1, a, /[:.]/)
			t = ((a[1] * 60 + a[2]) * 60 + a[3]) * 1000 + a[4]
			d = t - (t0 + tz) % 86400000
			if (d < -43200000) d += 86400000
			print d; exit
		}'
}

# trial KIND N: one failover, its rows, then the way back to the start.
trial() {
	kind=$1 n=$2 tag="$1 $2"
	[ "$(vip_on)" = alpha ] && running alpha && ! running beta ||
		fail "$tag: the lab is not at the start (vip on '$(vip_on)', web on alpha: $(running alpha && echo yes || echo no), on beta: $(running beta && echo yes || echo no))"
	page_from_alpha "$kind-$n"
	ka_a=$(lines "$(kalog alpha)") log_b=$(lines "$TMP/beta.log")

	t0=$(now_ms)
	lose_alpha "$kind"
	wait_for 15 eval '[ -n "$(first_ok_from $BETA_MAC $t0)" ]' ||
		fail "$tag: no failover: beta never answered on the VIP within 15 s of the loss (vip on '$(vip_on)', web on beta: $(running beta && echo yes || echo no), beta's role: $(role_of beta)); last probes: $(tail -3 "$TMP/poll" | tr '\n' ' ')"
	t1=$(first_ok_from "$BETA_MAC" "$t0")
	# A few more probes through beta, then every answer since the loss,
	# from either host, must be the last page written on alpha.
	wait_for 5 eval '[ "$(oks_from $BETA_MAC $t1)" -ge 3 ]' ||
		fail "$tag: beta answered once, then stopped: $(tail -3 "$TMP/poll" | tr '\n' ' ')"
	poll_stop
	bad=$(awk -v t0="$t0" -v p="$page" '$1 >= t0 && $2 == "ok" && $4 != p' "$TMP/poll" | head -3)
	[ -z "$bad" ] || fail "$tag: a stale page was served after the loss (want $page): $(echo "$bad" | tr '\n' ' ')"
	before=$(awk -v t0="$t0" '$1 < t0' "$TMP/poll" | tail -1 | cut -d' ' -f1)

	wait_for 10 eval 'ls_on beta status | grep -q "^last promote: "' ||
		fail "$tag: beta's status reports no promote: $(ls_on beta status | head -3 | tr '\n' ' ')"
	promote=$(ls_on beta status | sed -n 's/^last promote: \([0-9]*\) ms.*/\1/p')
	detect=$(detect_after beta "$log_b" "$t0")
	[ -n "$detect" ] || fail "$tag: no 'promote: begins' in beta's log after the loss"

	# Beta's twin is stopped until its promote begins: an earlier answer
	# through its MAC would be a probe credited to the wrong host.
	[ $((t1 - t0)) -ge "$detect" ] ||
		fail "$tag: an answer through beta's MAC $((t1 - t0)) ms after the loss, before beta's promote began ($detect ms): $(grep "^$t1 " "$TMP/poll")"

	row "$kind" "$n" failover_ms $((t1 - t0))
	row "$kind" "$n" detect_ms "$detect"
	if [ -n "$promote" ]; then row "$kind" "$n" promote_ms "$promote"; fi
	echo "$kind $((t1 - t0)) $detect ${promote:-}" >>"$TMP/times"
	note "$tag: failover $((t1 - t0)) ms (detect $detect ms, promote ${promote:-?} ms; last probe before the loss $((t0 - ${before:-t0})) ms before it), page $page"

	# Beta alone holds the VIP and runs web. After the kill nothing on
	# alpha stops its container or drops the address: beta's fence must.
	wait_for 10 eval '[ "$(vip_on)" = beta ] && running beta && ! running alpha' ||
		fail "$tag: beta is not the only primary (vip on '$(vip_on)', web on alpha: $(running alpha && echo yes || echo no), on beta: $(running beta && echo yes || echo no))"

	# Back to the start: alpha returns as the standby and catches up ...
	restore_alpha "$kind"
	wait_for 30 eval '[ "$(role_of alpha)" = standby ] && ! running alpha' ||
		fail "$tag: alpha did not come back as the standby: role $(role_of alpha)"
	wait_for 10 ka_entered alpha BACKUP "$ka_a" || fail "$tag: alpha's keepalived did not enter BACKUP"
	[ "$(vip_on)" = beta ] || fail "$tag: the VIP moved to '$(vip_on)' on its own (nopreempt)"
	ls_on beta sync web --wait --timeout 30 >/dev/null || fail "$tag: the failback sync failed"
	# ... then a planned switchover makes it the primary again.
	ls_on beta demote >/dev/null || fail "$tag: demote on beta failed"
	"$LAB" vrrp-stop beta >/dev/null 2>&1
	wait_for 10 eval '[ "$(vip_on)" = alpha ] && running alpha && ! running beta' ||
		fail "$tag: alpha did not take over again (vip on '$(vip_on)')"
	[ "$("$LAB" client curl -s -m 2 "http://$VIP/index.html")" = "$page" ] ||
		fail "$tag: alpha does not serve $page after the switchover"
	ka_b=$(lines "$(kalog beta)")
	vrrp_start beta
	wait_for 10 ka_entered beta BACKUP "$ka_b" || fail "$tag: beta's keepalived did not enter BACKUP"
	wait_for 10 eval '[ "$(role_of beta)" = standby ] && [ "$(role_of alpha)" = primary ]' ||
		fail "$tag: roles after the switchover: alpha $(role_of alpha), beta $(role_of beta)"
}

i=1
while [ "$i" -le "$trials" ]; do trial cut "$i"; i=$((i + 1)); done
i=1
while [ "$i" -le "$kills" ]; do trial kill "$i"; i=$((i + 1)); done

# median, p90 (nearest rank) and max of the failover times per kind
summary() {
	awk -v k="$1" '$1 == k { print $2 }' "$TMP/times" | sort -n | awk '
		{ v[++n] = $1 }
		END {
			if (n == 0) exit
			m = n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
			r = int(0.9 * n); if (r < 0.9 * n) r++
			printf "median %d, p90 %d, max %d ms (n=%d)", m, v[r], v[n], n
		}'
}
pass "cut $(summary cut); kill $(summary kill)"
