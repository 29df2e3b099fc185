#!/bin/bash
# `make bench-zig`: benchmarks/zig_vs_native.py over the native wheel (`make
# wheel`) and the manylinux2014 x86_64 one (`make wheels`), each in its own
# venv (build/bench-zig/), against one containerd started by the native
# wheel's Daemon in a temp dir and stopped at the end. Extra arguments go to
# the benchmark (--rounds, --ops, --lifecycles).
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)
NATIVE=$(ls dist/pylibctrd-"$VERSION"-cp310-abi3-manylinux_*_x86_64.whl)
ZIG=$(ls dist/manylinux2014/pylibctrd-"$VERSION"-cp310-abi3-manylinux2014_x86_64.*.whl)
for v in native zig; do
    venv=build/bench-zig/$v
    [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
    wheel=$NATIVE; [ "$v" = zig ] && wheel=$ZIG
    "$venv/bin/python" -m pip install --quiet --force-reinstall --no-deps "$wheel"
    "$venv/bin/python" -m pip install --quiet "cffi>=1.16"
done
WORK=$(mktemp -d /tmp/pylibctrd-zigbench.XXXXXX)
DAEMON_PID=""
cleanup() {
    local rc=$?
    if [ -n "$DAEMON_PID" ]; then kill -TERM "$DAEMON_PID" 2>/dev/null || true; wait "$DAEMON_PID" 2>/dev/null || true; fi
    rm -rf "$WORK"
    exit "$rc"
}
trap cleanup EXIT
mkdir -p "$WORK/bundles"
build/bench-zig/native/bin/python -c 'import sys; from pylibctrd.rootfs import busybox_rootfs; busybox_rootfs(sys.argv[1])' "$WORK/rootfs"
build/bench-zig/native/bin/python -m pylibctrd daemon --root "$WORK/root" --state "$WORK/state" > "$WORK/daemon.log" 2>&1 &
DAEMON_PID=$!
for _ in $(seq 100); do [ -S "$WORK/state/containerd.sock" ] && break; sleep 0.2; done
[ -S "$WORK/state/containerd.sock" ] || { cat "$WORK/daemon.log" >&2; exit 1; }
python3 -m benchmarks.zig_vs_native build/bench-zig/native/bin/python build/bench-zig/zig/bin/python \
    "$WORK/state/containerd.sock" "$WORK/bundles" "$WORK/rootfs" "$@"
