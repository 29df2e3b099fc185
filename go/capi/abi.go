// Package main is the C ABI over package bridge (built -buildmode=c-shared).
// Each export converts its C arguments and calls one Go function through
// on() or run(), the only places where errors and panics cross.
package main

/*
#cgo CFLAGS: -I${SRCDIR}/../include
#include <stdlib.h>
#include "trampoline.h"
*/
import "C"

import (
	"context"
	"fmt"
	"unsafe"

	"pylibctrd/bridge"
)

func main() {}

// run calls fn and fills *out with its result, or with its error's class and
// message; a panic becomes PANIC. With out.port and out.call set, fn runs in
// the background on that port instead: exports must have read every C
// argument before calling run, since the caller's memory may be gone by then.
func run(out *C.pylibctrd_result, fn func(ctx context.Context) (bridge.Result, error)) C.int {
	if out == nil {
		return C.int(bridge.CodeInvalidParameter)
	}
	if out.call != 0 {
		port, err := bridge.Lookup[*bridge.Port](uint64(out.port))
		if err == nil {
			err = port.Go(uint64(out.call), fn)
		}
		if err != nil {
			return fail(out, err)
		}
		return C.int(bridge.CodePending)
	}
	ctx := context.Background()
	if out.flags&C.PYLIBCTRD_INTERRUPTIBLE != 0 {
		if bridge.SIGINTHookDue() {
			C.pylibctrd_hook_sigint(C.int(bridge.InterruptFD()))
		}
		ctx = bridge.InterruptibleContext()
	}
	res, err := bridge.Protect(ctx, fn)
	return complete(out, res, err)
}

// now is run for exports that cannot run in the background (they use the
// caller's memory after checking their arguments).
func now(out *C.pylibctrd_result, fn func(ctx context.Context) (bridge.Result, error)) C.int {
	if out != nil && out.call != 0 {
		return fail(out, bridge.Errorf(bridge.CodeInvalidParameter, "this call cannot run in the background"))
	}
	return run(out, fn)
}

func complete(out *C.pylibctrd_result, res bridge.Result, err error) C.int {
	if err != nil {
		return fail(out, err)
	}
	out.number = C.uint64_t(res.Number)
	setData(out, res.Data)
	return C.int(bridge.CodeOK)
}

// on looks up handle h as a T and runs fn on it.
func on[T any](out *C.pylibctrd_result, h C.uint64_t, fn func(ctx context.Context, obj T) (bridge.Result, error)) C.int {
	return run(out, func(ctx context.Context) (bridge.Result, error) {
		obj, err := bridge.Lookup[T](uint64(h))
		if err != nil {
			return bridge.Result{}, err
		}
		return fn(ctx, obj)
	})
}

func fail(out *C.pylibctrd_result, err error) C.int {
	if out != nil {
		out.number = 0
		setData(out, []byte(err.Error()))
	}
	return C.int(bridge.Classify(err))
}

func setData(out *C.pylibctrd_result, data []byte) {
	if data == nil {
		out.data, out.len = nil, 0
		return
	}
	out.data = (*C.char)(C.CBytes(data))
	out.len = C.size_t(len(data))
}

// copyOf copies C memory (arguments are read before a call may go to the background).
func copyOf(p *C.char, n C.size_t) []byte {
	return append([]byte(nil), bytesOf(p, n)...)
}

// bytesOf views C memory as a Go slice, for calls that run now only.
func bytesOf(p *C.char, n C.size_t) []byte {
	if p == nil || n == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(p)), int(n))
}

func goString(p *C.char) string {
	if p == nil {
		return ""
	}
	return C.GoString(p)
}

// callbackError reads the message a Python callback left in buf.
func callbackError(what string, buf []C.char) error {
	msg := C.GoString(&buf[0])
	if msg == "" {
		msg = "unknown error"
	}
	return fmt.Errorf("%s: %s", what, msg)
}

func callbacks() bridge.Callbacks {
	return bridge.Callbacks{
		Event: func(key uint64, payload []byte) error {
			var buf [1024]C.char
			if C.pylibctrd_call_event(C.uint64_t(key), (*C.char)(unsafe.Pointer(&payload[0])), C.size_t(len(payload)), &buf[0], C.size_t(len(buf))) != 0 {
				return callbackError("Python backend raised", buf[:])
			}
			return nil
		},
		Stdio: func(token, stdin, stdout, stderr uint64) error {
			var buf [1024]C.char
			if C.pylibctrd_call_stdio(C.uint64_t(token), C.uint64_t(stdin), C.uint64_t(stdout), C.uint64_t(stderr), &buf[0], C.size_t(len(buf))) != 0 {
				return callbackError("attach_stdio callback raised", buf[:])
			}
			return nil
		},
		Log: func(level int, msg string) {
			if msg == "" {
				return
			}
			C.pylibctrd_call_log(C.int(level), (*C.char)(unsafe.Pointer(unsafe.StringData(msg))), C.size_t(len(msg)))
		},
	}
}
