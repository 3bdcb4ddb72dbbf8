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

# The plots, one per benchmark (DIR/BENCH.png), made with gnuplot if it
# is installed; each reads a data file it writes in DIR and removes.
GP_HEAD='set terminal pngcairo size 800,480 noenhanced
set grid; set key left top'

# plot_vs_x BENCH METRIC TITLE XLABEL [log]: each tool's median of METRIC
# against x (a number); log: both axes logarithmic
plot_vs_x() {
	command -v gnuplot >/dev/null 2>&1 || return 0
	awk -v b="$1" -v m="$2" '$1 == b && $4 == m { f = 1 } END { exit !f }' \
		"$dir/stats.txt" || return 0
	plots=
	for t in $(awk -v b="$1" -v m="$2" '$1 == b && $4 == m { print $2 }' "$dir/stats.txt" | sort -u); do
		awk -v b="$1" -v m="$2" -v t="$t" '$1 == b && $4 == m && $2 == t { print $3, $6 }' \
			"$dir/stats.txt" | sort -n >"$dir/plot-$t.dat"
		plots="$plots${plots:+, }\"$dir/plot-$t.dat\" using 1:2 with linespoints title \"$t\""
	done
	gnuplot <<-GP
	$GP_HEAD
	set output "$dir/$1.png"
	set title "$3 (median)"
	set xlabel "$4"; set ylabel "ms"
	${5:+set logscale xy}
	plot $plots
	GP
	rm -f "$dir"/plot-*.dat
}

# plot_lag: each tool's p99 lag per load, and the burst's total, as bars
# on a log scale (the tools differ a hundredfold)
plot_lag() {
	command -v gnuplot >/dev/null 2>&1 || return 0
	tools=$(awk '$1 == "lag" && $4 == "p99_ms" { print $2 }' "$dir/stats.txt" | sort -u)
	[ -n "$tools" ] || return 0
	awk -v tools="$tools" '
	BEGIN { nt = split(tools, t, "\n"); line = "load"
		for (i = 1; i <= nt; i++) line = line " " t[i]
		print line }
	$1 == "lag" && (($4 == "p99_ms" && $3 != "burst") || ($3 == "burst" && $4 == "ms")) {
		v[$3, $2] = $6; if (!($3 in seen)) { seen[$3] = 1; loads[++nl] = $3 } }
	END { for (j = 1; j <= nl; j++) { line = loads[j]
		for (i = 1; i <= nt; i++) line = line " " (((loads[j], t[i]) in v) ? v[loads[j], t[i]] : "?")
		print line } }' "$dir/stats.txt" >"$dir/plot-lag.dat"
	n=$(echo "$tools" | wc -l)
	gnuplot <<-GP
	$GP_HEAD
	set output "$dir/lag.png"
	set title "Replication lag: p99 per load, the burst's total (median of the runs)"
	set ylabel "ms (log scale)"; set logscale y; set yrange [0.5:*]
	set datafile missing "?"
	set style data histogram; set style histogram cluster gap 1
	set style fill solid 0.8 border -1; set key outside right top
	plot for [i=2:$((n + 1))] "$dir/plot-lag.dat" using i:xtic(1) title columnheader(i)
	GP
	rm -f "$dir/plot-lag.dat"
}

# plot_failover: each trial's failover time, sorted, against the share
# of trials at or below it (the distribution, not just its median)
plot_failover() {
	command -v gnuplot >/dev/null 2>&1 || return 0
	plots=
	for how in cut kill; do
		awk -F, -v h="$how" '$1 == "failover" && $3 == h && $5 == "failover_ms" { print $6 }' \
			"$csv" | sort -n | awk '{ v[++n] = $1 } END { for (i = 1; i <= n; i++) print v[i], i / n }' \
			>"$dir/plot-$how.dat"
		[ -s "$dir/plot-$how.dat" ] || continue
		plots="$plots${plots:+, }\"$dir/plot-$how.dat\" using 1:2 with steps lw 2 title \"$how ($(wc -l <"$dir/plot-$how.dat") trials)\""
	done
	if [ -n "$plots" ]; then
		gnuplot <<-GP
		$GP_HEAD
		set output "$dir/failover.png"
		set title "Failover: primary lost to the VIP answering from the standby"
		set xlabel "ms"; set ylabel "share of trials"; set yrange [0:1.05]
		set key right bottom
		plot $plots
		GP
	fi
	rm -f "$dir/plot-cut.dat" "$dir/plot-kill.dat"
}

plot_vs_x layer_sync full "First full sync of a layer" "layer size (MB)"
plot_vs_x many avg_ms "Sync time per container, all changed" "containers on one host"
plot_vs_x ckpt_cost sync_ms "Standby in step: layersync (layer mode) against podman checkpoint, copy, restore" \
	"service memory (MB)" log
plot_lag
plot_failover
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
