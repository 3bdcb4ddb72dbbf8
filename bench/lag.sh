#!/usr/bin/env bash
# bench/lag.sh [N]: small-file replication lag in the lab, N samples
# (default 50): a 100-byte file written into a running container's
# merged view on alpha, timed until its final content is in the twin's
# upper layer on beta (committed: the journal has run, fsync included).
# Prints p50, p90, p99 and max in ms. Needs LAYERSYNC=path/to/layersync.
# Full benchmarks against lsyncd and rsync come with scripts/bench.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
LAB=$top/scripts/lab
LS=${LAYERSYNC:?set LAYERSYNC to the built binary}
n=${1:-50}
conf=/etc/layersync/bench.conf
out=$(mktemp -d)
cleanup() {
	[ -n "${dpid:-}" ] && kill "$dpid" 2>/dev/null && wait "$dpid" 2>/dev/null
	for h in alpha beta; do
		"$LAB" exec $h podman rm -f -t 0 lagbench >/dev/null 2>&1 || true
		rm -f "/etc/netns/$h/layersync/bench.conf"
	done
	rm -rf "$out" /var/lib/layersync-lab/alpha/state/containers/lagbench
}
trap cleanup EXIT
"$LAB" up >/dev/null
"$LAB" conf bench "$LS"
"$LAB" exec alpha podman run -d --name lagbench localhost/layersync-test:latest sleep 100000 >/dev/null
"$LAB" exec alpha "$LS" -c $conf daemon 2>"$out/log" & dpid=$!
for _ in $(seq 100); do "$LAB" exec alpha "$LS" -c $conf status >/dev/null 2>&1 && break; sleep 0.05; done
"$LAB" exec alpha "$LS" -c $conf add lagbench >/dev/null
merged=$("$LAB" exec alpha podman mount lagbench)
twin=$("$LAB" exec beta podman container inspect --format '{{.GraphDriver.Data.UpperDir}}' lagbench)
# One process in alpha writes each file and waits for it on beta's disk
# (same machine, same clock), so no podman or CLI time is counted.
"$LAB" exec alpha python3 - "$merged" "$twin" "$n" >"$out/ms" <<'PY'
import os, sys, time
merged, twin, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
payload = b"x" * 99 + b"\n"
for i in range(n):
    name = "lag%d" % i
    t0 = time.monotonic()
    with open(os.path.join(merged, name), "wb") as f:
        f.write(payload)
    target = os.path.join(twin, name)
    while True:
        try:
            with open(target, "rb") as f:
                if f.read() == payload:
                    break
        except FileNotFoundError:
            pass
        if time.monotonic() - t0 > 10:
            sys.exit("sample %d: not replicated after 10 s" % i)
        time.sleep(0.0002)
    print("%.3f" % ((time.monotonic() - t0) * 1000))
    time.sleep(0.02)
PY
sort -n "$out/ms" | awk '{ v[NR] = $1 } END {
	printf "small-file lag over %d samples: p50 %.1f ms, p90 %.1f ms, p99 %.1f ms, max %.1f ms\n",
	    NR, v[int(NR * 0.5 + 0.5)], v[int(NR * 0.9 + 0.5)], v[int(NR * 0.99 + 0.5)], v[NR] }'
