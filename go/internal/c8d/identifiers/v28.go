//go:build v28

// Package identifiers is github.com/containerd/containerd/v2/pkg/identifiers
// (containerd v2.1 (Moby v28.5.2), the v28 flavour) under a flavour-free path:
// aliases only (package c8d says why).
package identifiers

import c8d "github.com/containerd/containerd/v2/pkg/identifiers"

var (
	Validate = c8d.Validate
)
