//go:build v28

// Package images is github.com/containerd/containerd/v2/core/images
// (containerd v2.1 (Moby v28.5.2), the v28 flavour) under a flavour-free path:
// aliases only (package c8d says why).
package images

import c8d "github.com/containerd/containerd/v2/core/images"

type (
	Image = c8d.Image
)

var (
	Check             = c8d.Check
	Config            = c8d.Config
	Platforms         = c8d.Platforms
	SynchronousDelete = c8d.SynchronousDelete
)
