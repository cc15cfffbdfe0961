# headwater: `make run` serves with embedded defaults; `make test` installs what
# the tests need (ffmpeg) and runs them under the race detector.

GO       ?= go
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -X main.version=$(VERSION)
BIN      := bin/headwater
PKGS     := ./...
TESTTIMEOUT ?= 8m

.PHONY: all build run test test-short deps bench lint fmt clean

all: build

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/headwater

run: build
	./$(BIN)

## deps: installs ffmpeg/ffprobe with apt-get when missing (tests drive real peers).
deps:
	@scripts/install-deps.sh

## test: unit + integration tests, race detector on; also the patched go-rtmp's own tests.
test: deps
	$(GO) vet $(PKGS)
	$(GO) test -race -count=1 -timeout $(TESTTIMEOUT) $(PKGS)
	cd third_party/go-rtmp && $(GO) test -race -count=1 -timeout 5m ./...

## test-short: unit tests only (no ffmpeg needed).
test-short:
	$(GO) test -race -short -count=1 $(PKGS)

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./internal/...

lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1; }
	$(GO) vet $(PKGS)

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf bin
