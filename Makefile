# The two commands: `make demo` and `make test` (each sets up what it needs).
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
APT_PACKAGES := containerd runc busybox-static
STAMP := $(VENV)/.installed
SOURCES := $(shell find go pylibctrd -name '*.go' -o -name '*.h' -o -name '*.c' -o -name '*.py' -not -name '_native*') go/go.mod go/go.sum setup.py build_ffi.py pyproject.toml

.PHONY: all system go-deps build test test-go test-py lint demo bench clean

all: build

# Debian packages: containerd, runc, and busybox-static for the test rootfs.
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
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

build: system $(STAMP)

lint: build
	cd go && go vet ./...
	$(PY) -m mypy

test-go: build
	cd go && go test ./...

test-py: build
	$(PY) -m pytest tests

test: build lint test-go test-py

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

clean:
	rm -rf build $(VENV) $(BENCH_VENV) pylibctrd/_native* pylibctrd/libpylibctrd.so *.egg-info
