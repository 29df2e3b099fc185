//go:build v28

// Package namespaces is github.com/containerd/containerd/v2/pkg/namespaces
// (containerd v2.1 (Moby v28.5.2), the v28 flavour) under a flavour-free path:
// aliases only (package c8d says why).
package namespaces

import c8d "github.com/containerd/containerd/v2/pkg/namespaces"

var (
	WithNamespace = c8d.WithNamespace
)
