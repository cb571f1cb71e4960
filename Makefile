# Kibo: the two commands are `make run` and `make test`.
# SQLite's FTS5 (full-text search) is behind a build tag of go-sqlite3: every build,
# vet and test needs it.
TAGS    ?= sqlite_fts5
GOFLAGS := -tags=$(TAGS)
export GOFLAGS
# Where `make run` listens and keeps its data: `make run ADDR=0.0.0.0:8080 DATA=/srv/kibo`,
# or the variables kibo itself reads, `KIBO_ADDR=... KIBO_DATA=... make run`.
ADDR    ?= $(or $(KIBO_ADDR),127.0.0.1:8080)
DATA    ?= $(or $(KIBO_DATA),./data)

.PHONY: run build test vet fmt-check deps bench load crash soak spike backup mailbench gendata conform clean

run: build
	./bin/kibo serve --addr '$(ADDR)' --data '$(DATA)'

build:
	go build -o bin/kibo ./cmd/kibo

# Every test, with the real parts they need (Chromium, Dovecot) installed first.
test: deps fmt-check vet
	go test -race -count=1 -timeout 15m ./...

deps:
	bash scripts/test-deps.sh

vet:
	go vet ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

# Full-size runs (see BENCHMARKS.md); none of them runs in `make test` (small versions
# of the crash, backup and migration checks do). Each tool has --help.
bench:
	bash scripts/bench.sh

load: build
	bash scripts/load.sh

crash: build
	bash scripts/crash.sh

soak: build
	go run ./scripts/soak --bin bin/kibo --conns $${CONNS:-10000}

spike: build
	go run ./scripts/spike --bin bin/kibo

backup: build
	go run ./scripts/backupcheck --bin bin/kibo

# e-mail ingest: N messages appended to a throwaway Dovecot, time until all are stored
mailbench: build
	go run ./scripts/mailbench --bin bin/kibo --n $${N:-10000} --runs $${RUNS:-3}

# a large database for the benchmarks: make gendata OUT=/tmp/kibo-1m CONVS=1000000
gendata:
	go run ./scripts/gendata --out $${OUT:-/tmp/kibo-gen} --conversations $${CONVS:-100000} --messages $${MSGS:-10}

clean:
	rm -rf bin
