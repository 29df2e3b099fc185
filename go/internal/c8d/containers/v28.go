//go:build v28

// Package containers is github.com/containerd/containerd/v2/core/containers
// (containerd v2.1 (Moby v28.5.2), the v28 flavour) under a flavour-free path:
// aliases only (package c8d says why).
package containers

import c8d "github.com/containerd/containerd/v2/core/containers"

type (
	Container = c8d.Container
)
