#!/usr/bin/env bash
# make crash: SIGKILL kibo (bin/kibo) KILLS times at random moments under chat load,
# restart it, then one SIGTERM round; check through the API that every acknowledged
# message is stored exactly once (scripts/crashtest). Environment: KILLS (default 25),
# VISITORS (50), RUNS (1); extra arguments go to crashtest.
set -euo pipefail
cd "$(dirname "$0")/.."
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
export GOFLAGS=-tags=sqlite_fts5
[ -x bin/kibo ] || go build -o bin/kibo ./cmd/kibo
go build -o bin/crashtest ./scripts/crashtest
runs=${RUNS:-1}
for i in $(seq 1 "$runs"); do
	echo "== crashtest run $i/$runs (uptime: $(uptime))"
	bin/crashtest --bin bin/kibo --kills "${KILLS:-25}" --visitors "${VISITORS:-50}" "$@"
done
