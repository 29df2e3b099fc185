//go:build !v28

// Package content is github.com/containerd/containerd/content
// (containerd v1.7 (Moby v26.1.5), the default flavour) under a flavour-free path:
// aliases only (package c8d says why).
package content

import c8d "github.com/containerd/containerd/content"

type (
	Info  = c8d.Info
	Store = c8d.Store
)

var (
	ReadBlob = c8d.ReadBlob
)
