package main

/*
#include <stdlib.h>
#include "trampoline.h"
*/
import "C"

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"sync"
	"time"
	"unsafe"

	"github.com/docker/docker/errdefs"
	containerd "pylibctrd/internal/c8d/client"

	"pylibctrd/bridge"
	"pylibctrd/core"
)

type result = bridge.Result

// process is what a Task and an exec'd Process share.
type process interface {
	Pid() (uint32, error)
	Kill(ctx context.Context, signal int) error
	Resize(ctx context.Context, width, height uint32) error
	Delete(ctx context.Context) (*containerd.ExitStatus, error)
}

func millis(ms C.int64_t) time.Duration { return time.Duration(ms) * time.Millisecond }

//export pylibctrd_free
func pylibctrd_free(p unsafe.Pointer) { C.free(p) }

//export pylibctrd_init
func pylibctrd_init(out *C.pylibctrd_result, onEvent C.pylibctrd_event_fn, onStdio C.pylibctrd_stdio_fn, onLog C.pylibctrd_log_fn, level C.int) C.int {
	return run(out, func(context.Context) (result, error) {
		C.pylibctrd_set_callbacks(onEvent, onStdio, onLog)
		bridge.Init(callbacks(), int(level))
		return result{}, nil
	})
}

//export pylibctrd_shutdown
func pylibctrd_shutdown(out *C.pylibctrd_result, timeoutMs C.int64_t) C.int {
	return run(out, func(context.Context) (result, error) { return bridge.None(bridge.Shutdown(millis(timeoutMs))) })
}

//export pylibctrd_set_log_level
func pylibctrd_set_log_level(out *C.pylibctrd_result, level C.int) C.int {
	return run(out, func(context.Context) (result, error) { bridge.SetLogLevel(int(level)); return result{}, nil })
}

//export pylibctrd_release
func pylibctrd_release(out *C.pylibctrd_result, h C.uint64_t) C.int {
	return run(out, func(context.Context) (result, error) { bridge.Handles.Release(uint64(h)); return result{}, nil })
}

//export pylibctrd_live_handles
func pylibctrd_live_handles(out *C.pylibctrd_result) C.int {
	return run(out, func(context.Context) (result, error) { return bridge.Number(uint64(bridge.Handles.Len()), nil) })
}

//export pylibctrd_goroutines
func pylibctrd_goroutines(out *C.pylibctrd_result) C.int {
	return run(out, func(context.Context) (result, error) { return bridge.Number(uint64(bridge.Goroutines()), nil) })
}

//export pylibctrd_goroutine_stacks
func pylibctrd_goroutine_stacks(out *C.pylibctrd_result) C.int {
	return run(out, func(context.Context) (result, error) { return result{Data: bridge.GoroutineStacks()}, nil })
}

//export pylibctrd_port_open
func pylibctrd_port_open(out *C.pylibctrd_result) C.int {
	return now(out, func(context.Context) (result, error) { return bridge.Handle(bridge.NewPort()) })
}

//export pylibctrd_port_fd
func pylibctrd_port_fd(out *C.pylibctrd_result, h C.uint64_t) C.int {
	return on(out, h, func(_ context.Context, p *bridge.Port) (result, error) { return bridge.Number(uint64(p.FD()), nil) })
}

//export pylibctrd_port_take
func pylibctrd_port_take(out *C.pylibctrd_result, h C.uint64_t, max C.size_t) C.int {
	return now(out, func(context.Context) (result, error) {
		p, err := bridge.Lookup[*bridge.Port](uint64(h))
		if err != nil {
			return bridge.None(err)
		}
		n, packed := p.Take(int(max))
		return result{Number: uint64(n), Data: packed}, nil
	})
}

//export pylibctrd_port_cancel
func pylibctrd_port_cancel(out *C.pylibctrd_result, h, call C.uint64_t) C.int {
	return on(out, h, func(_ context.Context, p *bridge.Port) (result, error) {
		if r := existingRing(p); r != nil {
			r.flush() // a call still queued in the ring is started first
		}
		return bridge.Flag(p.Cancel(uint64(call)), nil)
	})
}

//export pylibctrd_port_close
func pylibctrd_port_close(out *C.pylibctrd_result, h C.uint64_t) C.int {
	return on(out, h, func(_ context.Context, p *bridge.Port) (result, error) {
		n, left := 0, []byte(nil)
		if r := existingRing(p); r != nil {
			n, left = r.close()
		}
		p.Close()
		return result{Number: uint64(n), Data: left}, nil
	})
}

//export pylibctrd_nop
func pylibctrd_nop(out *C.pylibctrd_result) C.int {
	return run(out, func(context.Context) (result, error) { return result{}, nil })
}

//export pylibctrd_echo
func pylibctrd_echo(out *C.pylibctrd_result, p *C.char, n C.size_t) C.int {
	data := copyOf(p, n)
	return run(out, func(context.Context) (result, error) {
		var v any
		if err := json.Unmarshal(data, &v); err != nil {
			return bridge.None(bridge.Errorf(bridge.CodeInvalidParameter, "not JSON: %v", err))
		}
		return bridge.JSON(v)
	})
}

//export pylibctrd_default_spec
func pylibctrd_default_spec(out *C.pylibctrd_result) C.int {
	return run(out, func(context.Context) (result, error) { return bridge.JSON(core.DefaultSpec()) })
}

//export pylibctrd_sleep_for_test
func pylibctrd_sleep_for_test(out *C.pylibctrd_result, ms C.uint64_t) C.int {
	return run(out, func(ctx context.Context) (result, error) {
		t := time.NewTimer(time.Duration(ms) * time.Millisecond)
		defer t.Stop()
		select {
		case <-t.C:
			return bridge.Number(uint64(ms), nil)
		case <-ctx.Done():
			return bridge.None(ctx.Err())
		}
	})
}

//export pylibctrd_panic_for_test
func pylibctrd_panic_for_test(out *C.pylibctrd_result) C.int {
	return run(out, func(context.Context) (result, error) {
		var m map[string]int
		m["boom"] = 1 // a real runtime panic: assignment to a nil map
		return result{}, nil
	})
}

//export pylibctrd_daemon_start
func pylibctrd_daemon_start(out *C.pylibctrd_result, root, state, level, containerd *C.char) C.int {
	rootDir, stateDir, logLevel, binary := goString(root), goString(state), goString(level), goString(containerd)
	return run(out, func(context.Context) (result, error) {
		d, err := bridge.StartDaemon(rootDir, stateDir, logLevel, binary)
		if err != nil {
			return bridge.None(err)
		}
		res, err := bridge.Handle(d, nil)
		res.Data = bridge.Text(d.Address()).Data
		return res, err
	})
}

//export pylibctrd_daemon_stop
func pylibctrd_daemon_stop(out *C.pylibctrd_result, h C.uint64_t, timeoutMs C.int64_t) C.int {
	return on(out, h, func(_ context.Context, d *core.Daemon) (result, error) { return bridge.None(d.Stop(millis(timeoutMs))) })
}

//export pylibctrd_client_connect
func pylibctrd_client_connect(out *C.pylibctrd_result, address, ns, stateDir *C.char, eventsKey C.uint64_t, timeoutMs C.int64_t) C.int {
	o := core.ConnectOptions{Address: goString(address), Namespace: goString(ns), StateDir: goString(stateDir), Timeout: millis(timeoutMs)}
	return run(out, func(ctx context.Context) (result, error) {
		return bridge.Handle(bridge.Connect(ctx, o, uint64(eventsKey)))
	})
}

//export pylibctrd_client_close
func pylibctrd_client_close(out *C.pylibctrd_result, h C.uint64_t, wait C.int) C.int {
	return on(out, h, func(_ context.Context, c *bridge.Client) (result, error) { c.Close(wait != 0); return result{}, nil })
}

//export pylibctrd_client_version
func pylibctrd_client_version(out *C.pylibctrd_result, h C.uint64_t) C.int {
	return on(out, h, func(ctx context.Context, c *bridge.Client) (result, error) { return bridge.Version(c.Version(ctx)) })
}

//export pylibctrd_client_list_containers
func pylibctrd_client_list_containers(out *C.pylibctrd_result, h C.uint64_t) C.int {
	return on(out, h, func(ctx context.Context, c *bridge.Client) (result, error) {
		return bridge.Containers(c.ListContainers(ctx))
	})
}

//export pylibctrd_client_load_container
func pylibctrd_client_load_container(out *C.pylibctrd_result, h C.uint64_t, id *C.char) C.int {
	containerID := goString(id)
	return on(out, h, func(ctx context.Context, c *bridge.Client) (result, error) {
		return bridge.Handle(c.LoadContainer(ctx, containerID))
	})
}

//export pylibctrd_client_new_container
func pylibctrd_client_new_container(out *C.pylibctrd_result, h C.uint64_t, id, spec *C.char, specLen C.size_t, shim, runtimeOptions *C.char, runtimeOptionsLen C.size_t, labels *C.char, labelsLen C.size_t, replace C.int) C.int {
	o, err := bridge.DecodeNewContainer(goString(id), goString(shim), bytesOf(spec, specLen),
		bytesOf(runtimeOptions, runtimeOptionsLen), bytesOf(labels, labelsLen))
	o.Replace = replace != 0
	return on(out, h, func(ctx context.Context, c *bridge.Client) (result, error) {
		if err != nil {
			return bridge.None(err)
		}
		return bridge.Handle(c.NewContainer(ctx, o))
	})
}

// Images (core/images.go).

//export pylibctrd_client_import_image
func pylibctrd_client_import_image(out *C.pylibctrd_result, h C.uint64_t, path *C.char, fd C.int, name *C.char) C.int {
	archivePath, tag := goString(path), goString(name)
	var pipe *os.File // the fd is ours from here on, whatever happens
	if path == nil {
		pipe = os.NewFile(uintptr(fd), "archive")
	}
	closePipe := sync.OnceFunc(func() {
		if pipe != nil {
			pipe.Close()
		}
	})
	rc := on(out, h, func(ctx context.Context, c *bridge.Client) (result, error) {
		defer closePipe()
		archive := pipe
		if archive == nil {
			f, err := os.Open(archivePath)
			if os.IsNotExist(err) {
				return bridge.None(errdefs.NotFound(err))
			} else if err != nil {
				return bridge.None(errdefs.InvalidParameter(err))
			}
			defer f.Close()
			archive = f
		}
		return bridge.Images(c.ImportImage(ctx, archive, tag))
	})
	if rc != C.int(bridge.CodePending) {
		closePipe() // done, or failed before reading: the writer must not wait
	}
	return rc
}

//export pylibctrd_client_images
func pylibctrd_client_images(out *C.pylibctrd_result, h C.uint64_t) C.int {
	return on(out, h, func(ctx context.Context, c *bridge.Client) (result, error) { return bridge.Images(c.Images(ctx)) })
}

//export pylibctrd_client_get_image
func pylibctrd_client_get_image(out *C.pylibctrd_result, h C.uint64_t, ref *C.char) C.int {
	r := goString(ref)
	return on(out, h, func(ctx context.Context, c *bridge.Client) (result, error) {
		return bridge.OneImage(c.GetImage(ctx, r))
	})
}

//export pylibctrd_client_remove_image
func pylibctrd_client_remove_image(out *C.pylibctrd_result, h C.uint64_t, ref *C.char) C.int {
	r := goString(ref)
	return on(out, h, func(ctx context.Context, c *bridge.Client) (result, error) { return bridge.None(c.RemoveImage(ctx, r)) })
}

//export pylibctrd_client_prepare_rootfs
func pylibctrd_client_prepare_rootfs(out *C.pylibctrd_result, h C.uint64_t, id, ref *C.char) C.int {
	containerID, r := goString(id), goString(ref)
	return on(out, h, func(ctx context.Context, c *bridge.Client) (result, error) {
		path, err := c.PrepareRootfs(ctx, containerID, r)
		return bridge.Text(path), err
	})
}

//export pylibctrd_client_release_rootfs
func pylibctrd_client_release_rootfs(out *C.pylibctrd_result, h C.uint64_t, id *C.char) C.int {
	containerID := goString(id)
	return on(out, h, func(ctx context.Context, c *bridge.Client) (result, error) {
		return bridge.None(c.ReleaseRootfs(ctx, containerID))
	})
}

//export pylibctrd_container_new_task
func pylibctrd_container_new_task(out *C.pylibctrd_result, token, h C.uint64_t, checkpointDir *C.char, withStdin C.int) C.int {
	dir := goString(checkpointDir)
	return on(out, h, func(ctx context.Context, c *core.Container) (result, error) {
		return bridge.Handle(c.NewTask(ctx, dir, withStdin != 0, bridge.StdioCallback(uint64(token))))
	})
}

//export pylibctrd_container_task
func pylibctrd_container_task(out *C.pylibctrd_result, h C.uint64_t) C.int {
	return on(out, h, func(ctx context.Context, c *core.Container) (result, error) { return bridge.Handle(c.Task(ctx)) })
}

//export pylibctrd_container_attach_task
func pylibctrd_container_attach_task(out *C.pylibctrd_result, token, h C.uint64_t) C.int {
	return on(out, h, func(ctx context.Context, c *core.Container) (result, error) {
		return bridge.Handle(c.AttachTask(ctx, bridge.StdioCallback(uint64(token))))
	})
}

//export pylibctrd_container_delete
func pylibctrd_container_delete(out *C.pylibctrd_result, h C.uint64_t) C.int {
	return on(out, h, func(ctx context.Context, c *core.Container) (result, error) { return bridge.None(c.Delete(ctx)) })
}

//export pylibctrd_process_pid
func pylibctrd_process_pid(out *C.pylibctrd_result, h C.uint64_t) C.int {
	return on(out, h, func(_ context.Context, p process) (result, error) {
		pid, err := p.Pid()
		return bridge.Number(uint64(pid), err)
	})
}

//export pylibctrd_process_kill
func pylibctrd_process_kill(out *C.pylibctrd_result, h C.uint64_t, signal C.int) C.int {
	return on(out, h, func(ctx context.Context, p process) (result, error) { return bridge.None(p.Kill(ctx, int(signal))) })
}

//export pylibctrd_process_resize
func pylibctrd_process_resize(out *C.pylibctrd_result, h C.uint64_t, width, height C.uint32_t) C.int {
	return on(out, h, func(ctx context.Context, p process) (result, error) {
		return bridge.None(p.Resize(ctx, uint32(width), uint32(height)))
	})
}

//export pylibctrd_process_delete
func pylibctrd_process_delete(out *C.pylibctrd_result, h C.uint64_t) C.int {
	return on(out, h, func(ctx context.Context, p process) (result, error) { return bridge.ExitStatus(p.Delete(ctx)) })
}

//export pylibctrd_task_start
func pylibctrd_task_start(out *C.pylibctrd_result, h C.uint64_t) C.int {
	return on(out, h, func(ctx context.Context, t *core.Task) (result, error) { return bridge.None(t.Start(ctx)) })
}

//export pylibctrd_task_pause
func pylibctrd_task_pause(out *C.pylibctrd_result, h C.uint64_t) C.int {
	return on(out, h, func(ctx context.Context, t *core.Task) (result, error) { return bridge.None(t.Pause(ctx)) })
}

//export pylibctrd_task_resume
func pylibctrd_task_resume(out *C.pylibctrd_result, h C.uint64_t) C.int {
	return on(out, h, func(ctx context.Context, t *core.Task) (result, error) { return bridge.None(t.Resume(ctx)) })
}

//export pylibctrd_task_force_delete
func pylibctrd_task_force_delete(out *C.pylibctrd_result, h C.uint64_t) C.int {
	return on(out, h, func(ctx context.Context, t *core.Task) (result, error) { return bridge.None(t.ForceDelete(ctx)) })
}

//export pylibctrd_task_status
func pylibctrd_task_status(out *C.pylibctrd_result, h C.uint64_t) C.int {
	return on(out, h, func(ctx context.Context, t *core.Task) (result, error) { return bridge.Status(t.Status(ctx)) })
}

//export pylibctrd_task_stats
func pylibctrd_task_stats(out *C.pylibctrd_result, h C.uint64_t) C.int {
	return on(out, h, func(ctx context.Context, t *core.Task) (result, error) { return bridge.Stats(t.Stats(ctx)) })
}

//export pylibctrd_task_pids
func pylibctrd_task_pids(out *C.pylibctrd_result, h C.uint64_t) C.int {
	return on(out, h, func(ctx context.Context, t *core.Task) (result, error) { return bridge.Pids(t.Pids(ctx)) })
}

//export pylibctrd_task_summary
func pylibctrd_task_summary(out *C.pylibctrd_result, h C.uint64_t) C.int {
	return on(out, h, func(ctx context.Context, t *core.Task) (result, error) { return bridge.Summary(t.Summary(ctx)) })
}

//export pylibctrd_task_exec
func pylibctrd_task_exec(out *C.pylibctrd_result, token, h C.uint64_t, processID, spec *C.char, specLen C.size_t, withStdin C.int) C.int {
	id := goString(processID)
	ps, err := bridge.DecodeProcess(bytesOf(spec, specLen))
	return on(out, h, func(ctx context.Context, t *core.Task) (result, error) {
		if err != nil {
			return bridge.None(err)
		}
		return bridge.Handle(t.Exec(ctx, id, ps, withStdin != 0, bridge.StdioCallback(uint64(token))))
	})
}

//export pylibctrd_task_update_resources
func pylibctrd_task_update_resources(out *C.pylibctrd_result, h C.uint64_t, resources *C.char, n C.size_t) C.int {
	r, err := bridge.DecodeResources(bytesOf(resources, n))
	return on(out, h, func(ctx context.Context, t *core.Task) (result, error) {
		if err != nil {
			return bridge.None(err)
		}
		return bridge.None(t.UpdateResources(ctx, r))
	})
}

//export pylibctrd_task_create_checkpoint
func pylibctrd_task_create_checkpoint(out *C.pylibctrd_result, h C.uint64_t, dir *C.char, exit C.int) C.int {
	checkpointDir := goString(dir)
	return on(out, h, func(ctx context.Context, t *core.Task) (result, error) {
		return bridge.None(t.CreateCheckpoint(ctx, checkpointDir, exit != 0))
	})
}

//export pylibctrd_stream_read
func pylibctrd_stream_read(out *C.pylibctrd_result, h C.uint64_t, buf *C.char, n C.size_t) C.int {
	return now(out, func(ctx context.Context) (result, error) {
		s, err := bridge.Lookup[*core.Stream](uint64(h))
		if err != nil {
			return bridge.None(err)
		}
		read, err := s.Read(bytesOf(buf, n))
		return bridge.Number(uint64(read), err)
	})
}

//export pylibctrd_stream_recv
func pylibctrd_stream_recv(out *C.pylibctrd_result, h C.uint64_t, max C.size_t) C.int {
	return on(out, h, func(_ context.Context, s *core.Stream) (result, error) {
		buf := make([]byte, min(int(max), 1<<20))
		read, err := s.Read(buf)
		return result{Data: buf[:read]}, err
	})
}

//export pylibctrd_stream_write
func pylibctrd_stream_write(out *C.pylibctrd_result, h C.uint64_t, buf *C.char, n C.size_t) C.int {
	data := copyOf(buf, n)
	return on(out, h, func(ctx context.Context, s *core.Stream) (result, error) {
		written, err := s.Write(ctx, data)
		return bridge.Number(uint64(written), err)
	})
}

//export pylibctrd_stream_close
func pylibctrd_stream_close(out *C.pylibctrd_result, h C.uint64_t) C.int {
	return on(out, h, func(_ context.Context, s *core.Stream) (result, error) {
		bridge.Handles.Release(uint64(h))
		return bridge.None(s.Close())
	})
}

//export pylibctrd_capture_start
func pylibctrd_capture_start(out *C.pylibctrd_result, stdout, stderr C.uint64_t) C.int {
	return now(out, func(context.Context) (result, error) {
		// Both are checked before either is taken, so a failure leaves both with Python.
		for _, h := range []C.uint64_t{stdout, stderr} {
			if h != 0 {
				if _, err := bridge.Lookup[*core.Stream](uint64(h)); err != nil {
					return bridge.None(err)
				}
			}
		}
		o, err := bridge.TakeStream(uint64(stdout))
		if err != nil {
			return bridge.None(err)
		}
		e, err := bridge.TakeStream(uint64(stderr))
		if err != nil {
			return bridge.None(err)
		}
		return bridge.Handle(bridge.NewCapture(o, e), nil)
	})
}

//export pylibctrd_capture_wait
func pylibctrd_capture_wait(out *C.pylibctrd_result, h C.uint64_t, timeoutMs C.int64_t) C.int {
	return on(out, h, func(ctx context.Context, c *bridge.Capture) (result, error) {
		return bridge.Flag(c.Wait(ctx, millis(timeoutMs)))
	})
}

//export pylibctrd_capture_output
func pylibctrd_capture_output(out *C.pylibctrd_result, h C.uint64_t, stream C.int) C.int {
	return on(out, h, func(_ context.Context, c *bridge.Capture) (result, error) {
		if stream != 0 && stream != 1 {
			return bridge.None(bridge.Errorf(bridge.CodeInvalidParameter, "stream must be 0 (stdout) or 1 (stderr), not %d", stream))
		}
		return result{Data: c.Output(int(stream))}, nil
	})
}

//export pylibctrd_trace_start
func pylibctrd_trace_start(out *C.pylibctrd_result, path *C.char) C.int {
	p := goString(path)
	return now(out, func(context.Context) (result, error) { return bridge.None(bridge.StartTrace(p)) })
}

//export pylibctrd_trace_stop
func pylibctrd_trace_stop(out *C.pylibctrd_result) C.int {
	return now(out, func(context.Context) (result, error) { return bridge.None(bridge.StopTrace()) })
}

// Registries (core/registry.go, bridge/registry.go).

//export pylibctrd_client_configure_registry
func pylibctrd_client_configure_registry(out *C.pylibctrd_result, h C.uint64_t, options *C.char, optionsLen C.size_t) C.int {
	o, err := bridge.DecodeRegistryOptions(copyOf(options, optionsLen))
	return on(out, h, func(ctx context.Context, c *bridge.Client) (result, error) {
		if err != nil {
			return bridge.None(err)
		}
		return bridge.None(c.ConfigureRegistry(o))
	})
}

//export pylibctrd_client_pull
func pylibctrd_client_pull(out *C.pylibctrd_result, progressKey C.uint64_t, h C.uint64_t, ref, platform, auth *C.char, authLen C.size_t) C.int {
	r, p := goString(ref), goString(platform)
	a, err := bridge.DecodeAuth(copyOf(auth, authLen))
	return on(out, h, func(ctx context.Context, c *bridge.Client) (result, error) {
		if err != nil {
			return bridge.None(err)
		}
		return bridge.Pull(ctx, c, r, p, a, uint64(progressKey))
	})
}

//export pylibctrd_client_push
func pylibctrd_client_push(out *C.pylibctrd_result, progressKey C.uint64_t, h C.uint64_t, ref, auth *C.char, authLen C.size_t) C.int {
	r := goString(ref)
	a, err := bridge.DecodeAuth(copyOf(auth, authLen))
	return on(out, h, func(ctx context.Context, c *bridge.Client) (result, error) {
		if err != nil {
			return bridge.None(err)
		}
		return bridge.Push(ctx, c, r, a, uint64(progressKey))
	})
}

//export pylibctrd_client_tag
func pylibctrd_client_tag(out *C.pylibctrd_result, h C.uint64_t, source, target *C.char) C.int {
	s, t := goString(source), goString(target)
	return on(out, h, func(ctx context.Context, c *bridge.Client) (result, error) { return bridge.None(c.Tag(ctx, s, t)) })
}

//export pylibctrd_client_save
func pylibctrd_client_save(out *C.pylibctrd_result, h C.uint64_t, refs *C.char, refsLen C.size_t, path *C.char, fd C.int) C.int {
	names, err := bridge.DecodeRefs(copyOf(refs, refsLen))
	target := goString(path)
	var pipe *os.File // the fd is ours from here on, whatever happens
	if path == nil {
		pipe = os.NewFile(uintptr(fd), "save")
	}
	closePipe := sync.OnceFunc(func() {
		if pipe != nil {
			pipe.Close()
		}
	})
	rc := on(out, h, func(ctx context.Context, c *bridge.Client) (result, error) {
		defer closePipe()
		if err != nil {
			return bridge.None(err)
		}
		if pipe != nil {
			return bridge.None(c.Save(ctx, names, pipe))
		}
		return bridge.None(bridge.SaveToPath(ctx, c, names, target))
	})
	if rc != C.int(bridge.CodePending) {
		closePipe() // done, or failed before writing: the reader must see EOF
	}
	return rc
}

//export pylibctrd_client_login
func pylibctrd_client_login(out *C.pylibctrd_result, h C.uint64_t, auth *C.char, authLen C.size_t, configDir *C.char) C.int {
	a, err := bridge.DecodeAuth(copyOf(auth, authLen))
	dir := goString(configDir)
	return on(out, h, func(ctx context.Context, c *bridge.Client) (result, error) {
		if err == nil && a == nil {
			err = errdefs.InvalidParameter(errors.New("login needs credentials"))
		}
		if err != nil {
			return bridge.None(err)
		}
		status, err := c.Login(ctx, *a, dir)
		if err != nil {
			return bridge.None(err)
		}
		return bridge.Text(status), nil
	})
}

//export pylibctrd_registry_logout
func pylibctrd_registry_logout(out *C.pylibctrd_result, server, configDir *C.char) C.int {
	s, dir := goString(server), goString(configDir)
	return run(out, func(context.Context) (result, error) {
		found, err := core.Logout(s, dir)
		if found {
			return bridge.Number(1, err)
		}
		return bridge.Number(0, err)
	})
}

//export pylibctrd_registry_auth
func pylibctrd_registry_auth(out *C.pylibctrd_result, server, configDir *C.char) C.int {
	s, dir := goString(server), goString(configDir)
	return run(out, func(context.Context) (result, error) {
		a, err := core.AuthFromConfig(s, dir)
		if err != nil {
			return bridge.None(err)
		}
		return bridge.JSON(a)
	})
}

//export pylibctrd_registry_of
func pylibctrd_registry_of(out *C.pylibctrd_result, ref *C.char) C.int {
	r := goString(ref)
	return run(out, func(context.Context) (result, error) {
		key, err := core.RegistryOf(r)
		if err != nil {
			return bridge.None(err)
		}
		return bridge.Text(key), nil
	})
}

// Networks (core/network.go, core/netsetup.go).

//export pylibctrd_client_create_network
func pylibctrd_client_create_network(out *C.pylibctrd_result, h C.uint64_t, name, subnet, gateway *C.char, internal C.int, labels *C.char, labelsLen C.size_t) C.int {
	o := core.NetworkOptions{Name: goString(name), Subnet: goString(subnet), Gateway: goString(gateway), Internal: internal != 0}
	var err error
	o.Labels, err = bridge.DecodeLabels(bytesOf(labels, labelsLen))
	return on(out, h, func(_ context.Context, c *bridge.Client) (result, error) {
		if err != nil {
			return bridge.None(err)
		}
		return bridge.OneNetwork(c.CreateNetwork(o))
	})
}

//export pylibctrd_client_networks
func pylibctrd_client_networks(out *C.pylibctrd_result, h C.uint64_t) C.int {
	return on(out, h, func(_ context.Context, c *bridge.Client) (result, error) { return bridge.NetworkList(c.ListNetworks()) })
}

//export pylibctrd_client_remove_network
func pylibctrd_client_remove_network(out *C.pylibctrd_result, h C.uint64_t, name *C.char) C.int {
	n := goString(name)
	return on(out, h, func(_ context.Context, c *bridge.Client) (result, error) { return bridge.None(c.RemoveNetwork(n)) })
}

//export pylibctrd_client_connect_network
func pylibctrd_client_connect_network(out *C.pylibctrd_result, h C.uint64_t, id, network *C.char, ports *C.char, portsLen C.size_t, aliases *C.char, aliasesLen C.size_t, ip *C.char) C.int {
	containerID, nw, addr := goString(id), goString(network), goString(ip)
	portSpecs, err := bridge.DecodeStrings("ports", bytesOf(ports, portsLen))
	var names []string
	if err == nil {
		names, err = bridge.DecodeStrings("aliases", bytesOf(aliases, aliasesLen))
	}
	return on(out, h, func(ctx context.Context, c *bridge.Client) (result, error) {
		if err != nil {
			return bridge.None(err)
		}
		return bridge.OneEndpoint(c.ConnectNetwork(ctx, containerID, nw, portSpecs, names, addr))
	})
}

//export pylibctrd_client_disconnect_network
func pylibctrd_client_disconnect_network(out *C.pylibctrd_result, h C.uint64_t, id, network *C.char) C.int {
	containerID, nw := goString(id), goString(network)
	return on(out, h, func(ctx context.Context, c *bridge.Client) (result, error) {
		return bridge.None(c.DisconnectNetwork(ctx, containerID, nw))
	})
}

//export pylibctrd_client_endpoints
func pylibctrd_client_endpoints(out *C.pylibctrd_result, h C.uint64_t, id *C.char) C.int {
	containerID := goString(id)
	return on(out, h, func(_ context.Context, c *bridge.Client) (result, error) {
		return bridge.EndpointList(c.Endpoints(containerID))
	})
}

//export pylibctrd_client_cleanup_networks
func pylibctrd_client_cleanup_networks(out *C.pylibctrd_result, h C.uint64_t) C.int {
	return on(out, h, func(ctx context.Context, c *bridge.Client) (result, error) {
		return bridge.Strings(c.CleanupNetworks(ctx))
	})
}
