//go:build !v28

// Package containers is github.com/containerd/containerd/containers
// (containerd v1.7 (Moby v26.1.5), the default flavour) under a flavour-free path:
// aliases only (package c8d says why).
package containers

import c8d "github.com/containerd/containerd/containers"

type (
	Container = c8d.Container
)
