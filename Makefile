# simfs — build, test, benchmark, fuzz and lint targets.
#
# `make test` is the README's test command and what CI runs (.ci/run). It passes
# for a user without root, FUSE, clang or bpf(): tests that need them skip.

GO          ?= go
PKGS        ?= ./...
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2
FUZZTIME    ?= 30s
BENCHTIME   ?= 1s

.PHONY: all build test test-short bench fuzz lint vet fmt examples clean

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
