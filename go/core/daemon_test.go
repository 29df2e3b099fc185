package core

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/docker/docker/errdefs"
)

// The PATH bookkeeping of StartDaemon(containerd=...), without starting one:
// the chosen binary and its shim linked into state/bin, that dir first on
// PATH while in use, another binary refused meanwhile, PATH restored after.
func TestDaemonBinaryOnPath(t *testing.T) {
	dir := t.TempDir()
	exe := func(path string) string {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		return path
	}
	a := exe(filepath.Join(dir, "a", "containerd"))
	exe(filepath.Join(dir, "a", ShimBinary))
	b := exe(filepath.Join(dir, "b", "containerd")) // no shim beside it
	before := os.Getenv("PATH")

	binA, err := linkBinaries(filepath.Join(dir, "s1"), a)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := os.Readlink(filepath.Join(binA, ShimBinary)); got != filepath.Join(dir, "a", ShimBinary) {
		t.Fatalf("shim link %q", got)
	}
	if err := pathAcquire(binA); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(os.Getenv("PATH"), binA+":") {
		t.Fatalf("PATH %q does not start with %s", os.Getenv("PATH"), binA)
	}
	binA2, _ := linkBinaries(filepath.Join(dir, "s2"), a) // the same binary: shared
	if err := pathAcquire(binA2); err != nil {
		t.Fatal(err)
	}
	binB, _ := linkBinaries(filepath.Join(dir, "s3"), b)
	if _, err := os.Lstat(filepath.Join(binB, ShimBinary)); !os.IsNotExist(err) {
		t.Fatalf("a shim link without a shim: %v", err)
	}
	if err := pathAcquire(binB); !errdefs.IsConflict(err) || !strings.Contains(err.Error(), a) {
		t.Fatalf("another binary: %v", err)
	}
	pathRelease(binA2)
	pathRelease(binA)
	if os.Getenv("PATH") != before {
		t.Fatalf("PATH not restored: %q", os.Getenv("PATH"))
	}
	if err := pathAcquire(binB); err != nil {
		t.Fatal(err)
	}
	pathRelease(binB)

	for _, bad := range []string{"containerd", filepath.Join(dir, "nope"), dir} {
		if _, err := linkBinaries(filepath.Join(dir, "s4"), bad); !errdefs.IsInvalidParameter(err) {
			t.Fatalf("%s: %v", bad, err)
		}
	}
}
