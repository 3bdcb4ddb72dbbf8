#!/bin/sh
# bench/report.sh DIR: from DIR/raw.csv ("bench,tool,mb,rep,metric,ms")
# write DIR/report.md (median and spread per tool, size and metric, and
# the ratio of each peer to layersync measured in the same run) and
# DIR/layer_sync.png (gnuplot, if installed).
set -eu
dir=$1
csv=$dir/raw.csv
[ -s "$csv" ] || { echo "report: $csv is empty" >&2; exit 1; }

# median/min/max per bench,tool,mb,metric: "bench tool mb metric n median min max"
stats() {
	sort -t, -k1,1 -k2,2 -k3,3n -k5,5 -k6,6n "$csv" | awk -F, '
	function flush() {
		if (n == 0) return
		m = n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
		printf "%s %s %s %s %d %d %d %d\n", b, t, mb, me, n, m, v[1], v[n]
		n = 0
	}
	{ key = $1 " " $2 " " $3 " " $5
	  if (key != last) { flush(); last = key; b = $1; t = $2; mb = $3; me = $5 }
	  v[++n] = $6 }
	END { flush() }'
}
stats >"$dir/stats.txt"

{
	echo "# layersync benchmarks"
	echo
	echo "Machine: $(nproc) cores, kernel $(uname -r), $(date -u +%Y-%m-%d)."
	echo "Versions: $(cat "$dir/versions.txt" 2>/dev/null | paste -sd ';' | sed 's/;/; /g')."
	echo "Each figure is the median of the runs, with the spread (min-max);"
	echo "ratios are the peer's median over layersync's, measured in the same run."
	echo
	echo "## 1. Layer sync against layer size"
	echo
	echo "| layer | metric | layersync ms | rsync ms | rsync / layersync |"
	echo "|---|---|---|---|---|"
	awk '$1 == "layer_sync" { k = $3 " " $4; med[k, $2] = $6; sp[k, $2] = $7 "-" $8; n[k, $2] = $5; keys[k] = 1 }
	END {
		for (k in keys) {
			split(k, a, " ")
			l = med[k, "layersync"]; r = med[k, "rsync"]
			printf "| %s MB | %s | %d (%s, n=%d) | %d (%s, n=%d) | %s |\n", a[1],
			    (a[2] == "full" ? "first full sync" : "1 % change"), l, sp[k, "layersync"],
			    n[k, "layersync"], r, sp[k, "rsync"], n[k, "rsync"],
			    (l > 0 ? sprintf("%.2fx", r / l) : "-")
		}
	}' "$dir/stats.txt" | sort -t'|' -k2,2n -k3,3r
	echo
	echo "layersync's \"first full sync\" is \`add\`: it creates the stopped twin on"
	echo "beta (a \`podman create\`) and returns once the whole layer is durable there"
	echo "(fsync'd); rsync writes without fsync into an existing directory. The 1 %"
	echo "change is timed from the end of the writes: layersync has been shipping"
	echo "while they happened, which is its design, not a trick of the measure."
	echo
	[ -f "$dir/layer_sync.png" ] && echo "![layer sync](layer_sync.png)"
} >"$dir/report.md"

if command -v gnuplot >/dev/null 2>&1; then
	for t in layersync rsync; do
		awk -v t=$t '$1 == "layer_sync" && $4 == "full" && $2 == t { print $3, $6 }' \
			"$dir/stats.txt" >"$dir/full-$t.dat"
	done
	gnuplot <<-GP
	set terminal pngcairo size 800,480 noenhanced
	set output "$dir/layer_sync.png"
	set title "First full sync of a layer (median)"
	set xlabel "layer size (MB)"; set ylabel "ms"; set key left top; set grid
	plot "$dir/full-layersync.dat" using 1:2 with linespoints title "layersync add", \
	     "$dir/full-rsync.dat" using 1:2 with linespoints title "rsync -aHAX over ssh"
	GP
	rm -f "$dir"/full-*.dat
	grep -q 'layer_sync.png' "$dir/report.md" || echo "![layer sync](layer_sync.png)" >>"$dir/report.md"
fi
cat "$dir/report.md"
