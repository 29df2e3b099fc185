//go:build !v28

// Package containerd is github.com/containerd/containerd
// (containerd v1.7 (Moby v26.1.5), the default flavour) under a flavour-free path:
// aliases only (package c8d says why).
package containerd

import c8d "github.com/containerd/containerd"

type (
	Client           = c8d.Client
	ExitStatus       = c8d.ExitStatus
	NewContainerOpts = c8d.NewContainerOpts
	ProcessInfo      = c8d.ProcessInfo
	ProcessStatus    = c8d.ProcessStatus
	Status           = c8d.Status
	Version          = c8d.Version
)

var (
	New                  = c8d.New
	WithDefaultNamespace = c8d.WithDefaultNamespace
	WithDefaultRuntime   = c8d.WithDefaultRuntime
	WithTimeout          = c8d.WithTimeout
	WithDialOpts         = c8d.WithDialOpts
	WithContainerLabels  = c8d.WithContainerLabels
)

const (
	Running            = c8d.Running
	Paused             = c8d.Paused
	Pausing            = c8d.Pausing
	Stopped            = c8d.Stopped
	Created            = c8d.Created
	DefaultSnapshotter = c8d.DefaultSnapshotter
)
