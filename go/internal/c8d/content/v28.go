//go:build v28

// Package content is github.com/containerd/containerd/v2/core/content
// (containerd v2.1 (Moby v28.5.2), the v28 flavour) under a flavour-free path:
// aliases only (package c8d says why).
package content

import c8d "github.com/containerd/containerd/v2/core/content"

type (
	Info  = c8d.Info
	Store = c8d.Store
)

var (
	ReadBlob = c8d.ReadBlob
)
