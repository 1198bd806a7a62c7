# simfs — build, test, benchmark, fuzz and lint targets.
#
# `make test` is the README's test command and what CI runs (.ci/run). It passes
# for a user without root, FUSE, clang or bpf(): tests that need them skip.

GO          ?= go
PKGS        ?= ./...
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2
FUZZTIME    ?= 30s
BENCHTIME   ?= 1s

.PHONY: test-io-uring all build test test-short bench fuzz lint vet fmt examples clean

all: build

build:
	$(GO) build $(PKGS)
	$(GO) build -o bin/simfs ./cmd/simfs
	$(GO) build -o bin/conformance-plugin ./cmd/conformance-plugin

test: vet
	$(GO) test -race -count=1 -timeout 40m $(PKGS)
	@# The hugetlb steps of the cgroup2 differential toggle the host's root
	@# subtree_control, so they run alone, after everything else (root only).
	SIMFS_DIFF_HUGETLB=1 $(GO) test -count=1 -run 'TestDifferentialCgroup2' ./cgroup
	@$(MAKE) --no-print-directory test-io-uring

# The FUSE tests again with requests over FUSE-over-io_uring: the kernel's
# switch (the fuse module's enable_uring, off by default) is turned on for
# the pass and restored after it. Root and a kernel that has it only.
URING_SWITCH = /sys/module/fuse/parameters/enable_uring
test-io-uring:
	@if [ "$$(id -u)" != 0 ] || [ ! -w $(URING_SWITCH) ]; then \
		echo "test-io-uring: skipped (needs root and $(URING_SWITCH))"; exit 0; fi; \
	old=$$(cat $(URING_SWITCH)); echo Y > $(URING_SWITCH); \
	echo "SIMFS_FUSE_IO_URING=1 $(GO) test -race -count=1 ./fusefs ./cmd/simfs ./e2e"; \
	SIMFS_FUSE_IO_URING=1 $(GO) test -race -count=1 -timeout 20m ./fusefs ./cmd/simfs ./e2e; rc=$$?; \
	echo $$old > $(URING_SWITCH); exit $$rc

test-short:
	$(GO) test -short -count=1 $(PKGS)

vet:
	$(GO) vet $(PKGS)

bench:
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) $(PKGS)

# Each fuzz target runs for FUZZTIME (go test accepts one -fuzz pattern per
# package, so they run one after another).
FUZZ_TARGETS = ./interp:FuzzLoadRun ./interp/bpfasm:FuzzAssemble ./interp/bpfasm:FuzzDisassemble \
	./bpf/bprintf:FuzzSeqPrintf ./bpf/btfshow:FuzzRawBTF ./loader:FuzzLoad

fuzz:
	@set -e; for spec in $(FUZZ_TARGETS); do \
		pkg=$${spec%%:*}; name=$${spec##*:}; \
		echo "== $$pkg $$name"; \
		$(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) $$pkg; \
	done

lint: vet
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); echo 'gofmt: files above need formatting'; exit 1)
	$(GO) run $(STATICCHECK) $(PKGS)

fmt:
	gofmt -w $$(git ls-files '*.go')

# Rebuild the example BPF objects (examples/*/*.bpf.o) from their C sources
# with clang, against a vmlinux.h that bpftool generates from the running
# kernel (see examples/Makefile). EXAMPLES_OUT=DIR builds into DIR instead.
examples:
	$(MAKE) -C examples $(if $(EXAMPLES_OUT),OUT=$(abspath $(EXAMPLES_OUT)))

clean:
	rm -rf bin
