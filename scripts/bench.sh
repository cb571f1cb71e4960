#!/usr/bin/env bash
# make bench: the store benchmarks (store/bench_test.go). With CONVS set, a database of
# that many conversations (MSGS messages each on average, default 10) is generated
# once into BENCH_DIR (default /tmp/kibo-bench-$CONVS) by scripts/gendata and reused;
# with KIBO_BENCH_DB set, that database is used; with neither, the benchmarks make a
# small one themselves. COUNT (default 3) repeats every benchmark; BENCH picks them
# (a -bench pattern, default every one); BENCHTIME (default 2s).
#   CONVS=1000000 make bench      1M conversations, 10M messages (about 5 minutes to make)
set -euo pipefail
cd "$(dirname "$0")/.."
export GOFLAGS=-tags=sqlite_fts5
if [ -z "${KIBO_BENCH_DB:-}" ] && [ -n "${CONVS:-}" ]; then
	KIBO_BENCH_DB=${BENCH_DIR:-/tmp/kibo-bench-$CONVS}
	if [ ! -f "$KIBO_BENCH_DB/kibo.db" ]; then
		go run ./scripts/gendata --out "$KIBO_BENCH_DB" --conversations "$CONVS" --messages "${MSGS:-10}"
	fi
fi
export KIBO_BENCH_DB=${KIBO_BENCH_DB:-}
echo "== store benchmarks on ${KIBO_BENCH_DB:-a small generated database} (uptime: $(uptime))"
go test -run '^$' -bench "${BENCH:-.}" -benchtime "${BENCHTIME:-2s}" -count "${COUNT:-3}" -timeout 60m ./store/
