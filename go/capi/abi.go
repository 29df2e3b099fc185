// Package main is the C ABI over Moby's libcontainerd (built -buildmode=c-shared).
// Each export only converts arguments, looks up handles and calls package core;
// run() turns errors and panics into a status and a message.
package main

/*
#cgo CFLAGS: -I${SRCDIR}/../include
#include <stdlib.h>
#include "trampoline.h"
*/
import "C"

import (
	"fmt"
	"unsafe"

	"pylibctrd/core"
)

func main() {}

// result is what an export hands back through *out.
type result struct {
	number uint64
	data   []byte
}

// run calls fn and fills *out; it is the only place errors and panics cross.
func run(out *C.pylibctrd_result, fn func() (result, error)) (rc C.int) {
	defer func() {
		if r := recover(); r != nil {
			rc = fail(out, core.Errorf(core.CodePanic, "pylibctrd: Go panic: %v", r))
		}
	}()
	if out == nil {
		return C.int(core.CodeInvalidParameter)
	}
	res, err := fn()
	if err != nil {
		return fail(out, err)
	}
	out.number = C.uint64_t(res.number)
	setData(out, res.data)
	return C.int(core.CodeOK)
}

func fail(out *C.pylibctrd_result, err error) C.int {
	if out != nil {
		out.number = 0
		setData(out, []byte(err.Error()))
	}
	return C.int(core.Classify(err))
}

func setData(out *C.pylibctrd_result, data []byte) {
	if data == nil {
		out.data, out.len = nil, 0
		return
	}
	out.data = (*C.char)(C.CBytes(data))
	out.len = C.size_t(len(data))
}

// bytesOf views C memory as a Go slice for the duration of a call.
func bytesOf(p *C.char, n C.size_t) []byte {
	if p == nil || n == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(p)), int(n))
}

// copyOf copies C memory that Go keeps after the call returns.
func copyOf(p *C.char, n C.size_t) []byte {
	return append([]byte(nil), bytesOf(p, n)...)
}

func goString(p *C.char) string {
	if p == nil {
		return ""
	}
	return C.GoString(p)
}

// handle wraps an object that Python will own.
func handle(obj any, err error) (result, error) {
	if err != nil {
		return result{}, err
	}
	return result{number: core.Handles.Put(obj)}, nil
}

func data(b []byte, err error) (result, error) { return result{data: b}, err }

func none(err error) (result, error) { return result{}, err }

// callbackError reads the message a Python callback left in buf.
func callbackError(what string, buf []C.char) error {
	msg := C.GoString(&buf[0])
	if msg == "" {
		msg = "unknown error"
	}
	return fmt.Errorf("%s: %s", what, msg)
}

func installCallbacks() {
	core.Init(core.Callbacks{
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
	})
}
