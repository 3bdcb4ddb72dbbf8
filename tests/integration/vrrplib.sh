# vrrplib.sh: helpers for failover tests, sourced after lib.sh and replib.sh.
#
#   vrrp_setup           repl_setup, both daemons, a web container "web" on
#                        alpha (busybox httpd serving /www from its upper
#                        layer), added, keepalived on both hosts, alpha the
#                        master; everything undone on exit
#   web_run              run and add the web container on alpha
#   write_page TEXT      write TEXT to /www/index.html inside web on alpha
#   vip_on               the host holding the VIP ("alpha", "beta", "")
#   running HOST         true if web runs in HOST
#   poll_start           a client in labclient fetches the page from the VIP
#                        every ~20 ms: "MS ok|fail MAC BODY" in $TMP/poll
#   poll_stop
#   page_from_alpha TAG  a new page on alpha, durable on beta, the client
#                        started and alpha seen serving it ($page)
#   lose_alpha KIND      cut (link down), kill (-9 of keepalived and the
#                        agent) or freeze (SIGSTOP of alpha's processes);
#                        restore_alpha KIND undoes it
#   first_ok_from MAC T0 the time (ms) of the first probe after T0 that got
#                        an answer through MAC (the host that answered)
#   sample_start         samples whether web runs on each host, continuously,
#                        into $TMP/sample ("MS alpha=0|1 beta=0|1")
#   sample_stop          stops it and fails if any sample saw both running
#   now_ms               milliseconds, wall clock
#   counter_run          run "counter" on alpha: a shell variable (memory
#                        only) counted up and written to /tmp/count every
#                        100 ms, for the stateful (CRIU) tests

ALPHA_MAC=02:4c:53:00:00:01
BETA_MAC=02:4c:53:00:00:02
VIP=$("$LAB" vip)

now_ms() { date +%s%3N; }

counter_run() {
	"$LAB" exec alpha podman run -d --name counter --network none \
		"$("$LAB" exec alpha podman images -q | head -1)" sh -c \
		'i=0; while :; do i=$((i+1)); echo $i >/tmp/count.tmp; mv /tmp/count.tmp /tmp/count; sleep 0.1; done' \
		>/dev/null || fail "cannot run the counter container"
}

vip_on() { "$LAB" vip-host; }

running() {
	[ "$("$LAB" exec "$1" podman container inspect --format '{{.State.Running}}' web 2>/dev/null)" = true ]
}

write_page() {
	"$LAB" exec alpha podman exec web sh -c "echo '$1' >/www/index.html.tmp && mv /www/index.html.tmp /www/index.html" ||
		fail "cannot write the page in web"
}

vrrp_cleanup() {
	poll_stop
	[ -f "$TMP/sample.pid" ] && kill "$(cat "$TMP/sample.pid")" 2>/dev/null
	rm -f "$TMP/sample.pid"
	# Whatever a test did to alpha, undo it before the lab is reused.
	ip -n labnet link set v-alpha up 2>/dev/null
	for p in $(cat "$TMP/frozen" 2>/dev/null); do kill -CONT "$p" 2>/dev/null; done
	for h in alpha beta; do
		"$LAB" vrrp-stop $h >/dev/null 2>&1
		mkdir -p /tmp/layersync-test-logs
		cp /run/layersync-lab/$h/keepalived.log "/tmp/layersync-test-logs/$TEST.$h.keepalived.log" 2>/dev/null
		: >/run/layersync-lab/$h/keepalived.log
	done
}

ka_state_is() { tail -n 30 "/run/layersync-lab/$1/keepalived.log" | grep -q "Entering $2 STATE"; }

vrrp_start() {
	"$LAB" vrrp-start "$1" $TESTCONF "$LS" >"$TMP/vrrp-start.out" 2>&1 ||
		fail "$1: keepalived did not start: $(tail -3 "$TMP/vrrp-start.out")"
}

# web_run: the web container on alpha, replicated. Its command writes the
# first page only if there is none: on a twin it must not undo the layer.
web_run() {
	img=$("$LAB" exec alpha podman images -q | head -1)
	"$LAB" exec alpha podman run -d --name web "$img" sh -c \
		'mkdir -p /www && { [ -e /www/index.html ] || echo first >/www/index.html; } && exec httpd -f -p 80 -h /www' >/dev/null ||
		fail "cannot run the web container on alpha"
	ls_on alpha add web >/dev/null || fail "add web failed"
}

vrrp_setup() {
	repl_setup
	"$LAB" vrrp-down >/dev/null 2>&1	# a demo's keepalived and daemons
	on_exit vrrp_cleanup
	for h in alpha beta; do : >/run/layersync-lab/$h/keepalived.log; done
	daemon_start alpha
	daemon_start beta
	web_run
	vrrp_start alpha
	wait_for 10 eval '[ "$(vip_on)" = alpha ]' || fail "alpha did not take the VIP"
	vrrp_start beta
	wait_for 10 ka_state_is beta BACKUP || fail "beta did not enter BACKUP"
	wait_for 10 eval '[ "$(ls_on beta status --json | grep -o "\"role\":\"[a-z]*\"")" = "\"role\":\"standby\"" ]' ||
		fail "beta is not the standby"
}

poll_start() {
	: >"$TMP/poll"
	# The MAC is read before and after each probe and given only if both
	# agree ("-" otherwise): after a kill, alpha still holds the VIP and
	# serves, and a probe it answered that ends just after beta's
	# gratuitous ARP would be credited to beta.
	ip netns exec labclient sh -c '
		mac() { ip neigh show "$1" | awk "{ print \$5 }"; }
		while :; do
			t=$(date +%s%3N)
			m0=$(mac "$1")
			if b=$(curl -s --connect-timeout 0.1 -m 0.2 "http://$1/index.html"); then
				m=$(mac "$1")
				[ "$m" = "$m0" ] || m=-
				echo "$t ok $m $b"
			else
				echo "$t fail - -"
			fi
			sleep 0.02
		done' poll "$VIP" >>"$TMP/poll" 2>/dev/null &
	echo $! >"$TMP/poll.pid"
}

# page_from_alpha TAG: a new page ("page-TAG-MS", in $page) written on
# alpha and made durable on beta, the client started, and alpha seen
# serving it
page_from_alpha() {
	page="page-$1-$(now_ms)"
	write_page "$page"
	ls_on alpha sync web --wait --timeout 20 >/dev/null || fail "$1: sync before the loss failed"
	poll_start
	wait_for 5 eval 'grep -q "ok $ALPHA_MAC $page\$" "$TMP/poll"' ||
		fail "$1: the client never got the page from alpha: $(tail -3 "$TMP/poll")"
}

# lose_alpha cut|kill|freeze: alpha's link cut; its keepalived and agent
# killed with -9; or every process of alpha stopped (SIGSTOP).
# restore_alpha KIND undoes it (kill: the agent and keepalived started).
lose_alpha() {
	case $1 in
	cut) ip -n labnet link set v-alpha down ;;
	kill)
		kill -KILL "$(cat /run/layersync-lab/alpha/keepalived-vrrp.pid)" \
			"$(cat /run/layersync-lab/alpha/keepalived.pid)" "$(cat "$TMP/alpha.pid")" ;;
	freeze)
		ip netns pids alpha >"$TMP/frozen"
		# shellcheck disable=SC2046
		kill -STOP $(cat "$TMP/frozen") ;;
	esac
}

restore_alpha() {
	case $1 in
	cut) ip -n labnet link set v-alpha up ;;
	kill) daemon_start alpha; vrrp_start alpha ;;
	freeze)
		# shellcheck disable=SC2046
		kill -CONT $(cat "$TMP/frozen"); rm -f "$TMP/frozen" ;;
	esac
}

poll_stop() {
	[ -f "$TMP/poll.pid" ] || return 0
	kill "$(cat "$TMP/poll.pid")" 2>/dev/null
	wait "$(cat "$TMP/poll.pid")" 2>/dev/null
	rm -f "$TMP/poll.pid"
}

first_ok_from() {
	awk -v mac="$1" -v t0="$2" '$1 >= t0 && $2 == "ok" && $3 == mac { print $1; exit }' "$TMP/poll"
}

sample_start() {
	: >"$TMP/sample"
	(
		while :; do
			a=0; b=0
			running alpha & pa=$!
			running beta && b=1
			wait $pa && a=1
			echo "$(now_ms) alpha=$a beta=$b"
		done
	) >>"$TMP/sample" 2>/dev/null &
	echo $! >"$TMP/sample.pid"
}

sample_stop() {
	kill "$(cat "$TMP/sample.pid")" 2>/dev/null
	wait "$(cat "$TMP/sample.pid")" 2>/dev/null
	rm -f "$TMP/sample.pid"
	n=$(wc -l <"$TMP/sample")
	[ "$n" -ge 10 ] || fail "only $n samples of who runs web"
	if grep -q "alpha=1 beta=1" "$TMP/sample"; then
		fail "both hosts ran web at once: $(grep -m3 "alpha=1 beta=1" "$TMP/sample" | tr '\n' ' ')"
	fi
	note "$n samples of both hosts: never both running"
}
