//go:build !v28

// Package namespaces is github.com/containerd/containerd/namespaces
// (containerd v1.7 (Moby v26.1.5), the default flavour) under a flavour-free path:
// aliases only (package c8d says why).
package namespaces

import c8d "github.com/containerd/containerd/namespaces"

var (
	WithNamespace = c8d.WithNamespace
)
