// Package bridge is what the C ABI adds to package core: handles for the Go
// objects Python holds, the error classes and wire format of the header
// (include/pylibctrd.h), the gate that keeps callbacks into Python safe, the
// event and stdio callbacks, and the log bridge. It knows nothing of cgo;
// package capi exports it.
package bridge

import (
	"context"
	"errors"
	"fmt"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/errdefs"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"pylibctrd/core"
)

// Code is an error class as it crosses the C ABI: enum pylibctrd_status in
// include/pylibctrd.h is the table, and a test holds these values to it.
type Code int

const (
	CodeOK                 Code = 0
	CodeUnknown            Code = 1
	CodeNotFound           Code = 2
	CodeConflict           Code = 3
	CodeAlreadyExists      Code = 4
	CodeInvalidParameter   Code = 5
	CodeFailedPrecondition Code = 6
	CodeUnavailable        Code = 7
	CodeDeadline           Code = 8
	CodeCanceled           Code = 9
	CodeNotImplemented     Code = 10
	CodeSystem             Code = 11
	CodeForbidden          Code = 12
	CodeInvalidHandle      Code = 13
	CodeClosed             Code = 14
	CodePanic              Code = 15
	CodePending            Code = 16 // not an error: running in the background
	CodeUnauthorized       Code = 17
)

// classed is an error of the bridge's own making (bad handle, bad input).
type classed struct {
	code Code
	msg  string
}

func (e *classed) Error() string { return e.msg }

// Errorf makes an error of the given class.
func Errorf(code Code, format string, args ...any) error {
	return &classed{code: code, msg: fmt.Sprintf(format, args...)}
}

// Classify maps an error to its class, preferring Moby's errdefs (what dockerd
// sees) and falling back to containerd's errdefs and raw gRPC codes.
func Classify(err error) Code {
	if err == nil {
		return CodeOK
	}
	var own *classed
	switch {
	case errors.As(err, &own):
		return own.code
	case errors.Is(err, core.ErrClosed):
		return CodeClosed
	case errors.Is(err, core.ErrNotReadable), errors.Is(err, core.ErrNotWritable):
		return CodeInvalidParameter
	}
	switch {
	case errdefs.IsNotFound(err):
		return CodeNotFound
	case errdefs.IsConflict(err):
		return CodeConflict
	case errdefs.IsInvalidParameter(err):
		return CodeInvalidParameter
	case errdefs.IsUnavailable(err):
		return CodeUnavailable
	case errdefs.IsUnauthorized(err):
		return CodeUnauthorized
	case errdefs.IsForbidden(err):
		return CodeForbidden
	case errdefs.IsNotImplemented(err):
		return CodeNotImplemented
	case errdefs.IsSystem(err), errdefs.IsDataLoss(err):
		return CodeSystem
	case errdefs.IsCancelled(err):
		return CodeCanceled
	case errdefs.IsDeadline(err):
		return CodeDeadline
	case errdefs.IsUnknown(err):
		return CodeUnknown
	}
	switch {
	case cerrdefs.IsNotFound(err):
		return CodeNotFound
	case cerrdefs.IsAlreadyExists(err):
		return CodeAlreadyExists
	case cerrdefs.IsFailedPrecondition(err):
		return CodeFailedPrecondition
	case cerrdefs.IsInvalidArgument(err):
		return CodeInvalidParameter
	case cerrdefs.IsUnavailable(err):
		return CodeUnavailable
	case cerrdefs.IsNotImplemented(err):
		return CodeNotImplemented
	case cerrdefs.IsCanceled(err), errors.Is(err, context.Canceled):
		return CodeCanceled
	case cerrdefs.IsDeadlineExceeded(err), errors.Is(err, context.DeadlineExceeded):
		return CodeDeadline
	}
	if s, ok := status.FromError(err); ok {
		switch s.Code() {
		case codes.NotFound:
			return CodeNotFound
		case codes.AlreadyExists:
			return CodeAlreadyExists
		case codes.FailedPrecondition:
			return CodeFailedPrecondition
		case codes.InvalidArgument, codes.OutOfRange:
			return CodeInvalidParameter
		case codes.Unavailable:
			return CodeUnavailable
		case codes.DeadlineExceeded:
			return CodeDeadline
		case codes.Canceled:
			return CodeCanceled
		case codes.Unimplemented:
			return CodeNotImplemented
		case codes.PermissionDenied, codes.Unauthenticated:
			return CodeForbidden
		case codes.Internal, codes.DataLoss:
			return CodeSystem
		}
	}
	return CodeUnknown
}
