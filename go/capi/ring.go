package main

/*
#include <stdlib.h>
#include "ring.h"
*/
import "C"

import (
	"context"
	"errors"
	"os"
	"strings"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"pylibctrd/bridge"
)

// ringCalls are the exports a submission ring starts (pylibctrd_port_ring
// lists their names; pylibctrd_ring_submit's index is their position): the
// ones whose only argument is a handle, read before they go to the
// background.
var ringCalls = []struct {
	name string
	fn   func(*C.pylibctrd_result, C.uint64_t) C.int
}{
	{"pylibctrd_client_version", pylibctrd_client_version},
	{"pylibctrd_client_list_containers", pylibctrd_client_list_containers},
	{"pylibctrd_client_images", pylibctrd_client_images},
	{"pylibctrd_container_task", pylibctrd_container_task},
	{"pylibctrd_container_delete", pylibctrd_container_delete},
	{"pylibctrd_process_pid", pylibctrd_process_pid},
	{"pylibctrd_process_delete", pylibctrd_process_delete},
	{"pylibctrd_task_start", pylibctrd_task_start},
	{"pylibctrd_task_pause", pylibctrd_task_pause},
	{"pylibctrd_task_resume", pylibctrd_task_resume},
	{"pylibctrd_task_force_delete", pylibctrd_task_force_delete},
	{"pylibctrd_task_status", pylibctrd_task_status},
	{"pylibctrd_task_stats", pylibctrd_task_stats},
	{"pylibctrd_task_pids", pylibctrd_task_pids},
	{"pylibctrd_task_summary", pylibctrd_task_summary},
	{"pylibctrd_sleep_for_test", pylibctrd_sleep_for_test},
}

// ring is a port's submission ring (ring.c) and the dispatcher goroutine
// that serves it. The event loop's thread queues calls in C memory without
// entering Go, so it never takes one of Go's Ps, nor leaves one held while
// it runs Python; the dispatcher starts them on the port's workers.
type ring struct {
	port   *bridge.Port
	handle uint64 // the port's
	// mu is held while entries are taken and started, so that whoever holds
	// it sees every submitted call either still queued or started.
	mu     sync.Mutex
	c      *C.pylibctrd_ring
	wake   *os.File // the eventfd submissions write while the dispatcher sleeps
	closed bool
}

var rings = struct {
	sync.Mutex
	of map[*bridge.Port]*ring
}{of: map[*bridge.Port]*ring{}}

// ringOf is p's ring, made (with its dispatcher) on first use.
func ringOf(p *bridge.Port, handle uint64) (*ring, error) {
	rings.Lock()
	defer rings.Unlock()
	if r := rings.of[p]; r != nil {
		return r, nil
	}
	if p.Closed() {
		return nil, bridge.Errorf(bridge.CodeClosed, "completion port is closed")
	}
	fd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return nil, bridge.Errorf(bridge.CodeSystem, "eventfd: %v", err)
	}
	c := C.pylibctrd_ring_new(C.int(fd))
	if c == nil {
		unix.Close(fd)
		return nil, bridge.Errorf(bridge.CodeSystem, "out of memory")
	}
	// Non-blocking: reads wait in Go's netpoller, not on a thread.
	r := &ring{port: p, handle: handle, c: c, wake: os.NewFile(uintptr(fd), "pylibctrd-ring")}
	rings.of[p] = r
	p.SetOutbox(r)
	go r.serve()
	return r, nil
}

// Put stores c in the C ring for pylibctrd_ring_take (Outbox; called with
// the port's lock held, so never after close detached it).
func (r *ring) Put(c bridge.Completion) (first, ok bool) {
	length, data := C.uint64_t(noData), (*C.char)(nil)
	if c.Result.Data != nil {
		length = C.uint64_t(len(c.Result.Data))
		if len(c.Result.Data) > 0 {
			data = (*C.char)(unsafe.Pointer(&c.Result.Data[0]))
		}
	}
	before := C.pylibctrd_ring_put(r.c, C.uint64_t(c.Call), C.uint64_t(c.Result.Number),
		C.int64_t(c.Code), data, length)
	return before == 0, before >= 0
}

// noData marks a record without data (PYLIBCTRD_NO_DATA).
const noData = ^uint64(0)

// existingRing is p's ring, nil if it has none.
func existingRing(p *bridge.Port) *ring {
	rings.Lock()
	defer rings.Unlock()
	return rings.of[p]
}

// serve starts queued calls until the ring closes, sleeping in the
// netpoller while there are none.
func (r *ring) serve() {
	var one [8]byte
	for {
		r.mu.Lock()
		if r.closed {
			r.mu.Unlock()
			return
		}
		r.start()
		r.mu.Unlock()
		if _, err := r.wake.Read(one[:]); errors.Is(err, os.ErrClosed) {
			return
		} else if err != nil { // not expected of an eventfd: never spin on it
			time.Sleep(time.Millisecond)
		}
	}
}

// start takes and starts every queued call (r.mu held). Taking none marks
// the dispatcher asleep (ring.c), so it returns only then.
func (r *ring) start() {
	var buf [64]C.pylibctrd_ring_entry
	for {
		n := int(C.pylibctrd_ring_pop(r.c, &buf[0], C.size_t(len(buf))))
		if n == 0 {
			return
		}
		for _, e := range buf[:n] {
			r.call(uint64(e.call), int(e.index), e.arg)
		}
	}
}

// call starts one queued call as its export would with out.port and
// out.call set; a call it refuses completes with that error.
func (r *ring) call(id uint64, index int, arg C.uint64_t) {
	if index < 0 || index >= len(ringCalls) {
		r.port.Refuse(id, bridge.Errorf(bridge.CodeInvalidParameter, "no ring call %d", index))
		return
	}
	var out C.pylibctrd_result
	out.port, out.call = C.uint64_t(r.handle), C.uint64_t(id)
	rc := ringCalls[index].fn(&out, arg)
	if bridge.Code(rc) == bridge.CodePending {
		return
	}
	msg := ""
	if out.data != nil {
		msg = C.GoStringN(out.data, C.int(out.len))
		C.free(unsafe.Pointer(out.data))
	}
	if rc == 0 { // cannot happen: with out.call set an export starts or refuses
		msg, rc = "call was neither started nor refused", C.int(bridge.CodeUnknown)
	}
	r.port.Refuse(id, bridge.Errorf(bridge.Code(rc), "%s", msg))
}

// flush starts every queued call now (on the caller's goroutine), so that a
// call submitted before is in flight or completed: Cancel then finds it.
func (r *ring) flush() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.closed {
		r.start()
	}
}

// close refuses further submissions, drops queued ones (the port's Close
// fails them in Python), ends the dispatcher and frees the C ring. It
// returns the completions not yet taken (records as pylibctrd_port_take's):
// the caller releases what they made.
func (r *ring) close() (int, []byte) {
	rings.Lock()
	delete(rings.of, r.port)
	rings.Unlock()
	r.port.SetOutbox(nil) // later completions wait in the port, which drops them
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return 0, nil
	}
	r.closed = true
	C.pylibctrd_ring_close(r.c)
	var left C.pylibctrd_result
	C.pylibctrd_ring_take(&left, r.c)
	C.pylibctrd_ring_free(r.c)
	r.c = nil
	r.mu.Unlock()
	r.wake.Close() // outside mu: Close waits for the dispatcher's Read to return
	var packed []byte
	if left.data != nil {
		packed = C.GoBytes(unsafe.Pointer(left.data), C.int(left.len))
		C.free(unsafe.Pointer(left.data))
	}
	return int(left.number), packed
}

func ringNames() []byte {
	names := make([]string, len(ringCalls))
	for i, c := range ringCalls {
		names[i] = c.name
	}
	return []byte(strings.Join(names, "\x00"))
}

//export pylibctrd_port_ring
func pylibctrd_port_ring(out *C.pylibctrd_result, h C.uint64_t) C.int {
	return now(out, func(context.Context) (result, error) {
		p, err := bridge.Lookup[*bridge.Port](uint64(h))
		if err != nil {
			return bridge.None(err)
		}
		r, err := ringOf(p, uint64(h))
		if err != nil {
			return bridge.None(err)
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		if r.closed {
			return bridge.None(bridge.Errorf(bridge.CodeClosed, "completion port is closed"))
		}
		return result{Number: uint64(uintptr(unsafe.Pointer(r.c))), Data: ringNames()}, nil
	})
}
