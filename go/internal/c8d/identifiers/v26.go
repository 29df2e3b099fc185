//go:build !v28

// Package identifiers is github.com/containerd/containerd/identifiers
// (containerd v1.7 (Moby v26.1.5), the default flavour) under a flavour-free path:
// aliases only (package c8d says why).
package identifiers

import c8d "github.com/containerd/containerd/identifiers"

var (
	Validate = c8d.Validate
)
