#!/bin/bash
# Builds containerd and containerd-shim-runc-v2 at one version from the Go
# module proxy's source (never a downloaded binary) into OUT/bin:
#   matrix/build-containerd.sh 1.7.35 build/containerd/1.7.35
#   matrix/build-containerd.sh 2.4.2  build/containerd/2.4.2
# 2.x: `go install <module>/cmd/...@vX` with GOBIN. 1.7.x: its go.mod has an
# `exclude` line, which `go install pkg@version` refuses, so it is built from a
# scratch module that requires it (its exclude copied over). The version is
# stamped as containerd's own Makefile does (-X version.Version=vX); the proxy's
# source has no git, so version.Revision names the source instead. Tags as
# containerd's release Makefile (urfave_cli_no_docs), plus no_btrfs: the btrfs
# snapshotter needs libbtrfs headers and is never used here (overlayfs). The
# shim is built static with CGO_ENABLED=0, as containerd's Makefile does.
set -euo pipefail
version=${1#v}
out=$(realpath -m "$2")
tags=${CONTAINERD_TAGS:-urfave_cli_no_docs no_btrfs}
case $version in
	1.*) mod=github.com/containerd/containerd ;;
	2.*) mod=github.com/containerd/containerd/v2 ;;
	*) echo "unsupported containerd version $version" >&2; exit 2 ;;
esac
if [ -x "$out/bin/containerd" ] && [ -x "$out/bin/containerd-shim-runc-v2" ]; then
	echo "containerd $version: cached in $out/bin"
	exit 0
fi
ldflags="-X $mod/version.Version=v$version -X $mod/version.Revision=goproxy:$mod@v$version -X $mod/version.Package=$mod"
mkdir -p "$out"
tmp=$(mktemp -d "$out/.build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/bin"
case $version in
	2.*)
		GOBIN="$tmp/bin" go install -tags "$tags" -ldflags "$ldflags" "$mod/cmd/containerd@v$version"
		GOBIN="$tmp/bin" CGO_ENABLED=0 go install -tags "$tags" -ldflags "$ldflags -extldflags -static" \
			"$mod/cmd/containerd-shim-runc-v2@v$version"
		;;
	1.*)
		src=$(go mod download -json "$mod@v$version" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
		mkdir -p "$tmp/scratch"
		{
			echo "module pylibctrd.invalid/containerd-build"
			echo
			sed -n 's/^go \(.*\)/go \1/p' "$src/go.mod"
			echo
			echo "require $mod v$version"
			grep '^exclude ' "$src/go.mod" || true
		} > "$tmp/scratch/go.mod"
		cat > "$tmp/scratch/tools.go" <<GO
//go:build tools

package tools

import (
	_ "$mod/cmd/containerd"
	_ "$mod/cmd/containerd-shim-runc-v2"
)
GO
		cp "$src/go.sum" "$tmp/scratch/go.sum"
		(cd "$tmp/scratch" && go mod tidy -e >/dev/null 2>&1 || true
		 go mod download all >/dev/null 2>&1 || true
		 go build -mod=mod -tags "$tags" -ldflags "$ldflags" -o "$tmp/bin/containerd" "$mod/cmd/containerd"
		 CGO_ENABLED=0 go build -mod=mod -tags "$tags" -ldflags "$ldflags -extldflags -static" \
			-o "$tmp/bin/containerd-shim-runc-v2" "$mod/cmd/containerd-shim-runc-v2")
		;;
esac
"$tmp/bin/containerd" --version
rm -rf "$out/bin"
mv "$tmp/bin" "$out/bin"
echo "containerd $version: built into $out/bin"
