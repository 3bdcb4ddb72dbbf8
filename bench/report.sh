#!/bin/sh
# bench/report.sh DIR: from DIR/raw.csv (rows "bench,tool,x,rep,metric,value")
# write DIR/stats.txt (median, min, max per bench, tool, x and metric),
# DIR/report.md and PNG plots (gnuplot, if installed).
#
# report.md has one section per benchmark found in raw.csv, in the order of
# SECTIONS: a table of each tool's median with its spread and count, and
# for every peer the ratio of its median to layersync's (measured in the same
# run), then the text of bench/NAME.md. Last, the targets of bench/targets,
# each judged met, not met or not measured on this run's medians.
set -eu
dir=$1
here=$(cd "$(dirname "$0")" && pwd)
csv=$dir/raw.csv
[ -s "$csv" ] || { echo "report: $csv is empty" >&2; exit 1; }

SECTIONS="layer_sync:1. Layer sync against layer size
many:2. Many containers on one host
ckpt_cost:3. Checkpoint cost against memory size
lag:4. Replication lag
failover:5. Failover
scaling:6. Scaling"

# "bench tool x metric n median min max", medians of integers rounded down
sort -t, -k1,1 -k2,2 -k3,3 -k5,5 -k6,6n "$csv" | awk -F, '
function flush() {
	if (n == 0) return
	m = n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
	printf "%s %s %s %s %d %g %g %g\n", b, t, x, me, n, m, v[1], v[n]
	n = 0
}
{ key = $1 " " $2 " " $3 " " $5
  if (key != last) { flush(); last = key; b = $1; t = $2; x = $3; me = $5 }
  v[++n] = $6 }
END { flush() }' >"$dir/stats.txt"

# section BENCH: the table of one benchmark
section() {
	awk -v bench="$1" '
	$1 != bench { next }
	{
		k = $3 SUBSEP $4
		if (!(k in seen)) { seen[k] = 1; keys[++nk] = k }
		if (!($2 in tseen)) { tseen[$2] = 1; if ($2 != "layersync") peers[++np] = $2 }
		med[k, $2] = $6; cell[k, $2] = sprintf("%g (%g-%g, n=%d)", $6, $7, $8, $5)
	}
	END {
		hdr = "| x | metric |"; sep = "|---|---|"
		if ("layersync" in tseen) { hdr = hdr " layersync |"; sep = sep "---|" }
		for (i = 1; i <= np; i++) { hdr = hdr " " peers[i] " |"; sep = sep "---|" }
		if ("layersync" in tseen)
			for (i = 1; i <= np; i++) { hdr = hdr " " peers[i] " / layersync |"; sep = sep "---|" }
		print hdr; print sep
		for (j = 1; j <= nk; j++) {
			k = keys[j]; split(k, a, SUBSEP)
			line = "| " a[1] " | " a[2] " |"
			if ("layersync" in tseen) line = line " " (((k, "layersync") in cell) ? cell[k, "layersync"] : "-") " |"
			for (i = 1; i <= np; i++) line = line " " (((k, peers[i]) in cell) ? cell[k, peers[i]] : "-") " |"
			if ("layersync" in tseen)
				for (i = 1; i <= np; i++) {
					r = "-"
					if (((k, peers[i]) in med) && ((k, "layersync") in med) && med[k, "layersync"] > 0)
						r = sprintf("%.2fx", med[k, peers[i]] / med[k, "layersync"])
					line = line " " r " |"
				}
			print line
		}
	}' "$dir/stats.txt" | { read -r h; read -r s; echo "$h"; echo "$s"; sort -t'|' -k2,2n -k3,3; }
}

# targets: judge each line of bench/targets against this run's medians
# (a metric "A/B" is the ratio of two of the tool's medians, judged le)
targets() {
	awk -F'|' -v stats="$dir/stats.txt" '
	BEGIN { while ((getline l < stats) > 0) { split(l, a, " "); med[a[1], a[2], a[3], a[4]] = a[6] } }
	/^#/ || NF < 7 { next }
	{
		text = $1; b = $2; x = $3; me = $4; tool = $5; op = $6; th = $7
		if (split(me, m2, "/") == 2) {	# a ratio of two metrics
			if (((b, tool, x, m2[1]) in med) && ((b, tool, x, m2[2]) in med) && med[b, tool, x, m2[2]] > 0) {
				v = med[b, tool, x, m2[1]] / med[b, tool, x, m2[2]]
				printf "| %s | %.2f | %s |\n", text, v, (v <= th ? "met" : "not met")
			} else printf "| %s | - | not measured in this run |\n", text
		} else if (op == "le") {
			if ((b, tool, x, me) in med) {
				v = med[b, tool, x, me]
				printf "| %s | %g | %s |\n", text, v, (v <= th ? "met" : "not met")
			} else printf "| %s | - | not measured in this run |\n", text
		} else if (op == "ratio_ge") {
			if (((b, tool, x, me) in med) && ((b, "layersync", x, me) in med) && med[b, "layersync", x, me] > 0) {
				v = med[b, tool, x, me] / med[b, "layersync", x, me]
				printf "| %s | %.2fx | %s |\n", text, v, (v >= th ? "met" : "not met")
			} else printf "| %s | - | not measured in this run |\n", text
		}
	}' "$here/targets"
}

# plot the first full sync of each tool against the layer size
plot_layer_sync() {
	command -v gnuplot >/dev/null 2>&1 || return 0
	grep -q '^layer_sync .* full ' "$dir/stats.txt" || return 0
	plots=
	for t in $(awk '$1 == "layer_sync" { print $2 }' "$dir/stats.txt" | sort -u); do
		awk -v t="$t" '$1 == "layer_sync" && $4 == "full" && $2 == t { print $3, $6 }' \
			"$dir/stats.txt" | sort -n >"$dir/full-$t.dat"
		plots="$plots${plots:+, }\"$dir/full-$t.dat\" using 1:2 with linespoints title \"$t\""
	done
	gnuplot <<-GP
	set terminal pngcairo size 800,480 noenhanced
	set output "$dir/layer_sync.png"
	set title "First full sync of a layer (median)"
	set xlabel "layer size (MB)"; set ylabel "ms"; set key left top; set grid
	plot $plots
	GP
	rm -f "$dir"/full-*.dat
}

plot_layer_sync
{
	echo "# layersync benchmarks"
	echo
	echo "Machine: $(nproc) cores, kernel $(uname -r), $(date -u +%Y-%m-%d)."
	echo "Versions: $(paste -sd ';' "$dir/versions.txt" 2>/dev/null | sed 's/;/; /g')."
	echo "Each cell is the median of the runs, with the spread (min-max) and"
	echo "the count; values are milliseconds unless the metric names its unit."
	echo "A ratio is the peer's median over layersync's, measured in the same"
	echo "run (above 1: layersync is faster)."
	echo
	echo "## Targets"
	echo
	echo "| target | this run | verdict |"
	echo "|---|---|---|"
	targets
	echo
	echo "$SECTIONS" | while IFS=: read -r b title; do
		grep -q "^$b " "$dir/stats.txt" || continue
		echo "## $title"
		echo
		section "$b"
		echo
		if [ -f "$here/$b.md" ]; then cat "$here/$b.md"; echo; fi
		if [ -f "$dir/$b.png" ]; then echo "![$b]($b.png)"; echo; fi
	done
} >"$dir/report.md"
cat "$dir/report.md"
