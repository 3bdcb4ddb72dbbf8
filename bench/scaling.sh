#!/bin/sh
# bench/scaling.sh OUT.csv NCONT NFILES: benchmark 6 of issue 6, how the
# agent on alpha scales, in the lab. Rows "scaling,layersync,X,1,METRIC,V":
#   X=containers-NCONT  NCONT containers added one by one to one agent:
#     add_first_ms / add_last_ms  the mean `add` time of the first and the
#                                 last tenth (flat cost: equal)
#     sync_avg_ms / sync_max_ms   a 20 KiB file then written in each, from
#                                 its write to its twin on beta
#     rss_mb       the agent's resident memory with all of them
#     idle_cpu_pct its CPU over 5 s with nothing changing
#   X=files-NFILES  one container whose layer holds NFILES files of 100
#     bytes in directories of 1,000:
#     add_ms       `add`: watches set up, the layer walked and shipped
#     restart_ms   the agent restarted: from its start to `sync --wait`
#                  back (the index loaded, the layer rescanned, nothing
#                  to ship)
#     rss_mb, idle_cpu_pct  as above
#   X=cpu  cpu_ms_per_mb  the agent's CPU time per MB shipped, over the
#     `add` of a 64 MB layer of 8 MB files
# Run by scripts/bench, which sets top_srcdir and LAYERSYNC.
. "$top_srcdir/tests/integration/lib.sh"
. "$top_srcdir/tests/integration/replib.sh"
. "$top_srcdir/bench/benchlib.sh"

out=$1 ncont=$2 nfiles=$3
repl_setup
daemon_start alpha
daemon_start beta
row() { echo "scaling,layersync,$1,1,$2,$3" >>"$out"; }
agent() { cat "$TMP/alpha.pid"; }
rss_mb() { awk '/^VmRSS/ { printf "%.1f\n", $2 / 1024 }' "/proc/$(agent)/status"; }
ticks() { awk '{ print $14 + $15 }' "/proc/$(agent)/stat"; }
idle_cpu_pct() {
	t0=$(ticks); sleep 5; t1=$(ticks)
	echo $(( (t1 - t0) * 100 / 500 ))	# ticks of 10 ms over 500 ticks
}

# 1. many containers on one agent
x=containers-$ncont
tenth=$(( ncont / 10 )); [ $tenth -ge 1 ] || tenth=1
i=1
: >"$TMP/adds"
while [ $i -le "$ncont" ]; do
	bench_run s$i
	t0=$(ms)
	ls_on alpha add s$i >/dev/null || fail "add s$i failed"
	echo $(( $(ms) - t0 )) >>"$TMP/adds"
	i=$((i + 1))
done
row $x add_first_ms "$(head -n $tenth "$TMP/adds" | awk '{ s += $1 } END { printf "%d", s / NR }')"
row $x add_last_ms "$(tail -n $tenth "$TMP/adds" | awk '{ s += $1 } END { printf "%d", s / NR }')"
row $x rss_mb "$(rss_mb)"
row $x idle_cpu_pct "$(idle_cpu_pct)"
for c in $BENCH_NAMES; do
	printf '%s %s\n' "$(upper alpha "$c")" "$(upper beta "$c")"
done >"$TMP/pairs"
python3 - "$TMP/pairs" >"$TMP/lags" <<'PY' || fail "a write did not reach its twin"
import os, sys, time
pairs = [l.split() for l in open(sys.argv[1])]
data = os.urandom(20480)
t0 = {}
for up, _ in pairs:
    with open(os.path.join(up, "scale-probe"), "wb") as f:
        f.write(data)
    t0[up] = time.monotonic()
lags, end = [], time.monotonic() + 120
for up, tw in pairs:
    p = os.path.join(tw, "scale-probe")
    while True:
        try:
            with open(p, "rb") as f:
                if f.read() == data:
                    break
        except FileNotFoundError:
            pass
        if time.monotonic() > end:
            sys.exit("%s: not on beta after 120 s" % p)
        time.sleep(0.0005)
    lags.append((time.monotonic() - t0[up]) * 1000)
print("%d %d" % (sum(lags) / len(lags), max(lags)))
PY
read -r avg max <"$TMP/lags"
row $x sync_avg_ms "$avg"
row $x sync_max_ms "$max"
for c in $BENCH_NAMES; do ls_on alpha remove "$c" --purge >/dev/null 2>&1 || fail "remove $c failed"; done
bench_rm_all
note "$ncont containers: $(grep ",$x," "$out" | cut -d, -f5,6 | tr '\n' ' ')"

# 2. one layer of many files
x=files-$nfiles
bench_run big
python3 - "$(upper alpha big)" "$nfiles" <<'PY' || fail "cannot fill the layer"
import os, sys
root, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    d = os.path.join(root, "d%04d" % (i // 1000))
    if i % 1000 == 0:
        os.mkdir(d)
    with open(os.path.join(d, "f%d" % i), "wb") as f:
        f.write(b"%099d" % i)
PY
sync
t0=$(ms)
ls_on alpha add big >/dev/null || fail "add big failed"
row $x add_ms $(( $(ms) - t0 ))
row $x rss_mb "$(rss_mb)"
row $x idle_cpu_pct "$(idle_cpu_pct)"
n=$(find "$(upper beta big)" -type f | wc -l)
[ "$n" -ge "$nfiles" ] || fail "beta holds $n files of $nfiles"
daemon_stop alpha
t0=$(ms)
daemon_start alpha
ls_on alpha sync big --wait --timeout 600 >/dev/null || fail "sync --wait after the restart failed"
row $x restart_ms $(( $(ms) - t0 ))
ls_on alpha remove big --purge >/dev/null 2>&1 || fail "remove big failed"
bench_rm_all
note "$nfiles files: $(grep ",$x," "$out" | cut -d, -f5,6 | tr '\n' ' ')"

# 3. CPU per MB shipped
bench_run cpu
up=$(upper alpha cpu)
i=0
while [ $i -lt 8 ]; do
	head -c 8388608 /dev/urandom >"$up/blob$i"
	i=$((i + 1))
done
sync
t0=$(ticks)
ls_on alpha add cpu >/dev/null || fail "add cpu failed"
row cpu cpu_ms_per_mb "$(( ($(ticks) - t0) * 10 / 64 ))"
trees_equal cpu
ls_on alpha remove cpu --purge >/dev/null 2>&1 || fail "remove cpu failed"
bench_rm_all
note "cpu: $(grep ",cpu," "$out" | cut -d, -f5,6)"
pass "scaling: $ncont containers, $nfiles files"
