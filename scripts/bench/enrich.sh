#!/usr/bin/env bash
# The enricher's core path on one core (issue 4: ≥ 150,000 events/s), against encoding/json in
# the same runs: RUNS separate 2 s runs of both benchmarks (on a noisy machine one long run is
# at the mercy of one bad minute), then the medians and their ratio.
set -euo pipefail
cd "$(dirname "$0")/../../services"
runs=${RUNS:-9}
bin=$(mktemp -d)/enrich.test
trap 'rm -rf "$(dirname "$bin")"' EXIT
go test -c -o "$bin" ./enrich
for i in $(seq "$runs"); do
	"$bin" -test.run '^$' -test.bench 'EnrichCore' -test.cpu 1 -test.benchtime "${BENCHTIME:-2s}" |
		awk -v i="$i" '/^BenchmarkEnrichCore/ { for (f = 1; f <= NF; f++) if ($f == "events/s") print $1, $(f-1) }'
done | sort -k1,1 -k2n | awk '
	{ v[$1, ++n[$1]] = $2; all[$1] = all[$1] " " $2 }
	END {
		for (k in n) { m[k] = v[k, int((n[k] + 1) / 2)]; printf "%-26s median %8d events/s  (runs:%s)\n", k, m[k], all[k] }
		printf "ratio to encoding/json: %.2f; target 150,000 events/s: %s\n", m["BenchmarkEnrichCore"] / m["BenchmarkEnrichCoreStdlib"],
			(m["BenchmarkEnrichCore"] >= 150000 ? "met" : "NOT MET")
	}'
