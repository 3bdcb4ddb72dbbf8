#!/bin/sh
# bench/tree.sh DIR MB SEED: fill DIR with about MB megabytes of files of
# mixed sizes, the same tree for the same MB and SEED: by bytes, 20 % in
# small files (1-16 KiB), 40 % in medium ones (64 KiB-1 MiB), 40 % in large
# ones (2-16 MiB), in 60 directories two levels deep. Contents are
# pseudo-random (incompressible), so that no tool wins by compressing.
set -eu
dir=$1 mb=$2 seed=$3
mkdir -p "$dir"
awk -v mb="$mb" -v seed="$seed" 'BEGIN {
	srand(seed); n = 0
	want[0] = 0.2 * mb * 1048576; lo[0] = 1024; span[0] = 15360
	want[1] = 0.4 * mb * 1048576; lo[1] = 65536; span[1] = 983040
	want[2] = 0.4 * mb * 1048576; lo[2] = 2097152; span[2] = 14680064
	for (c = 0; c < 3; c++)
		while (want[c] > 0) {
			size = lo[c] + int(rand() * span[c])
			if (size > want[c]) size = int(want[c])
			if (size < 1) break
			printf "d%02d/s%d/f%05d %d\n", n % 20, n % 3, n, size
			want[c] -= size; n++
		}
}' | while read -r path size; do
	mkdir -p "$dir/${path%/*}"
	head -c "$size" /dev/urandom >"$dir/$path"
done
