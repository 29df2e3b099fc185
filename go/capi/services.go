package main

/*
#include "trampoline.h"
*/
import "C"

import (
	"context"
	"time"

	"pylibctrd/bridge"
	"pylibctrd/core"
)

// Mounts, volumes and logs (bridge/services.go, core/mounts.go, volumes.go, logs.go).

//export pylibctrd_spec_apply_mounts
func pylibctrd_spec_apply_mounts(out *C.pylibctrd_result, spec *C.char, specLen C.size_t, mounts *C.char, mountsLen C.size_t, readOnly C.int) C.int {
	s, m := copyOf(spec, specLen), copyOf(mounts, mountsLen)
	return run(out, func(context.Context) (result, error) { return bridge.ApplyMounts(s, m, readOnly != 0) })
}

//export pylibctrd_client_create_volume
func pylibctrd_client_create_volume(out *C.pylibctrd_result, h C.uint64_t, name, labels *C.char, labelsLen C.size_t) C.int {
	n := goString(name)
	l, err := bridge.DecodeLabels(bytesOf(labels, labelsLen))
	return on(out, h, func(ctx context.Context, c *bridge.Client) (result, error) {
		if err != nil {
			return bridge.None(err)
		}
		return bridge.OneVolume(c.CreateVolume(ctx, n, l))
	})
}

//export pylibctrd_client_volumes
func pylibctrd_client_volumes(out *C.pylibctrd_result, h C.uint64_t) C.int {
	return on(out, h, func(ctx context.Context, c *bridge.Client) (result, error) { return bridge.Volumes(c.Volumes(ctx)) })
}

//export pylibctrd_client_remove_volume
func pylibctrd_client_remove_volume(out *C.pylibctrd_result, h C.uint64_t, name *C.char) C.int {
	n := goString(name)
	return on(out, h, func(ctx context.Context, c *bridge.Client) (result, error) {
		return bridge.None(c.RemoveVolume(ctx, n))
	})
}

//export pylibctrd_log_start
func pylibctrd_log_start(out *C.pylibctrd_result, h C.uint64_t, id, driver, opts *C.char, optsLen C.size_t, stdout, stderr C.uint64_t, tee C.int) C.int {
	containerID, cfg := goString(id), core.LogConfig{Type: goString(driver)}
	config, err := bridge.DecodeLabels(bytesOf(opts, optsLen))
	cfg.Config = config
	return now(out, func(context.Context) (result, error) {
		if err != nil {
			return bridge.None(err)
		}
		c, err := bridge.Lookup[*bridge.Client](uint64(h))
		if err != nil {
			return bridge.None(err)
		}
		return bridge.StartLog(c, containerID, cfg, uint64(stdout), uint64(stderr), tee != 0)
	})
}

//export pylibctrd_log_wait
func pylibctrd_log_wait(out *C.pylibctrd_result, h C.uint64_t, timeoutMs C.int64_t) C.int {
	return on(out, h, func(ctx context.Context, l *bridge.Log) (result, error) {
		return bridge.Flag(l.Wait(ctx, millis(timeoutMs)), ctx.Err())
	})
}

//export pylibctrd_client_logs
func pylibctrd_client_logs(out *C.pylibctrd_result, h C.uint64_t, id *C.char, follow C.int, sinceNs, untilNs, tail C.int64_t, stdout, stderr C.int) C.int {
	containerID := goString(id)
	o := core.LogReadOptions{Follow: follow != 0, Tail: int(tail), Stdout: stdout != 0, Stderr: stderr != 0}
	if sinceNs != 0 {
		o.Since = time.Unix(0, int64(sinceNs))
	}
	if untilNs != 0 {
		o.Until = time.Unix(0, int64(untilNs))
	}
	return on(out, h, func(ctx context.Context, c *bridge.Client) (result, error) {
		return bridge.Handle(c.ReadLogs(containerID, o))
	})
}

//export pylibctrd_logs_next
func pylibctrd_logs_next(out *C.pylibctrd_result, h C.uint64_t, max C.size_t, timeoutMs C.int64_t) C.int {
	return on(out, h, func(ctx context.Context, s *core.LogStream) (result, error) {
		return bridge.NextLogs(ctx, s, int(max), millis(timeoutMs))
	})
}

//export pylibctrd_logs_close
func pylibctrd_logs_close(out *C.pylibctrd_result, h C.uint64_t) C.int {
	return on(out, h, func(_ context.Context, s *core.LogStream) (result, error) {
		s.Close()
		bridge.Handles.Release(uint64(h))
		return result{}, nil
	})
}

// Health checks (core/health.go).

//export pylibctrd_task_start_health
func pylibctrd_task_start_health(out *C.pylibctrd_result, h C.uint64_t, config *C.char, n C.size_t) C.int {
	cfg, err := bridge.DecodeHealthConfig(copyOf(config, n))
	return on(out, h, func(ctx context.Context, t *core.Task) (result, error) {
		if err != nil {
			return bridge.None(err)
		}
		return bridge.None(t.StartHealth(ctx, cfg))
	})
}

//export pylibctrd_task_stop_health
func pylibctrd_task_stop_health(out *C.pylibctrd_result, h C.uint64_t) C.int {
	return on(out, h, func(_ context.Context, t *core.Task) (result, error) { t.StopHealth(); return result{}, nil })
}

//export pylibctrd_task_health
func pylibctrd_task_health(out *C.pylibctrd_result, h C.uint64_t) C.int {
	return on(out, h, func(_ context.Context, t *core.Task) (result, error) { return bridge.Health(t.Health()) })
}

//export pylibctrd_log_failures
func pylibctrd_log_failures(out *C.pylibctrd_result, h C.uint64_t) C.int {
	return on(out, h, func(_ context.Context, l *bridge.Log) (result, error) { return bridge.LogFailures(l.Failures()) })
}

// Restart policies (core/restart.go: Moby's restartmanager).

//export pylibctrd_restart_policy_parse
func pylibctrd_restart_policy_parse(out *C.pylibctrd_result, text *C.char) C.int {
	t := goString(text)
	return run(out, func(context.Context) (result, error) { return bridge.RestartPolicy(core.ParseRestartPolicy(t)) })
}

//export pylibctrd_restart_manager_new
func pylibctrd_restart_manager_new(out *C.pylibctrd_result, policy *C.char, n C.size_t, restartCount C.int64_t) C.int {
	data := copyOf(policy, n)
	return run(out, func(context.Context) (result, error) {
		p, err := bridge.DecodeRestartPolicy(data)
		if err != nil {
			return bridge.None(err)
		}
		return bridge.Handle(core.NewRestartManager(p, int(restartCount)))
	})
}

//export pylibctrd_restart_manager_should_restart
func pylibctrd_restart_manager_should_restart(out *C.pylibctrd_result, h C.uint64_t, exitCode C.uint32_t, manuallyStopped C.int, ranNs C.int64_t) C.int {
	return on(out, h, func(_ context.Context, m *core.RestartManager) (result, error) {
		restart, err := m.ShouldRestart(uint32(exitCode), manuallyStopped != 0, time.Duration(ranNs))
		if restart {
			return bridge.Number(1, err)
		}
		return bridge.Number(0, err)
	})
}

//export pylibctrd_restart_manager_wait
func pylibctrd_restart_manager_wait(out *C.pylibctrd_result, h C.uint64_t, timeoutMs C.int64_t) C.int {
	return on(out, h, func(ctx context.Context, m *core.RestartManager) (result, error) {
		return bridge.Flag(m.WaitRestart(ctx, millis(timeoutMs)))
	})
}

//export pylibctrd_restart_manager_cancel
func pylibctrd_restart_manager_cancel(out *C.pylibctrd_result, h C.uint64_t) C.int {
	return on(out, h, func(_ context.Context, m *core.RestartManager) (result, error) { m.Cancel(); return result{}, nil })
}

//export pylibctrd_task_watch_health
func pylibctrd_task_watch_health(out *C.pylibctrd_result, h C.uint64_t, after C.uint64_t, timeoutMs C.int64_t) C.int {
	return on(out, h, func(ctx context.Context, t *core.Task) (result, error) {
		return bridge.HealthUpdate(t.WatchHealth(ctx, uint64(after), millis(timeoutMs)))
	})
}

//export pylibctrd_run_healthcheck
func pylibctrd_run_healthcheck(out *C.pylibctrd_result, flags *C.char, flagsLen C.size_t, image *C.char, imageLen C.size_t) C.int {
	f, i := copyOf(flags, flagsLen), copyOf(image, imageLen)
	return now(out, func(context.Context) (result, error) { return bridge.RunHealthcheck(f, i) })
}

//export pylibctrd_state_text
func pylibctrd_state_text(out *C.pylibctrd_result, state *C.char, n C.size_t) C.int {
	s := copyOf(state, n)
	return now(out, func(context.Context) (result, error) { return bridge.StateText(s) })
}
