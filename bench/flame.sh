#!/usr/bin/env bash
# bench/flame.sh: folded stacks -> SVG throughput and memory of `hotloop flame`,
# side by side with flamegraph.pl on the same input.
#
# usage: bench/flame.sh [path/to/flamegraph.pl]
#
# The Go benchmark (one core) generates a ~64 MB / ~80k-line folded file by
# replicating the real captures of ../shared/peers (writeBigFolded in
# flame/bench_test.go) and also writes it to $OUT (default: a fresh temp dir;
# nothing is written to the repository); then the built binary and, if given,
# flamegraph.pl are timed on it with /usr/bin/time -v. It never downloads or builds
# flamegraph.pl: pass the path of a local copy.
set -euo pipefail
cd "$(dirname "$0")/.."
FLAMEGRAPH_PL=${1:-}
OUT=${OUT:-$(mktemp -d)}
mkdir -p "$OUT"
IN=$OUT/big.folded

echo "# machine: $(nproc) cores, load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# go benchmark (one core); it also writes its input to $IN"
go test ./flame/ -run '^$' -bench '^BenchmarkFoldedToSVG$' -benchtime 10x -count 3 -cpu 1 -bigfolded "$IN" | grep -E '^Benchmark'
SIZE=$(stat -c %s "$IN")
echo "input: $SIZE bytes, $(wc -l < "$IN") lines"

go build -o "$OUT/hotloop" ./cmd/hotloop

# measure CMD... -> prints wall s, user+sys s, max RSS KiB
measure() {
	/usr/bin/time -v "$@" 2>"$OUT/time.txt" >/dev/null || { cat "$OUT/time.txt"; exit 1; }
	awk -F': ' '
		/Elapsed \(wall clock\)/ { n = split($2, t, ":"); wall = (n == 3) ? t[1]*3600 + t[2]*60 + t[3] : t[1]*60 + t[2] }
		/User time/ { cpu += $2 } /System time/ { cpu += $2 }
		/Maximum resident/ { rss = $2 }
		END { printf "%.2f %.2f %d\n", wall, cpu, rss }' "$OUT/time.txt"
}

report() { # name wall cpu rss
	awk -v n="$1" -v w="$2" -v c="$3" -v r="$4" -v s="$SIZE" 'BEGIN {
		printf "%-14s wall %6.2f s  cpu %6.2f s  %7.1f MB/s (cpu)  peak RSS %6.1f MB (input %.1f MB)\n",
			n, w, c, (c > 0 ? s / c / 1e6 : 0), r / 1024, s / 1048576 }'
}

read -r w c r < <(measure "$OUT/hotloop" flame "$IN" -o "$OUT/hotloop.svg")
report "hotloop flame" "$w" "$c" "$r"
echo "SVG: $(stat -c %s "$OUT/hotloop.svg") bytes, $(grep -c '^<g><title>' "$OUT/hotloop.svg") frames"
HC=$c

if [ -n "$FLAMEGRAPH_PL" ]; then
	read -r w c r < <(measure perl "$FLAMEGRAPH_PL" "$IN")
	report "flamegraph.pl" "$w" "$c" "$r"
	awk -v a="$c" -v b="$HC" 'BEGIN { if (b > 0) printf "ratio (cpu time): hotloop is %.0fx faster\n", a / b }'
fi
echo "# files in $OUT"
