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
             $(GUESTDIR)/chaos.wasm $(GUESTDIR)/credguest.wasm $(GUESTDIR)/stateguest.wasm \
             $(GUESTDIR)/isvroutes.wasm
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

guests examples: $(GUESTS) examples-all

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

test: fmt-check vet guests guest-sdk-tests
	OSOHOST_GUESTS=$(abspath $(GUESTDIR)) OSOHOST_REQUIRE_GUESTS=1 $(GO) test -race -timeout 15m ./...

fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

# bench: the signing-path benchmark suite (bench/README.md): examples/signer
# served by osohost under load against native Go and the Python peer, then
# the Go benchmarks of bench/; rewrites the generated section of
# docs/bench.md and the charts in docs/bench/. `make bench QUICK=1` runs it
# in a few minutes. The Python peer needs Debian's nginx, gunicorn,
# python3-flask, python3-cryptography and python3-pydantic (skipped with a
# note otherwise); fsyncs per request need strace, the CPU profile perf.
bench: $(BIN) guests
	$(GO) run ./cmd/osobench suite $(if $(QUICK),--quick) --osohost $(BIN) --guests $(GUESTDIR) \
	  --doc docs/bench.md --charts docs/bench --results $(BUILD)/bench/results.json

clean:
	rm -rf $(BUILD)

$(GUESTDIR)/signer.wasm: FORCE
	@mkdir -p $(GUESTDIR)
	GOOS=wasip1 GOARCH=wasm $(GO) build -buildmode=c-shared -trimpath -o $@ ./examples/signer

$(GUESTDIR)/isvroutes.wasm: FORCE
	@mkdir -p $(GUESTDIR)
	GOOS=wasip1 GOARCH=wasm $(GO) build -buildmode=c-shared -trimpath -o $@ ./examples/isvroutes

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

# bench-go: the Go benchmarks alone, the runtime's included (host/plugin,
# host/schema), as text for benchstat.
bench-go: guests
	OSOHOST_GUESTS=$(abspath $(GUESTDIR)) $(GO) test -run '^$$' -bench . -benchmem -count 5 ./bench/ ./host/plugin/... ./host/schema/ | tee $(BUILD)/bench.txt

# Guests in C, Rust and AssemblyScript (guest-sdk/c, guest-sdk/rust,
# guest-sdk/assemblyscript; docs/guest-*.md) and two plugins built with
# Extism's AssemblyScript PDK. `make examples-all` builds them all into
# $(GUESTDIR); each target stops with the package to install when its
# toolchain is missing. `make guest-sdk-tests` runs the SDKs' own unit
# tests natively (the guests themselves run in guest-sdk/conformance).
RUSTC      ?= /usr/bin/rustc
RUST_FLAGS := --edition 2021 --target wasm32-wasi -C opt-level=2 -C panic=abort -C link-arg=--strip-debug
RUST_LIB   := $(BUILD)/rust/liboso.rlib
NPM        ?= npm
AS_SDK     := guest-sdk/assemblyscript
ASC        := $(AS_SDK)/node_modules/.bin/asc
ASC_FLAGS  := --config $(AS_SDK)/asconfig.json --use abort=$(AS_SDK)/assembly/abort/osoAbort
EXTISM_AS  := examples/extism-as
SIGNER_EXTISM := examples/signer-extism

.PHONY: examples-all examples-c examples-rust examples-as examples-extism-as examples-signer-extism guest-sdk-tests
examples-all: examples-c examples-rust examples-as examples-extism-as examples-signer-extism
examples-c: $(GUESTDIR)/signer-c.wasm
examples-rust: $(GUESTDIR)/signer-rust.wasm
examples-as: $(GUESTDIR)/signer-as.wasm
examples-extism-as: $(GUESTDIR)/extism-as.wasm
examples-signer-extism: $(GUESTDIR)/signer-extism.wasm

need-clang = @command -v $(WASI_CC) >/dev/null && test -f /usr/include/wasm32-wasi/stdlib.h || { echo "clang for wasm32-wasi is missing: apt-get install clang lld wasi-libc libclang-rt-14-dev-wasm32"; exit 1; }
need-rustc = @test -d "$$($(RUSTC) --print target-libdir --target wasm32-wasi 2>/dev/null)" || { echo "rustc with the wasm32-wasi standard library is missing: apt-get install rustc libstd-rust-dev-wasm32 (RUSTC=$(RUSTC); rustup's toolchain has no wasm32-wasi target here)"; exit 1; }
need-npm   = @command -v node >/dev/null && command -v $(NPM) >/dev/null || { echo "node and npm are missing: apt-get install nodejs (Node.js 20 or later, with npm)"; exit 1; }

$(GUESTDIR)/signer-c.wasm: examples/signer-c/*.c guest-sdk/c/*.c guest-sdk/c/*.h
	$(need-clang)
	@mkdir -p $(GUESTDIR)
	$(WASI_CC) $(WASI_CFLAGS) -Iguest-sdk/c -o $@ examples/signer-c/*.c guest-sdk/c/oso.c

$(RUST_LIB): guest-sdk/rust/src/*.rs
	$(need-rustc)
	@mkdir -p $(dir $@)
	$(RUSTC) $(RUST_FLAGS) --crate-type rlib --crate-name oso -o $@ guest-sdk/rust/src/lib.rs

$(GUESTDIR)/signer-rust.wasm: examples/signer-rust/src/*.rs $(RUST_LIB)
	@mkdir -p $(GUESTDIR)
	$(RUSTC) $(RUST_FLAGS) --crate-type cdylib --crate-name signer_rust --extern oso=$(RUST_LIB) -o $@ examples/signer-rust/src/lib.rs

$(ASC): $(AS_SDK)/package.json $(AS_SDK)/package-lock.json
	$(need-npm)
	cd $(AS_SDK) && $(NPM) ci --no-audit --no-fund
	@touch $@

$(GUESTDIR)/signer-as.wasm: examples/signer-as/assembly/*.ts $(AS_SDK)/assembly/*.ts $(AS_SDK)/asconfig.json $(ASC)
	@mkdir -p $(GUESTDIR)
	$(ASC) examples/signer-as/assembly/index.ts $(ASC_FLAGS) -o $@

$(EXTISM_AS)/node_modules/.bin/asc: $(EXTISM_AS)/package.json $(EXTISM_AS)/package-lock.json
	$(need-npm)
	cd $(EXTISM_AS) && $(NPM) ci --no-audit --no-fund
	@touch $@

$(GUESTDIR)/extism-as.wasm: $(EXTISM_AS)/assembly/*.ts $(EXTISM_AS)/node_modules/.bin/asc
	@mkdir -p $(GUESTDIR)
	cd $(EXTISM_AS) && node_modules/.bin/asc assembly/index.ts -O3 --runtime incremental --use abort=assembly/index/abort -o $(abspath $@)

$(SIGNER_EXTISM)/node_modules/.bin/asc: $(SIGNER_EXTISM)/package.json $(SIGNER_EXTISM)/package-lock.json
	$(need-npm)
	cd $(SIGNER_EXTISM) && $(NPM) ci --no-audit --no-fund
	@touch $@

$(GUESTDIR)/signer-extism.wasm: $(SIGNER_EXTISM)/assembly/*.ts $(SIGNER_EXTISM)/node_modules/.bin/asc
	@mkdir -p $(GUESTDIR)
	cd $(SIGNER_EXTISM) && node_modules/.bin/asc assembly/index.ts -O3 --runtime incremental --use abort=assembly/index/abort -o $(abspath $@)

guest-sdk-tests: $(ASC)
	@mkdir -p $(BUILD)/sdk-tests
	$(CC) -std=c11 -Wall -Wextra -Werror -Iguest-sdk/c -o $(BUILD)/sdk-tests/oso_test guest-sdk/c/test/oso_test.c guest-sdk/c/oso.c
	$(BUILD)/sdk-tests/oso_test
	$(need-rustc)
	$(RUSTC) --edition 2021 --test -o $(BUILD)/sdk-tests/oso_rust_test guest-sdk/rust/src/lib.rs
	$(BUILD)/sdk-tests/oso_rust_test
	cd $(AS_SDK) && $(NPM) test

