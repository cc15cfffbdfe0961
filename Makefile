# headwater: `make run` serves with embedded defaults; `make test` installs what
# the tests need (ffmpeg, rtmpdump, GStreamer, chromium, redis-server) and runs them under the race detector.

GO       ?= go
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -X main.version=$(VERSION)
BIN      := bin/headwater
PKGS     := ./...
TESTTIMEOUT ?= 8m

.PHONY: all build run test test-short deps bench bench-compare bench-rtmp bench-hls lint fmt clean torture fuzz soak web-vendor web-screenshot

DURATION ?= 60s
FUZZTIME ?= 5s

all: build

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/headwater

run: build
	./$(BIN)

## deps: installs ffmpeg/ffprobe, rtmpdump, GStreamer (rtmp2src, rtmpsrc,
## flvdemux), chromium and redis-server with apt-get when missing (tests
## drive real peers, a headless browser and a real Redis).
deps:
	@scripts/install-deps.sh

## test: lint (gofmt, vet, staticcheck), then unit + integration tests (including a 10 s torture run) with the race
## detector; the whole suite again with the lock-order detector (-tags
## deadlock, see docs/lockcheck.md); every fuzz target for 1 s; the
## patched go-rtmp's, go-amf0's and gohlslib's own tests.
test: deps lint
	TORTURE_DURATION=10s $(GO) test -race -count=1 -timeout $(TESTTIMEOUT) $(PKGS)
	TORTURE_DURATION=5s $(GO) test -tags deadlock -count=1 -timeout $(TESTTIMEOUT) $(PKGS)
	FUZZTIME=1s scripts/fuzz.sh
	cd third_party/go-rtmp && $(GO) test -race -count=1 -timeout 5m ./...
	cd third_party/go-amf0 && $(GO) test -race -count=1 -timeout 5m ./...
	cd third_party/gohlslib && $(GO) test -race -count=1 -timeout 5m ./...

## torture: the seeded chaos test for DURATION (default 60s); TORTURE_SEED=N replays.
torture: deps
	TORTURE_DURATION=$(DURATION) $(GO) test -race -count=1 -timeout 2h -run '^TestTorture$$' -v ./internal/e2e/

## fuzz: every fuzz target for FUZZTIME each (default 5s).
fuzz:
	FUZZTIME=$(FUZZTIME) scripts/fuzz.sh

## soak: the real binary under churning ffmpeg publishers and players for
## DURATION (make soak DURATION=30m); CSV, PNG and summary in docs/soak/.
SOAK_DURATION := $(if $(filter command line environment,$(origin DURATION)),$(DURATION),30m)
soak: deps
	DURATION=$(SOAK_DURATION) scripts/soak.sh

## bench-compare: the same hwbench scenario against headwater and
## Node-Media-Server (installed from npm into a temporary directory),
## alternately, ROUNDS times each; prints one markdown table (also in
## bin/bench-compare/table.md). Variables: PLAYERS, DURATION (measured
## window, default 30s), ROUNDS, SIZE, BITRATE; scripts/bench-compare.sh
## lists the rest. Takes /tmp/hw-heavy.lock for the runs.
PLAYERS  ?= 1000
ROUNDS   ?= 2
SIZE     ?= 1280x720
BITRATE  ?= 2500k
BENCH_DURATION := $(if $(filter command line environment,$(origin DURATION)),$(DURATION),30s)
bench-compare:
	PLAYERS=$(PLAYERS) DURATION=$(BENCH_DURATION) ROUNDS=$(ROUNDS) SIZE=$(SIZE) BITRATE=$(BITRATE) scripts/bench-compare.sh

## bench-rtmp: RTMP play and edges side by side: the same hwbench scenario
## against headwater with HTTP-FLV and with RTMP players, lal with RTMP
## players (built from LAL_SRC, or cloned at LAL_VERSION into a temporary
## directory), and a headwater edge of a headwater origin with HTTP-FLV and
## with RTMP players, alternately, ROUNDS times each; prints one markdown
## table (also in bin/bench-rtmp/table.md). Variables: PLAYERS, DURATION
## (measured window, default 30s), ROUNDS, SIZE, BITRATE, SCENARIOS,
## LAL_SRC; scripts/bench-rtmp.sh lists the rest. Takes /tmp/hw-heavy.lock
## for the runs.
bench-rtmp:
	PLAYERS=$(PLAYERS) DURATION=$(BENCH_DURATION) ROUNDS=$(ROUNDS) SIZE=$(SIZE) BITRATE=$(BITRATE) scripts/bench-rtmp.sh

## bench-hls: HLS players next to HTTP-FLV ones: the same hwbench scenario
## against a fresh headwater with HLS players (default hls.*), LL-HLS
## players (HEADWATER_HLS_LOW_LATENCY=true) and HTTP-FLV players, ROUNDS
## times each (default 200 players, 1 round); prints one markdown table
## (also in bin/bench-hls/table.md). Variables: PLAYERS, DURATION (measured
## window, default 30s), ROUNDS, SIZE, BITRATE, SCENARIOS;
## scripts/bench-hls.sh lists the rest. Takes /tmp/hw-heavy.lock for the runs.
bench-hls:
	$(if $(filter command line environment,$(origin PLAYERS)),PLAYERS=$(PLAYERS)) $(if $(filter command line environment,$(origin ROUNDS)),ROUNDS=$(ROUNDS)) DURATION=$(BENCH_DURATION) SIZE=$(SIZE) BITRATE=$(BITRATE) scripts/bench-hls.sh

## web-vendor: re-vendors the web UI's libraries (mpegts.js, uPlot, hls.js) from
## the npm registry into internal/web/static/vendor/, at the versions
## pinned in scripts/vendor-web.sh.
web-vendor:
	scripts/vendor-web.sh mpegts.js
	scripts/vendor-web.sh uplot
	scripts/vendor-web.sh hls.js

## web-screenshot: runs the charts browser test (a real ffmpeg stream and
## player) and keeps its screenshots of the dashboard and the stream page
## as docs/img/dashboard.png and docs/img/stream.png (the README's).
web-screenshot: deps
	@mkdir -p docs/img
	HW_ARTIFACTS=$(CURDIR)/bin/artifacts $(GO) test -count=1 -run '^TestBrowserChartsAndStreamPage$$' ./internal/e2e/
	cp bin/artifacts/dashboard.png docs/img/dashboard.png
	cp bin/artifacts/stream.png docs/img/stream.png

## test-short: unit tests only (no ffmpeg needed).
test-short:
	$(GO) test -race -short -count=1 $(PKGS)

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./internal/...

## lint: gofmt, go vet and staticcheck (installed into bin/ at the pinned
## version on first use, from the Go module proxy). Findings are fixed, or
## justified in place with //lint:ignore CHECK reason.
STATICCHECK_VERSION := v0.8.2
STATICCHECK := bin/staticcheck-$(STATICCHECK_VERSION)
lint: $(STATICCHECK)
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1; }
	$(GO) vet $(PKGS)
	$(STATICCHECK) $(PKGS)

$(STATICCHECK):
	@mkdir -p bin
	GOBIN=$(CURDIR)/bin/.staticcheck $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	mv bin/.staticcheck/staticcheck $@ && rmdir bin/.staticcheck

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf bin
