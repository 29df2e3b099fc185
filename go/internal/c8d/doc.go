// Package c8d names the build flavour, and its subpackages are containerd's
// Go client packages under paths that do not depend on it.
//
// pylibctrd builds against one of two Moby generations, chosen at build time:
//
//   - v26 (the default): github.com/docker/docker v26.1.5 and containerd's
//     client v1.7.18 (go.mod);
//   - v28: github.com/docker/docker v28.5.2 and containerd's v2 client v2.1.4
//     (go.v28.mod, `go build -modfile=go.v28.mod -tags v28`).
//
// libcontainerd's interfaces are the same in both; what moved are
// containerd's import paths (cio is pkg/cio, images is core/images, the
// client is client, ...). Each subpackage here holds two files of aliases,
// v26.go (//go:build !v28) and v28.go (//go:build v28), naming the same
// containerd symbols from the flavour's package; every other file imports
// these paths and so compiles unchanged in both flavours. Aliases only: no
// code, every type, function and constant is containerd's own. Code that
// differs by more than an import path lives in tagged files beside its
// package (core/*_v26.go, core/*_v28.go).
package c8d
