//go:build !v28

// Package images is github.com/containerd/containerd/images
// (containerd v1.7 (Moby v26.1.5), the default flavour) under a flavour-free path:
// aliases only (package c8d says why).
package images

import c8d "github.com/containerd/containerd/images"

type (
	Image = c8d.Image
)

var (
	Check             = c8d.Check
	Config            = c8d.Config
	Platforms         = c8d.Platforms
	SynchronousDelete = c8d.SynchronousDelete
)
