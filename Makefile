# btfs — see README.md. Every target works on a fresh Debian machine as root.
GO        ?= go
BIN       := bin/btfs
PKGS      := ./...
STATICCHECK_VERSION := v0.8.2
FUZZTIME  ?= 10s

.PHONY: all build deps test unit integration soak lint fuzz fuzz-short bench demo install clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/btfs

# deps installs what the tests and the demo need on a fresh machine.
deps:
	@scripts/deps.sh

lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt: files above need formatting"; exit 1; }
	$(GO) vet $(PKGS)
	@command -v staticcheck >/dev/null 2>&1 || $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	PATH="$$PATH:$$($(GO) env GOPATH)/bin" staticcheck $(PKGS)

unit:
	$(GO) test -race -timeout 10m $$($(GO) list ./... | grep -v /integration)

integration: build
	$(GO) test -timeout 10m -v -count=1 ./integration/

# soak: issue 15's soak test (readers and leechers on one mount) for BTFS_SOAK, default 10m.
soak: build
	BTFS_SOAK=$${BTFS_SOAK:-10m} $(GO) test -run '^TestSoak$$' -timeout 3h -v -count=1 ./integration/

# test runs lint, unit, integration and fuzz-short through scripts/test.sh,
# which goes on after a failing stage and ends with "N passed, N failed".
test: deps
	@scripts/test.sh

# A short run of every fuzz target (part of make test); `make fuzz` runs longer.
fuzz-short:
	@FUZZTIME=3s scripts/fuzz.sh

fuzz:
	@FUZZTIME=$(FUZZTIME) scripts/fuzz.sh

# bench: Go micro-benchmarks (codec, picker, engine, cache, FUSE adapter),
# then the swarm table against libtorrent (issue 3) on the same seeders,
# then the streaming table against Debian's C++ btfs (issue 4), then
# magnet time-to-metadata/first-byte against libtorrent (issue 11), then
# the efficiency table (issue 12: seeders' bytes, CPU, RSS per read pattern),
# then first-piece time and MB/s against libtorrent over TCP, uTP and MSE
# (issue 13), then each attack of issue 15 (peak RSS, CPU, read completed).
bench: build
	@BENCH=1 scripts/deps.sh
	$(GO) test -run '^$$' -bench . -benchmem ./swarm/... ./cache/ ./fs/
	scripts/bench-swarm.sh
	scripts/bench-cache.sh
	scripts/bench-stream.sh
	scripts/bench-magnet.sh
	scripts/bench-efficiency.sh
	scripts/bench-interop.sh
	scripts/bench-attacks.sh

demo: deps build
	scripts/demo.sh

PREFIX  ?= /usr/local
SBINDIR ?= /sbin

# install: the binary, plus the mount(8) helper so `mount -t fuse.btfs` and
# /etc/fstab lines work.
install: build
	install -D -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/bin/btfs
	sed 's|@BTFS@|$(PREFIX)/bin/btfs|' scripts/mount.fuse.btfs > $(DESTDIR)$(SBINDIR)/mount.fuse.btfs
	chmod 0755 $(DESTDIR)$(SBINDIR)/mount.fuse.btfs

clean:
	rm -rf bin
