#!/bin/bash
# `make test-wheels`: the manylinux2014 wheels (dist/manylinux2014/, from
# `make wheels`) on two other Debian systems, made from Debian's packages only:
#
#   bookworm-arm64  CPython 3.11, aarch64, run through qemu-aarch64-static (binfmt)
#   trixie-amd64    CPython 3.13, x86_64
#
# Each root is made once with mmdebstrap (python3, python3-venv, python3-pip)
# and cached in build/roots/. Per run, in a private mount namespace (every
# mount goes away with it): a fresh venv in the root, `pip install` of the
# wheel (cffi's wheel from PyPI; no compiler, no Go in the root), then
# wheels/e2e.py: versions(), and a container run end to end through a
# containerd that this host runs (started by the x86_64 wheel's own `Daemon`,
# `python -m pylibctrd daemon`, from a host venv, stopped at the end). The work
# dir (containerd's socket, the bundles' FIFOs, the busybox rootfs) is
# bind-mounted into the root at the same path, so that the client under
# qemu and the host's containerd and shim name the same files. The container
# itself runs natively on the host; only the client is aarch64.
set -euo pipefail
cd "$(dirname "$0")/.."

ROOTS=build/roots
WHEELS=dist/manylinux2014
MIRROR=${PYLIBCTRD_DEBIAN_MIRROR:-http://deb.debian.org/debian}
ROOT_PACKAGES=python3,python3-venv,python3-pip,ca-certificates
HOST_VENV=build/wheels-host-venv
VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)
FLAVOURS=${PYLIBCTRD_WHEELS_FLAVOURS:-v26 v28}

log() { printf '== %s\n' "$*" >&2; }

wheel_for() {  # the one wheel for an arch
    local found=("$WHEELS"/pylibctrd-"$VERSION"-cp310-abi3-manylinux2014_"$1".manylinux_2_17_"$1".whl)
    [ -f "${found[0]}" ] || { echo "no $1 wheel in $WHEELS: run make wheels" >&2; exit 1; }
    local flavour lib listing
    listing=$(python3 -m zipfile -l "${found[0]}")
    for flavour in $FLAVOURS; do  # each flavour's Go library (setup.py's names)
        lib=pylibctrd/libpylibctrd.so
        [ "$flavour" = v26 ] || lib=pylibctrd/libpylibctrd_$flavour.so
        grep -q "^$lib " <<<"$listing" || {
            echo "${found[0]} holds no $lib (flavour $flavour): make wheels" >&2; exit 1; }
    done
    echo "${found[0]}"
}

# qemu-user-static registers qemu-aarch64 with binfmt_misc ("F": the kernel
# opens the interpreter at registration, so it runs inside a chroot too).
ensure_binfmt() {
    if ! mountpoint -q /proc/sys/fs/binfmt_misc; then
        mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
    fi
    [ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] || update-binfmts --enable qemu-aarch64
    arch-test arm64 >/dev/null || { echo "this kernel cannot run arm64 binaries through qemu" >&2; exit 1; }
}

# make_root NAME ARCH SUITE: build/roots/NAME, made once (the stamp records
# how; a changed recipe makes the root again).
make_root() {
    local name=$1 arch=$2 suite=$3 dir=$ROOTS/$1
    local recipe="mmdebstrap --variant=apt --arch=$arch --include=$ROOT_PACKAGES $suite $MIRROR"
    if [ -f "$dir/.pylibctrd-root" ] && [ "$(cat "$dir/.pylibctrd-root")" = "$recipe" ]; then
        return
    fi
    log "making $dir ($recipe)"
    rm -rf "$dir" "$dir.tmp"
    mkdir -p "$ROOTS"
    mmdebstrap --quiet --variant=apt --arch="$arch" --include="$ROOT_PACKAGES" \
        "$suite" "$dir.tmp" "$MIRROR"
    echo "$recipe" > "$dir.tmp/.pylibctrd-root"
    mv "$dir.tmp" "$dir"
}

WORK=""
DAEMON_PID=""
NAMESPACE="pylibctrd-wheels-$$"
cleanup() {
    local rc=$?
    if [ -n "$DAEMON_PID" ]; then
        # Anything a failed check left in the namespace, then containerd.
        "$HOST_VENV/bin/python" -c 'import sys; from pylibctrd import testing
left = testing.sweep(*sys.argv[1:4]); testing.remove_runc_root(sys.argv[3])
print("swept:", left) if left else None' \
            "$WORK/state/containerd.sock" "$WORK/bundles" "$NAMESPACE" || rc=1
        kill -TERM "$DAEMON_PID" 2>/dev/null || true
        wait "$DAEMON_PID" 2>/dev/null || true
    fi
    [ -z "$WORK" ] || rm -rf "$WORK"
    exit "$rc"
}
trap cleanup EXIT

# run_in_root NAME WHEEL MACHINE: fresh venv, pip install, e2e.py per flavour.
run_in_root() {
    local name=$1 wheel=$2 machine=$3 root
    root=$(realpath "$ROOTS/$1")
    cp "$wheel" "$WORK/wheels/"
    log "$name: pip install $(basename "$wheel") and run a container"
    # A private mount namespace: /proc, /dev, /sys, a tmpfs /tmp (the venv)
    # and the work dir, all gone when it ends, whatever happens.
    local start=$SECONDS
    unshare --mount --propagation private /bin/bash -euc '
        root=$1 work=$2 wheel=$3 ca=$4 flavours=$5; shift 5
        mount -t proc proc "$root/proc"
        mount --bind /dev "$root/dev"
        mount --bind /sys "$root/sys"
        mount -t tmpfs tmpfs "$root/tmp"
        mkdir -p "$root$work"
        mount --bind "$work" "$root$work"
        cp /etc/resolv.conf "$root/etc/resolv.conf"
        # The root trusts what this host trusts (a proxy'"'"'s CA, if any).
        mount --bind "$ca" "$root/etc/ssl/certs/ca-certificates.crt"
        exec chroot "$root" /usr/bin/env -i PATH=/usr/bin:/bin HOME=/root LANG=C.UTF-8 \
            PIP_CERT=/etc/ssl/certs/ca-certificates.crt /bin/sh -euc "
            python3 -m venv /tmp/venv
            /tmp/venv/bin/pip install --quiet --only-binary=:all: --disable-pip-version-check $work/wheels/$wheel
            if command -v gcc cc go >/dev/null 2>&1; then echo a compiler in the root >&2; exit 1; fi
            for flavour in $flavours; do
                PYLIBCTRD_FLAVOUR=\$flavour /tmp/venv/bin/python -I $work/e2e.py \"\$@\" $work/expected-\$flavour.json
            done" e2e "$@"
    ' run-in-root "$root" "$WORK" "$(basename "$wheel")" "$(realpath "${PIP_CERT:-/etc/ssl/certs/ca-certificates.crt}")" \
        "$FLAVOURS" "$WORK/state/containerd.sock" "$NAMESPACE" "$WORK/bundles" "$WORK/rootfs" \
        "$machine" | tee "$WORK/$name.json"
    log "$name: passed in $((SECONDS - start)) s"
}

X86_WHEEL=$(wheel_for x86_64)
ARM_WHEEL=$(wheel_for aarch64)
ensure_binfmt
make_root bookworm-arm64 arm64 bookworm
make_root trixie-amd64 amd64 trixie

# The host's side: the x86_64 wheel in a venv of this host's Python.
[ -x "$HOST_VENV/bin/python" ] || python3 -m venv "$HOST_VENV"
"$HOST_VENV/bin/python" -m pip install --quiet --force-reinstall --no-deps "$X86_WHEEL"
"$HOST_VENV/bin/python" -m pip install --quiet "cffi>=1.16"

WORK=$(mktemp -d /tmp/pylibctrd-wheels.XXXXXX)
mkdir -p "$WORK/wheels" "$WORK/bundles"
cp wheels/e2e.py "$WORK/"
"$HOST_VENV/bin/python" -c 'import sys; from pylibctrd.rootfs import busybox_rootfs; busybox_rootfs(sys.argv[1])' "$WORK/rootfs"
for flavour in $FLAVOURS; do  # what each flavour's versions() must say in the roots
    PYLIBCTRD_FLAVOUR=$flavour "$HOST_VENV/bin/python" -c 'import dataclasses, json, platform, pylibctrd
print(json.dumps({**dataclasses.asdict(pylibctrd.versions()), "host_machine": platform.machine()}))' \
        > "$WORK/expected-$flavour.json"
done

log "host: containerd through the x86_64 wheel's Daemon ($("$HOST_VENV/bin/python" --version))"
"$HOST_VENV/bin/python" -m pylibctrd daemon --root "$WORK/root" --state "$WORK/state" \
    > "$WORK/daemon.log" 2>&1 &
DAEMON_PID=$!
for _ in $(seq 100); do [ -S "$WORK/state/containerd.sock" ] && break; sleep 0.2; done
[ -S "$WORK/state/containerd.sock" ] || { cat "$WORK/daemon.log" >&2; exit 1; }

run_in_root bookworm-arm64 "$ARM_WHEEL" aarch64
run_in_root trixie-amd64 "$X86_WHEEL" x86_64
log "test-wheels: both roots passed, flavours: $FLAVOURS"
