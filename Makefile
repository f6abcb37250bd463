# troupe's tasks. Everything a fresh machine with Go needs is installed by the targets themselves.
GO          ?= go
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
PROTOC_GEN_GO_VERSION := v1.36.12
BIN         := $(CURDIR)/bin
PKGS        := ./...
EXAMPLE_TIMEOUT := 60s
SOAK_DURATION ?= 5m
SOAK_FLAGS  ?=

.PHONY: all demo test race overload bench bench-compare compare-large compare-raw lint depcheck tidycheck generate examples soak ci clean tools-protoc tools-etcd tools-chromium

all: lint test

## demo: brpc's 3 → 4 partition migration on loopback servers, then every calling style at work,
## with the debugging console served on DEMO_CONSOLE (its URL is printed); CONSOLE_HOLD=5m keeps
## it up that long afterwards, under a light load
DEMO_CONSOLE ?= 127.0.0.1:0
CONSOLE_HOLD ?= 0s
demo:
	@$(GO) run ./examples/dynamic_partition_echo -walkthrough -thread_num 16
	@$(GO) run ./examples/demo -console $(DEMO_CONSOLE) -console_hold $(CONSOLE_HOLD)

## test: every test, with the race detector (installs etcd for the naming tests and Chromium for
## the console's browser test if missing); the console's screenshots land in bin/test-output. The
## actors package runs again without it: there, on Linux, sockets are read and written with raw
## system calls, which the race detector's build replaces with syscall's own (actors/rawio_*.go)
test: tools-etcd tools-chromium
	@mkdir -p $(BIN)/test-output
	$(GO) test -race -count=1 -timeout 20m -artifacts -outputdir $(BIN)/test-output $(PKGS)
	$(GO) test -count=1 -timeout 20m ./actors
	@find $(BIN)/test-output -name '*.png' | sort | sed 's/^/console screenshot: /'

## race: repeated runs on 1 and 2 CPUs, to shake out flakes (actors' six runs take about a quarter
## of an hour on two cores, beyond go test's default 10m timeout per package)
race: tools-etcd tools-chromium
	$(GO) test -race -count=3 -cpu 1,2 -timeout 60m $(PKGS)

## overload: the auto concurrency limiter's goal, a slow method offered 10 times its capacity
## (p99 of admitted calls within 3x the unloaded one, goodput >= 80%); needs a quiet machine
overload:
	TROUPE_OVERLOAD=1 $(GO) test -count=3 -run '^TestServerAutoLimiterUnderOverload$$' -v ./actors

## bench: every benchmark (allocations included); compare runs with benchstat
bench:
	$(GO) test -run '^$$' -bench . -benchmem -count 6 $(PKGS) | tee bench.txt

## bench-compare: the key benchmarks of the working tree against BASE (default HEAD~1), ROUNDS
## (default 6) interleaved rounds, compared by benchstat (bench-base.txt, bench-head.txt)
BASE   ?= HEAD~1
ROUNDS ?= 6
bench-compare:
	.ci/bench-compare $(BASE) $(ROUNDS)

## compare-large: echo of 64 KiB and 1 MiB messages and attachments against gRPC-Go's (GRPCECHO)
compare-large:
	.ci/compare-large

## compare-raw: unary echo against the raw Go TCP ceiling at 1, 8 and 64 callers, 5 rounds of 3 s
## each (RAWTOOLS: the directory of compare-raw and rawrpc, by default ../shared/tools)
RAWTOOLS ?= ../shared/tools
compare-raw:
	@test -x $(RAWTOOLS)/compare-raw || { echo "compare-raw: no $(RAWTOOLS)/compare-raw; set RAWTOOLS"; exit 1; }
	@for c in 1 8 64; do $(RAWTOOLS)/compare-raw $$c 3 5 | tail -1; done

## lint: formatting, vet, staticcheck, the import graph, go.mod tidiness
lint: depcheck tidycheck
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted"; exit 1; fi
	$(GO) vet $(PKGS)
	$(GO) run $(STATICCHECK) $(PKGS)
	@# Linux is where troupe is tested; the library and its examples must also build elsewhere.
	@for os in windows darwin freebsd; do GOOS=$$os $(GO) vet $(PKGS) || { echo "does not build for $$os"; exit 1; }; done

# wire, naming and lb are plain Go: no protoactor, no actors, no combo; lb does not import naming.
# actors never imports combo. Only naming/etcd (not naming itself: ./naming/... would include it)
# links the etcd client and gRPC. The internal call runtime imports neither actors nor combo, and
# nothing below it imports the runtime.
depcheck:
	@bad=$$($(GO) list -deps ./wire/... ./naming/... ./lb/... 2>/dev/null | grep -E 'protoactor-go|troupe/actors|troupe/combo|troupe/mailbox' || true); \
	  if [ -n "$$bad" ]; then echo "wire/naming/lb must stay plain Go, but import: $$bad"; exit 1; fi
	@bad=$$($(GO) list -deps ./lb/... | grep -E 'troupe/naming' || true); \
	  if [ -n "$$bad" ]; then echo "lb must not import naming (its ServerNode is lb's own), but imports: $$bad"; exit 1; fi
	@bad=$$($(GO) list -deps ./actors/... ./mailbox/... | grep -E 'troupe/combo|troupe/examples' || true); \
	  if [ -n "$$bad" ]; then echo "actors/mailbox must not import: $$bad"; exit 1; fi
	@bad=$$($(GO) list -deps ./mailbox/... | grep -E 'troupe/(actors|wire|naming|lb|combo)' || true); \
	  if [ -n "$$bad" ]; then echo "mailbox imports only protoactor: $$bad"; exit 1; fi
	@bad=$$($(GO) list -deps ./internal/... | grep -E 'troupe/(actors|combo|examples)' || true); \
	  if [ -n "$$bad" ]; then echo "the internal call runtime must not import its users: $$bad"; exit 1; fi
	@bad=$$($(GO) list -deps ./wire/... ./naming/... ./lb/... ./mailbox/... | grep -E 'troupe/internal' || true); \
	  if [ -n "$$bad" ]; then echo "wire/naming/lb/mailbox must not import the call runtime: $$bad"; exit 1; fi
	@bad=$$($(GO) list -deps ./actors/... ./combo/... ./lb/... ./naming ./wire/... ./mailbox/... | \
	  grep -E '^go\.etcd\.io/|^google\.golang\.org/grpc(/|$$)' || true); \
	  if [ -n "$$bad" ]; then echo "only naming/etcd may link etcd and gRPC, but the runtime imports: $$bad"; exit 1; fi
	@echo "import graph ok"

tidycheck:
	@cp go.mod /tmp/troupe-go.mod.before; cp go.sum /tmp/troupe-go.sum.before; \
	  $(GO) mod tidy; \
	  if ! cmp -s go.mod /tmp/troupe-go.mod.before || ! cmp -s go.sum /tmp/troupe-go.sum.before; then \
	    echo "go.mod/go.sum are not tidy; the diff of 'go mod tidy':"; diff /tmp/troupe-go.mod.before go.mod; \
	    cp /tmp/troupe-go.mod.before go.mod; cp /tmp/troupe-go.sum.before go.sum; exit 1; fi

## generate: regenerate the protobuf Go code and the troupe stubs (installs protoc from Debian and
## protoc-gen-go if missing, builds protoc-gen-go-troupe). wire/echopb stays plain Go, so its stubs
## go to their own package, examples/echo/echopbtroupe (package_suffix).
generate: tools-protoc
	$(GO) build -o $(BIN)/protoc-gen-go-troupe ./cmd/protoc-gen-go-troupe
	cd wire && PATH="$(BIN):$$PATH" protoc --go_out=. --go_opt=paths=source_relative \
	  metapb/baidu_rpc_meta.proto echopb/echo.proto
	cd wire/echopb && PATH="$(BIN):$$PATH" protoc --go-troupe_out=../../examples/echo \
	  --go-troupe_opt=paths=source_relative,package_suffix=troupe echo.proto
	cd examples/delivery && PATH="$(BIN):$$PATH" protoc --go_out=. --go_opt=paths=source_relative \
	  --go-troupe_out=. --go-troupe_opt=paths=source_relative deliverypb/delivery.proto
	cd examples/parallel_echo && PATH="$(BIN):$$PATH" protoc --go_out=. --go_opt=paths=source_relative \
	  --go-troupe_out=. --go-troupe_opt=paths=source_relative pechopb/parallel_echo.proto
	cd cmd/protoc-gen-go-troupe/testdata && protoc -I . -I ../../../wire --include_source_info \
	  --descriptor_set_out=multi.binpb multi.proto

tools-protoc:
	@command -v protoc >/dev/null || { echo "installing protoc (protobuf-compiler)"; \
	  (apt-get update -qq && apt-get install -y -qq protobuf-compiler) >/dev/null; }
	@test -x $(BIN)/protoc-gen-go || GOBIN=$(BIN) $(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION)

## tools-etcd: install Debian's etcd-server when no etcd binary is found (naming's tests start a
## real etcd on loopback). Works as root without a TTY; other users need sudo.
tools-etcd:
	@command -v etcd >/dev/null || test -x /usr/bin/etcd || { echo "installing etcd (etcd-server)"; \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  ($$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y -qq --no-install-recommends etcd-server) >/dev/null; }
	@command -v etcd >/dev/null || test -x /usr/bin/etcd || { echo "etcd is still missing"; exit 1; }

## tools-chromium: install Debian's chromium when none is found (the console's test drives it
## headless). Works as root without a TTY; other users need sudo.
tools-chromium:
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || { echo "installing chromium"; \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  ($$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core) >/dev/null; }
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || { echo "chromium is still missing"; exit 1; }

## examples: build every example and run the ones that stop by themselves, each bounded in time
## (the parallel example's server is bin/parallel_echo_server: bin/server is the echo server)
examples:
	$(GO) build -o $(BIN)/ $$($(GO) list ./examples/... | grep -v '/parallel_echo/server$$')
	$(GO) build -o $(BIN)/parallel_echo_server ./examples/parallel_echo/server
	timeout $(EXAMPLE_TIMEOUT) $(BIN)/demo -duration 2s
	timeout $(EXAMPLE_TIMEOUT) $(BIN)/delivery
	timeout $(EXAMPLE_TIMEOUT) $(BIN)/metrics -metrics 127.0.0.1:0 -duration 2s
	timeout $(EXAMPLE_TIMEOUT) $(BIN)/dynamic_partition_echo -walkthrough -thread_num 8 -stage 1s
	./.ci/run-examples $(BIN)

## soak: mixed async load for SOAK_DURATION (5m) against child-process servers that are killed,
## renamed and read slowly; fails if a call finishes twice or never, or client memory or
## goroutines grow. SOAK_FLAGS adds flags (-callers, -seed, -warmup, …). Not part of ci.
soak:
	$(GO) build -o $(BIN)/soak ./examples/soak
	$(BIN)/soak -duration $(SOAK_DURATION) $(SOAK_FLAGS)

## ci: what .ci/run calls
ci: lint test examples

clean:
	rm -rf $(BIN) bench.txt bench-base.txt bench-head.txt
