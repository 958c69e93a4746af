# osohost — see README.md. `make run` and `make test` are the two set-up commands.
GO        ?= go
BUILD     := build
BIN       := $(BUILD)/osohost
GUESTDIR  := $(BUILD)/guests
WASI_CC   ?= clang
WASI_CFLAGS := --target=wasm32-wasi -mexec-model=reactor -O2 -Wall -Wextra -Werror -std=c11 -Wl,--strip-debug
FUZZTIME  ?= 10s
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X main.version=$(VERSION)

GO_GUESTS := $(GUESTDIR)/queue.wasm $(GUESTDIR)/testguest.wasm $(GUESTDIR)/signer.wasm $(GUESTDIR)/signguest.wasm \
             $(GUESTDIR)/chaos.wasm $(GUESTDIR)/credguest.wasm $(GUESTDIR)/stateguest.wasm
C_GUESTS  := $(GUESTDIR)/status-c.wasm
GUESTS    := $(GO_GUESTS) $(C_GUESTS)

.PHONY: all build run test guests examples fmt-check vet fuzz bench clean image image-grep11dev play-up play-down contracts-check
all: build guests

build: $(BIN) $(BUILD)/osohost-credentials

$(BIN): FORCE
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $@ ./cmd/osohost

$(BUILD)/osohost-credentials: FORCE
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $@ ./cmd/osohost-credentials

FORCE:

guests examples: $(GUESTS)

$(GUESTDIR)/queue.wasm: FORCE
	@mkdir -p $(GUESTDIR)
	GOOS=wasip1 GOARCH=wasm $(GO) build -buildmode=c-shared -trimpath -o $@ ./examples/queue

$(GUESTDIR)/testguest.wasm: FORCE
	@mkdir -p $(GUESTDIR)
	GOOS=wasip1 GOARCH=wasm $(GO) build -buildmode=c-shared -trimpath -o $@ ./host/plugin/testdata/testguest

$(GUESTDIR)/status-c.wasm: examples/status-c/*.c guest-sdk/c/*.c guest-sdk/c/*.h
	@mkdir -p $(GUESTDIR)
	@command -v $(WASI_CC) >/dev/null || { echo "clang for wasm32-wasi is missing: apt-get install clang lld wasi-libc libclang-rt-14-dev-wasm32"; exit 1; }
	$(WASI_CC) $(WASI_CFLAGS) -Iguest-sdk/c -o $@ examples/status-c/*.c guest-sdk/c/oso.c

# run: build the binary and the example plugin, then serve it with a
# development PKI (generated once under .osohost/) on 127.0.0.1:4000.
# `make run PLUGIN=signer MODE=backend` serves the signing example instead.
PLUGIN ?= queue
MODE   ?= frontend
run: $(BIN) $(GUESTDIR)/$(PLUGIN).wasm
	$(BIN) run --dev --mode $(MODE) --listen 127.0.0.1:4000 $(GUESTDIR)/$(PLUGIN).wasm

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

test: fmt-check vet guests
	OSOHOST_GUESTS=$(abspath $(GUESTDIR)) OSOHOST_REQUIRE_GUESTS=1 $(GO) test -race -timeout 15m ./...

fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

bench: guests
	OSOHOST_GUESTS=$(abspath $(GUESTDIR)) $(GO) test -run '^$$' -bench . -benchmem -count 5 ./bench/ ./host/plugin/... ./host/schema/ | tee $(BUILD)/bench.txt

clean:
	rm -rf $(BUILD)

$(GUESTDIR)/signer.wasm: FORCE
	@mkdir -p $(GUESTDIR)
	GOOS=wasip1 GOARCH=wasm $(GO) build -buildmode=c-shared -trimpath -o $@ ./examples/signer

$(GUESTDIR)/stateguest.wasm: FORCE
	@mkdir -p $(GUESTDIR)
	GOOS=wasip1 GOARCH=wasm $(GO) build -buildmode=c-shared -trimpath -o $@ ./host/hostcall/testdata/stateguest

$(GUESTDIR)/credguest.wasm: FORCE
	@mkdir -p $(GUESTDIR)
	GOOS=wasip1 GOARCH=wasm $(GO) build -buildmode=c-shared -trimpath -o $@ ./host/hostcall/testdata/credguest

$(GUESTDIR)/chaos.wasm: FORCE
	@mkdir -p $(GUESTDIR)
	GOOS=wasip1 GOARCH=wasm $(GO) build -buildmode=c-shared -trimpath -o $@ ./examples/chaos

$(GUESTDIR)/signguest.wasm: FORCE
	@mkdir -p $(GUESTDIR)
	GOOS=wasip1 GOARCH=wasm $(GO) build -buildmode=c-shared -trimpath -o $@ ./host/hostcall/testdata/signguest

# Deployment (contracts/, docs/deploy.md). `make image` builds the osohost
# image offline with podman or buildah: the static binary is built here and
# put, with the example plugins and CA roots, on a scratch base
# (contracts/image/build.sh; IMAGE=, TAG=, VERSION= override the defaults).
# `make play-up` / `make play-down` run a frontend, a backend and the
# development GREP11 server under `podman kube play` (contracts/local/).
# `make contracts-check` runs the contract checks including the real image
# build and a podman play dry run (OSOHOST_IMAGE_TEST=1).
image: $(GUESTDIR)/queue.wasm $(GUESTDIR)/signer.wasm
	VERSION='$(VERSION)' GUESTS='$(GUESTDIR)' GO='$(GO)' contracts/image/build.sh osohost

image-grep11dev:
	VERSION='$(VERSION)' GO='$(GO)' contracts/image/build.sh grep11dev

play-up: $(BIN) image image-grep11dev
	OSOHOST='$(abspath $(BIN))' OUT='$(abspath $(BUILD))/local' contracts/local/play.sh up

play-down:
	OUT='$(abspath $(BUILD))/local' contracts/local/play.sh down

contracts-check: $(GUESTDIR)/queue.wasm $(GUESTDIR)/signer.wasm
	OSOHOST_IMAGE_TEST=1 OSOHOST_GUESTS=$(abspath $(GUESTDIR)) $(GO) test -count=1 -timeout 20m ./contracts/...

# demo: a frontend (examples/queue) and a backend (examples/signer, software
# keystore) on loopback ports with a development PKI under build/demo/, and
# `osohost mock` moving documents between them over HTTP/2, then HTTP/3,
# until the signed documents are back at the frontend (scripts/demo.sh).
.PHONY: demo
demo: $(BIN) $(GUESTDIR)/queue.wasm $(GUESTDIR)/signer.wasm
	sh scripts/demo.sh $(BUILD)
