#!/usr/bin/env bash
# bench/collapse.sh: perf script -> folded, hotloop collapse against
# stackcollapse-perf.pl on the same file, in the same run.
#
#   bench/collapse.sh /path/to/FlameGraph/stackcollapse-perf.pl [copies]
#
# The input is FlameGraph's example-perf-stacks capture from the shared peer
# corpus (../shared/peers), repeated `copies` times (default 60: 188 MB).
# FlameGraph is not part of this repository: fetch it yourself
# (git clone https://github.com/brendangregg/FlameGraph). Both outputs must be
# byte-identical; the script prints CPU seconds (user+sys) and wall seconds of
# each, best of 3, and the ratio.
set -euo pipefail
scp=${1:?usage: bench/collapse.sh /path/to/stackcollapse-perf.pl [copies]}
copies=${2:-60}
root=$(cd "$(dirname "$0")/.." && pwd)
gz="$root/../shared/peers/flamegraph-pl/example-perf-stacks.txt.gz"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

(cd "$root" && go build -o "$tmp/hotloop" ./cmd/hotloop)
gunzip -c "$gz" > "$tmp/one.txt"
for _ in $(seq "$copies"); do cat "$tmp/one.txt"; done > "$tmp/in.txt"
size=$(wc -c < "$tmp/in.txt")

# best_of CMD...: runs CMD 3 times, prints "cpu wall" of the fastest (by CPU).
best_of() {
	local best_cpu= best_wall= me=$BASHPID
	for _ in 1 2 3; do
		local t0 t1 c0 c1
		t0=$(date +%s.%N)
		c0=$(awk '{print $14+$15+$16+$17}' /proc/$me/stat)
		"$@"
		t1=$(date +%s.%N)
		c1=$(awk '{print $14+$15+$16+$17}' /proc/$me/stat)
		local cpu wall
		cpu=$(echo "($c1-$c0)/$(getconf CLK_TCK)" | bc -l)
		wall=$(echo "$t1-$t0" | bc -l)
		if [ -z "$best_cpu" ] || [ "$(echo "$cpu < $best_cpu" | bc -l)" = 1 ]; then
			best_cpu=$cpu best_wall=$wall
		fi
	done
	printf '%.3f %.3f\n' "$best_cpu" "$best_wall"
}

run_perl() { perl "$scp" "$tmp/in.txt" > "$tmp/perl.folded" 2> /dev/null; }
run_hotloop() { "$tmp/hotloop" collapse --format perf "$tmp/in.txt" > "$tmp/hotloop.folded"; }

read -r perl_cpu perl_wall < <(best_of run_perl)
read -r hl_cpu hl_wall < <(best_of run_hotloop)
cmp "$tmp/perl.folded" "$tmp/hotloop.folded"

echo "input: example-perf-stacks x$copies, $size bytes; outputs identical ($(wc -l < "$tmp/hotloop.folded") stacks)"
echo "machine: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
printf 'stackcollapse-perf.pl: %6.3f s CPU, %6.3f s wall, %7.1f MB/s (CPU)\n' "$perl_cpu" "$perl_wall" "$(echo "$size/$perl_cpu/1000000" | bc -l)"
printf 'hotloop collapse:      %6.3f s CPU, %6.3f s wall, %7.1f MB/s (CPU)\n' "$hl_cpu" "$hl_wall" "$(echo "$size/$hl_cpu/1000000" | bc -l)"
printf 'ratio: %.1fx (CPU), %.1fx (wall)\n' "$(echo "$perl_cpu/$hl_cpu" | bc -l)" "$(echo "$perl_wall/$hl_wall" | bc -l)"
