#!/usr/bin/env bash
# make load: chat load against a fresh kibo (bin/kibo), by scripts/loadgen.
# Defaults are the load one machine is meant to carry: 2,000 visitors writing 2.5 messages a second
# each (5,000 msg/s offered) for 30 s, with one agent socket. Environment:
#   VISITORS, RATE, DURATION, RUNS (repeat, one JSON line each); extra arguments go to
#   loadgen (see `go run ./scripts/loadgen --help`), e.g. --durability normal.
set -euo pipefail
cd "$(dirname "$0")/.."
# the visitors' sockets and the server's: raise the soft limit on open files
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
export GOFLAGS=-tags=sqlite_fts5
[ -x bin/kibo ] || go build -o bin/kibo ./cmd/kibo
go build -o bin/loadgen ./scripts/loadgen
runs=${RUNS:-1}
for i in $(seq 1 "$runs"); do
	echo "== loadgen run $i/$runs (uptime: $(uptime))"
	bin/loadgen --bin bin/kibo --visitors "${VISITORS:-2000}" --rate "${RATE:-2.5}" --duration "${DURATION:-30s}" "$@"
done
