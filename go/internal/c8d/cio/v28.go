//go:build v28

// Package cio is github.com/containerd/containerd/v2/pkg/cio
// (containerd v2.1 (Moby v28.5.2), the v28 flavour) under a flavour-free path:
// aliases only (package c8d says why).
package cio

import c8d "github.com/containerd/containerd/v2/pkg/cio"

type (
	Config   = c8d.Config
	DirectIO = c8d.DirectIO
	IO       = c8d.IO
	FIFOSet  = c8d.FIFOSet
	Creator  = c8d.Creator
	Attach   = c8d.Attach
)

var (
	NewDirectIO     = c8d.NewDirectIO
	NewFIFOSet      = c8d.NewFIFOSet
	NewFIFOSetInDir = c8d.NewFIFOSetInDir
)
