package bridge

import "sync"

// Registry maps the uint64 handles Python holds to Go objects. Handles are
// never reused, so a stale handle can only miss, never alias another object.
type Registry struct {
	mu   sync.Mutex
	next uint64
	objs map[uint64]any
}

// Handles is the process-wide registry used by the C ABI.
var Handles = &Registry{objs: map[uint64]any{}}

// Put stores obj and returns its new handle (never 0).
func (r *Registry) Put(obj any) uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.next++
	r.objs[r.next] = obj
	return r.next
}

// Release forgets a handle; releasing twice is fine.
func (r *Registry) Release(h uint64) {
	r.mu.Lock()
	delete(r.objs, h)
	r.mu.Unlock()
}

// Len is the number of live handles (for leak checks).
func (r *Registry) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.objs)
}

// Lookup returns the object behind h as a T, or an InvalidHandle error.
func Lookup[T any](h uint64) (T, error) {
	Handles.mu.Lock()
	obj, ok := Handles.objs[h]
	Handles.mu.Unlock()
	t, isT := obj.(T)
	if !ok {
		return t, Errorf(CodeInvalidHandle, "invalid handle %d: unknown or released", h)
	}
	if !isT {
		return t, Errorf(CodeInvalidHandle, "invalid handle %d: a %T, not a %T", h, obj, t)
	}
	return t, nil
}
