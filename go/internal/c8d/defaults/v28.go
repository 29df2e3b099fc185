//go:build v28

// Package defaults is github.com/containerd/containerd/v2/defaults
// (containerd v2.1 (Moby v28.5.2), the v28 flavour) under a flavour-free path:
// aliases only (package c8d says why).
package defaults

import c8d "github.com/containerd/containerd/v2/defaults"

const (
	DefaultMaxRecvMsgSize = c8d.DefaultMaxRecvMsgSize
	DefaultMaxSendMsgSize = c8d.DefaultMaxSendMsgSize
)
