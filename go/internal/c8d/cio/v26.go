//go:build !v28

// Package cio is github.com/containerd/containerd/cio
// (containerd v1.7 (Moby v26.1.5), the default flavour) under a flavour-free path:
// aliases only (package c8d says why).
package cio

import c8d "github.com/containerd/containerd/cio"

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
