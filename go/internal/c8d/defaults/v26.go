//go:build !v28

// Package defaults is github.com/containerd/containerd/defaults
// (containerd v1.7 (Moby v26.1.5), the default flavour) under a flavour-free path:
// aliases only (package c8d says why).
package defaults

import c8d "github.com/containerd/containerd/defaults"

const (
	DefaultMaxRecvMsgSize = c8d.DefaultMaxRecvMsgSize
	DefaultMaxSendMsgSize = c8d.DefaultMaxSendMsgSize
)
