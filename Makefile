# Kibo: the two commands are `make run` and `make test`.
# SQLite's FTS5 (full-text search) is behind a build tag of go-sqlite3: every build,
# vet and test needs it.
TAGS    ?= sqlite_fts5
GOFLAGS := -tags=$(TAGS)
export GOFLAGS
ADDR    ?= 127.0.0.1:8080
DATA    ?= ./data

.PHONY: run build test vet fmt-check deps bench load crash conform clean

run: build
	./bin/kibo serve --addr $(ADDR) --data $(DATA)

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

# Full-size runs (see BENCHMARKS.md); none of them runs in `make test`.
bench:
	go test -run '^$$' -bench . -benchtime 2s ./store/

load: build
	bash scripts/load.sh

crash: build
	bash scripts/crash.sh

clean:
	rm -rf bin
