package main

/*
#include <stdlib.h>
#include "trampoline.h"
*/
import "C"

import (
	"encoding/json"
	"time"
	"unsafe"

	"pylibctrd/core"
)

//export pylibctrd_free
func pylibctrd_free(p unsafe.Pointer) { C.free(p) }

//export pylibctrd_init
func pylibctrd_init(onEvent C.pylibctrd_event_fn, onStdio C.pylibctrd_stdio_fn, onLog C.pylibctrd_log_fn, level C.int, out *C.pylibctrd_result) C.int {
	return run(out, func() (result, error) {
		C.pylibctrd_set_callbacks(onEvent, onStdio, onLog)
		installCallbacks()
		core.SetLogLevel(int(level))
		return result{}, nil
	})
}

//export pylibctrd_shutdown
func pylibctrd_shutdown(timeoutMs C.int64_t, out *C.pylibctrd_result) C.int {
	return run(out, func() (result, error) {
		if !core.Shutdown(time.Duration(timeoutMs) * time.Millisecond) {
			return none(core.Errorf(core.CodeDeadline, "callbacks still running after %dms", int64(timeoutMs)))
		}
		return result{}, nil
	})
}

//export pylibctrd_set_log_level
func pylibctrd_set_log_level(level C.int, out *C.pylibctrd_result) C.int {
	return run(out, func() (result, error) {
		core.SetLogLevel(int(level))
		return result{}, nil
	})
}

//export pylibctrd_release
func pylibctrd_release(h C.uint64_t, out *C.pylibctrd_result) C.int {
	return run(out, func() (result, error) {
		core.Handles.Release(uint64(h))
		return result{}, nil
	})
}

//export pylibctrd_live_handles
func pylibctrd_live_handles(out *C.pylibctrd_result) C.int {
	return run(out, func() (result, error) {
		return result{number: uint64(core.Handles.Len())}, nil
	})
}

//export pylibctrd_nop
func pylibctrd_nop(out *C.pylibctrd_result) C.int {
	return run(out, func() (result, error) { return result{}, nil })
}

//export pylibctrd_echo
func pylibctrd_echo(p *C.char, n C.size_t, out *C.pylibctrd_result) C.int {
	return run(out, func() (result, error) {
		var v any
		if err := json.Unmarshal(bytesOf(p, n), &v); err != nil {
			return none(core.Errorf(core.CodeInvalidParameter, "not JSON: %v", err))
		}
		return data(json.Marshal(v))
	})
}

//export pylibctrd_default_spec
func pylibctrd_default_spec(out *C.pylibctrd_result) C.int {
	return run(out, func() (result, error) { return data(core.DefaultSpec()) })
}

//export pylibctrd_panic_for_test
func pylibctrd_panic_for_test(out *C.pylibctrd_result) C.int {
	return run(out, func() (result, error) {
		var m map[string]int
		m["boom"] = 1 // a real runtime panic: assignment to a nil map
		return result{}, nil
	})
}

//export pylibctrd_daemon_start
func pylibctrd_daemon_start(root, state, level *C.char, out *C.pylibctrd_result) C.int {
	return run(out, func() (result, error) {
		d, err := core.StartDaemon(goString(root), goString(state), goString(level))
		if err != nil {
			return none(err)
		}
		return result{number: core.Handles.Put(d), data: []byte(d.Address())}, nil
	})
}

//export pylibctrd_daemon_stop
func pylibctrd_daemon_stop(h C.uint64_t, timeoutMs C.int64_t, out *C.pylibctrd_result) C.int {
	return run(out, func() (result, error) {
		d, err := core.Lookup[*core.Daemon](uint64(h))
		if err != nil {
			return none(err)
		}
		return none(d.Stop(time.Duration(timeoutMs) * time.Millisecond))
	})
}

//export pylibctrd_client_connect
func pylibctrd_client_connect(address, ns, stateDir *C.char, eventsKey C.uint64_t, timeoutMs C.int64_t, out *C.pylibctrd_result) C.int {
	return run(out, func() (result, error) {
		c, err := core.Connect(core.ConnectOptions{
			Address:   goString(address),
			Namespace: goString(ns),
			StateDir:  goString(stateDir),
			EventsKey: uint64(eventsKey),
			Timeout:   time.Duration(timeoutMs) * time.Millisecond,
		})
		if err != nil {
			return none(err)
		}
		return result{number: c.Handle}, nil
	})
}

//export pylibctrd_client_close
func pylibctrd_client_close(h C.uint64_t, wait C.int, out *C.pylibctrd_result) C.int {
	return run(out, func() (result, error) {
		c, err := core.Lookup[*core.Client](uint64(h))
		if err != nil {
			return none(err)
		}
		c.Close(wait != 0)
		return result{}, nil
	})
}

//export pylibctrd_client_version
func pylibctrd_client_version(h C.uint64_t, out *C.pylibctrd_result) C.int {
	return run(out, func() (result, error) {
		c, err := core.Lookup[*core.Client](uint64(h))
		if err != nil {
			return none(err)
		}
		return data(c.Version())
	})
}

//export pylibctrd_client_load_container
func pylibctrd_client_load_container(h C.uint64_t, id *C.char, out *C.pylibctrd_result) C.int {
	return run(out, func() (result, error) {
		c, err := core.Lookup[*core.Client](uint64(h))
		if err != nil {
			return none(err)
		}
		return handle(c.LoadContainer(goString(id)))
	})
}

//export pylibctrd_client_new_container
func pylibctrd_client_new_container(h C.uint64_t, id, spec *C.char, specLen C.size_t, shim, runtimeOptions *C.char, runtimeOptionsLen C.size_t, labels *C.char, labelsLen C.size_t, replace C.int, out *C.pylibctrd_result) C.int {
	return run(out, func() (result, error) {
		c, err := core.Lookup[*core.Client](uint64(h))
		if err != nil {
			return none(err)
		}
		return handle(c.NewContainer(core.NewContainerOptions{
			ID:             goString(id),
			Spec:           copyOf(spec, specLen),
			Shim:           goString(shim),
			RuntimeOptions: copyOf(runtimeOptions, runtimeOptionsLen),
			Labels:         copyOf(labels, labelsLen),
			Replace:        replace != 0,
		}))
	})
}

//export pylibctrd_container_new_task
func pylibctrd_container_new_task(h C.uint64_t, checkpointDir *C.char, withStdin C.int, token C.uint64_t, out *C.pylibctrd_result) C.int {
	return run(out, func() (result, error) {
		c, err := core.Lookup[*core.Container](uint64(h))
		if err != nil {
			return none(err)
		}
		return handle(c.NewTask(goString(checkpointDir), withStdin != 0, uint64(token)))
	})
}

//export pylibctrd_container_task
func pylibctrd_container_task(h C.uint64_t, out *C.pylibctrd_result) C.int {
	return run(out, func() (result, error) {
		c, err := core.Lookup[*core.Container](uint64(h))
		if err != nil {
			return none(err)
		}
		return handle(c.Task())
	})
}

//export pylibctrd_container_attach_task
func pylibctrd_container_attach_task(h C.uint64_t, token C.uint64_t, out *C.pylibctrd_result) C.int {
	return run(out, func() (result, error) {
		c, err := core.Lookup[*core.Container](uint64(h))
		if err != nil {
			return none(err)
		}
		return handle(c.AttachTask(uint64(token)))
	})
}

//export pylibctrd_container_delete
func pylibctrd_container_delete(h C.uint64_t, out *C.pylibctrd_result) C.int {
	return run(out, func() (result, error) {
		c, err := core.Lookup[*core.Container](uint64(h))
		if err != nil {
			return none(err)
		}
		return none(c.Delete())
	})
}

//export pylibctrd_process_pid
func pylibctrd_process_pid(h C.uint64_t, out *C.pylibctrd_result) C.int {
	return run(out, func() (result, error) {
		p, err := core.Lookup[core.Proc](uint64(h))
		if err != nil {
			return none(err)
		}
		pid, err := core.Pid(p)
		return result{number: uint64(pid)}, err
	})
}

//export pylibctrd_process_kill
func pylibctrd_process_kill(h C.uint64_t, signal C.int, out *C.pylibctrd_result) C.int {
	return run(out, func() (result, error) {
		p, err := core.Lookup[core.Proc](uint64(h))
		if err != nil {
			return none(err)
		}
		return none(core.Kill(p, int(signal)))
	})
}

//export pylibctrd_process_resize
func pylibctrd_process_resize(h C.uint64_t, width, height C.uint32_t, out *C.pylibctrd_result) C.int {
	return run(out, func() (result, error) {
		p, err := core.Lookup[core.Proc](uint64(h))
		if err != nil {
			return none(err)
		}
		return none(core.Resize(p, uint32(width), uint32(height)))
	})
}

//export pylibctrd_process_delete
func pylibctrd_process_delete(h C.uint64_t, out *C.pylibctrd_result) C.int {
	return run(out, func() (result, error) {
		p, err := core.Lookup[core.Proc](uint64(h))
		if err != nil {
			return none(err)
		}
		return data(core.Delete(p))
	})
}

// taskCall looks up a task and runs one of its methods.
func taskCall(h C.uint64_t, out *C.pylibctrd_result, fn func(t *core.Task) (result, error)) C.int {
	return run(out, func() (result, error) {
		t, err := core.Lookup[*core.Task](uint64(h))
		if err != nil {
			return none(err)
		}
		return fn(t)
	})
}

//export pylibctrd_task_start
func pylibctrd_task_start(h C.uint64_t, out *C.pylibctrd_result) C.int {
	return taskCall(h, out, func(t *core.Task) (result, error) { return none(t.Start()) })
}

//export pylibctrd_task_pause
func pylibctrd_task_pause(h C.uint64_t, out *C.pylibctrd_result) C.int {
	return taskCall(h, out, func(t *core.Task) (result, error) { return none(t.Pause()) })
}

//export pylibctrd_task_resume
func pylibctrd_task_resume(h C.uint64_t, out *C.pylibctrd_result) C.int {
	return taskCall(h, out, func(t *core.Task) (result, error) { return none(t.Resume()) })
}

//export pylibctrd_task_force_delete
func pylibctrd_task_force_delete(h C.uint64_t, out *C.pylibctrd_result) C.int {
	return taskCall(h, out, func(t *core.Task) (result, error) { return none(t.ForceDelete()) })
}

//export pylibctrd_task_status
func pylibctrd_task_status(h C.uint64_t, out *C.pylibctrd_result) C.int {
	return taskCall(h, out, func(t *core.Task) (result, error) { return data(t.Status()) })
}

//export pylibctrd_task_stats
func pylibctrd_task_stats(h C.uint64_t, out *C.pylibctrd_result) C.int {
	return taskCall(h, out, func(t *core.Task) (result, error) { return data(t.Stats()) })
}

//export pylibctrd_task_pids
func pylibctrd_task_pids(h C.uint64_t, out *C.pylibctrd_result) C.int {
	return taskCall(h, out, func(t *core.Task) (result, error) { return data(t.Pids()) })
}

//export pylibctrd_task_summary
func pylibctrd_task_summary(h C.uint64_t, out *C.pylibctrd_result) C.int {
	return taskCall(h, out, func(t *core.Task) (result, error) { return data(t.Summary()) })
}

//export pylibctrd_task_exec
func pylibctrd_task_exec(h C.uint64_t, processID, spec *C.char, specLen C.size_t, withStdin C.int, token C.uint64_t, out *C.pylibctrd_result) C.int {
	return taskCall(h, out, func(t *core.Task) (result, error) {
		return handle(t.Exec(goString(processID), copyOf(spec, specLen), withStdin != 0, uint64(token)))
	})
}

//export pylibctrd_task_update_resources
func pylibctrd_task_update_resources(h C.uint64_t, resources *C.char, n C.size_t, out *C.pylibctrd_result) C.int {
	return taskCall(h, out, func(t *core.Task) (result, error) {
		return none(t.UpdateResources(copyOf(resources, n)))
	})
}

//export pylibctrd_task_create_checkpoint
func pylibctrd_task_create_checkpoint(h C.uint64_t, dir *C.char, exit C.int, out *C.pylibctrd_result) C.int {
	return taskCall(h, out, func(t *core.Task) (result, error) {
		return none(t.CreateCheckpoint(goString(dir), exit != 0))
	})
}

// streamCall looks up a stdio stream and runs fn on it.
func streamCall(h C.uint64_t, out *C.pylibctrd_result, fn func(s *core.Stream) (result, error)) C.int {
	return run(out, func() (result, error) {
		s, err := core.Lookup[*core.Stream](uint64(h))
		if err != nil {
			return none(err)
		}
		return fn(s)
	})
}

//export pylibctrd_stream_read
func pylibctrd_stream_read(h C.uint64_t, buf *C.char, n C.size_t, out *C.pylibctrd_result) C.int {
	return streamCall(h, out, func(s *core.Stream) (result, error) {
		read, err := s.Read(bytesOf(buf, n))
		return result{number: uint64(read)}, err
	})
}

//export pylibctrd_stream_write
func pylibctrd_stream_write(h C.uint64_t, buf *C.char, n C.size_t, out *C.pylibctrd_result) C.int {
	return streamCall(h, out, func(s *core.Stream) (result, error) {
		written, err := s.Write(bytesOf(buf, n))
		return result{number: uint64(written)}, err
	})
}

//export pylibctrd_stream_close
func pylibctrd_stream_close(h C.uint64_t, out *C.pylibctrd_result) C.int {
	return streamCall(h, out, func(s *core.Stream) (result, error) {
		core.Handles.Release(uint64(h))
		return none(s.Close())
	})
}
