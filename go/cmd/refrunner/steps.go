package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"regexp"
	"sort"
	"syscall"
	"time"

	"github.com/containerd/typeurl/v2"
	"github.com/docker/docker/api/types/backend"
	"github.com/docker/docker/libcontainerd"
	"github.com/docker/docker/libcontainerd/shimopts"
	"github.com/docker/docker/libcontainerd/types"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	containerd "pylibctrd/internal/c8d/client"
	"pylibctrd/internal/moby"

	"pylibctrd/cmd/internal/harness"
)

// Step is one scenario step (see tests/scenarios/README.md).
type Step struct {
	Op          string              `json:"op"`
	Container   string              `json:"container"`
	Process     string              `json:"process"`
	Client      string              `json:"client"`
	Args        []string            `json:"args"`
	TTY         bool                `json:"tty"`
	Stdin       bool                `json:"stdin"`
	IO          string              `json:"io"`
	Labels      map[string]string   `json:"labels"`
	RuntimeOpts map[string]any      `json:"runtime_options"`
	MemoryLimit int64               `json:"memory_limit"`
	Env         []string            `json:"env"`
	Cwd         string              `json:"cwd"`
	User        *specs.User         `json:"user"`
	Rlimits     []specs.POSIXRlimit `json:"rlimits"`
	ReadOnly    bool                `json:"readonly_rootfs"`
	Resources   json.RawMessage     `json:"resources"`
	Checkpoint  string              `json:"checkpoint"`
	Exit        bool                `json:"exit"`
	As          string              `json:"as"`
	Steps       []Step              `json:"steps"`
	Data        string              `json:"data"`
	Signal      int                 `json:"signal"`
	Event       string              `json:"event"`
	Nth         int                 `json:"nth"`
	Width       uint32              `json:"width"`
	Height      uint32              `json:"height"`
	Seconds     float64             `json:"seconds"`
	Archive     string              `json:"archive"`
	Name        string              `json:"name"`
	Ref         string              `json:"ref"`
	Image       string              `json:"image"`
	UserName    string              `json:"user_name"`
	Paths       []string            `json:"paths"`
	SpecPatch   json.RawMessage     `json:"spec_patch"`
	Platform    string              `json:"platform"`
	Auth        *StepAuth           `json:"auth"`
	Source      string              `json:"source"`
	Target      string              `json:"target"`
}

var recordOps = map[string]bool{"new_container": true, "replace_container": true, "delete_container": true, "load_container": true}

// spec is harness.Spec (what pylibctrd.container_spec builds) with the
// step's spec fields applied, as tests/differential/runner.py applies them
// (spec_patch last, see specFields).
func (r *runner) spec(s Step) (*specs.Spec, error) {
	spec := harness.Spec(r.rootfs, s.Args, s.TTY, "/pylibctrd-diff/"+r.id(s.Container))
	if s.Env != nil {
		spec.Process.Env = s.Env
	}
	if s.Cwd != "" {
		spec.Process.Cwd = s.Cwd
	}
	if s.User != nil {
		spec.Process.User = *s.User
	}
	return spec, r.specFields(s, spec)
}

// imageSpec is the spec of a container run from image s.Image on the rootfs
// prepared for it, with docker run's rules (harness.ImageSpec), then the
// step's other spec fields.
func (r *runner) imageSpec(ctx context.Context, s Step) (*specs.Spec, error) {
	img, err := r.images().svc.GetImage(ctx, s.Image, backend.GetImageOpts{})
	if err != nil {
		return nil, err
	}
	run := harness.RunOptions{Args: s.Args, Env: s.Env, Cwd: s.Cwd, User: s.UserName}
	spec, err := harness.ImageSpec(r.images().rootfsPath(r.id(s.Container)), img.Config, run, s.TTY,
		"/pylibctrd-diff/"+r.id(s.Container))
	if err != nil {
		return nil, err
	}
	return spec, r.specFields(s, spec)
}

// specFields applies the step's memory limit, rlimits and read-only rootfs,
// then its spec_patch (a JSON merge patch: any spec a Go caller can build).
func (r *runner) specFields(s Step, spec *specs.Spec) error {
	if s.MemoryLimit != 0 {
		limit := s.MemoryLimit
		spec.Linux.Resources = &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &limit, Swap: &limit}}
	}
	if s.Rlimits != nil {
		spec.Process.Rlimits = s.Rlimits
	}
	if s.ReadOnly {
		spec.Root.Readonly = true
	}
	return harness.MergePatch(spec, s.SpecPatch)
}

// checkpointDir is where a step's named checkpoint lives (next to the bundles).
func (r *runner) checkpointDir(s Step) string {
	if s.Checkpoint == "" {
		return ""
	}
	return filepath.Join(filepath.Dir(r.stateDir), "checkpoints", r.id(s.Checkpoint))
}

func pid(p types.Process) map[string]any { return map[string]any{"pid": p.Pid()} }

func exitStatus(st *containerd.ExitStatus) map[string]any {
	var msg any
	if err := st.Error(); err != nil {
		msg = err.Error()
	}
	return map[string]any{"exit_code": st.ExitCode(), "has_exited_at": !st.ExitTime().IsZero(), "error": msg}
}

func (r *runner) do(ctx context.Context, s Step) (any, error) {
	name := r.id(s.Container)
	switch s.Op {
	case "new_container", "replace_container":
		r.use(s.Container)
		var opts []containerd.NewContainerOpts
		if s.Labels != nil {
			opts = append(opts, containerd.WithContainerLabels(s.Labels))
		}
		var runtimeOptions any
		if s.RuntimeOpts != nil {
			var err error
			if runtimeOptions, err = shimopts.Generate(harness.Shim, s.RuntimeOpts); err != nil {
				return nil, err
			}
		}
		var spec *specs.Spec
		var err error
		if s.Image != "" {
			spec, err = r.imageSpec(ctx, s)
		} else {
			spec, err = r.spec(s)
		}
		if err != nil {
			return nil, err
		}
		var c types.Container
		if s.Op == "replace_container" {
			r.killAll(s.Container)
		}
		if s.Op == "new_container" {
			c, err = r.client(s).NewContainer(ctx, name, spec, harness.Shim, runtimeOptions, opts...)
		} else {
			c, err = libcontainerd.ReplaceContainer(ctx, r.client(s), name, spec, harness.Shim, runtimeOptions, opts...)
		}
		if err != nil {
			return nil, err
		}
		r.setContainer(s.Container, c)
		return "ok", nil
	case "load_container":
		r.use(s.Container)
		c, err := r.client(s).LoadContainer(ctx, name)
		if err != nil {
			return nil, err
		}
		r.setContainer(s.Container, c)
		return "ok", nil
	case "keep":
		r.keep(s.Container, s.As)
		return "ok", nil
	case "close_client":
		name := s.Client
		if name == "" {
			name = "main"
		}
		r.mu.Lock()
		c := r.clients[name]
		r.mu.Unlock()
		return "ok", c.close()
	case "version":
		v, err := r.client(s).Version(ctx)
		if err != nil {
			return nil, err
		}
		return map[string]any{"version": v.Version, "revision": v.Revision}, nil
	case "delete_container":
		return "ok", r.container(s).Delete(ctx)
	case "new_task":
		t, err := r.container(s).NewTask(ctx, r.checkpointDir(s), s.Stdin, r.attach(key(s), s.IO))
		if err != nil {
			return nil, err
		}
		r.setTask(s.Container, t)
		return pid(t), nil
	case "task":
		t, err := r.container(s).Task(ctx)
		if err != nil {
			return nil, err
		}
		r.setTask(s.Container, t)
		return pid(t), nil
	case "attach_task":
		t, err := r.container(s).AttachTask(context.Background(), r.attach(key(s), s.IO))
		if err != nil {
			return nil, err
		}
		r.setTask(s.Container, t)
		return pid(t), nil
	case "start":
		return "ok", r.task(s).Start(ctx)
	case "pause":
		return "ok", r.task(s).Pause(ctx)
	case "resume":
		return "ok", r.task(s).Resume(ctx)
	case "status":
		st, err := r.task(s).Status(ctx)
		return string(st.Status), err
	case "force_delete":
		r.killAll(s.Container)
		return "ok", r.task(s).ForceDelete(ctx)
	case "stats":
		read, m, err := r.metrics(ctx, s)
		if err != nil {
			return nil, err
		}
		return statsValues(read, m), nil
	case "memory_limit":
		_, m, err := r.metrics(ctx, s)
		if err != nil {
			return nil, err
		}
		return dig(m, "memory", "usage", "limit"), nil
	case "pids":
		pis, err := r.task(s).Pids(ctx)
		if err != nil {
			return nil, err
		}
		out := []map[string]any{}
		for _, p := range pis {
			var info any
			if p.Info != nil {
				v, err := typeurl.UnmarshalAny(p.Info)
				if err != nil {
					return nil, err
				}
				if info, err = asJSON(v); err != nil {
					return nil, err
				}
			}
			out = append(out, map[string]any{"pid": p.Pid, "info": info})
		}
		return out, nil
	case "summary":
		sum, err := r.task(s).Summary(ctx)
		if err != nil {
			return nil, err
		}
		return len(sum), nil
	case "update_resources":
		var res types.Resources
		if s.Resources != nil {
			if err := json.Unmarshal(s.Resources, &res); err != nil {
				return nil, err
			}
		} else {
			limit := s.MemoryLimit
			res.Memory = &specs.LinuxMemory{Limit: &limit}
		}
		return "ok", r.task(s).UpdateResources(ctx, &res)
	case "create_checkpoint":
		return "ok", r.task(s).CreateCheckpoint(ctx, r.checkpointDir(s), s.Exit)
	case "exec":
		container := s
		container.SpecPatch = nil // the patch is the process spec's
		cspec, err := r.spec(container)
		if err != nil {
			return nil, err
		}
		spec := cspec.Process
		spec.Args, spec.Terminal = s.Args, s.TTY
		if err := harness.MergePatch(&spec, s.SpecPatch); err != nil {
			return nil, err
		}
		t := r.task(s)
		p, err := t.Exec(ctx, s.Process, spec, s.Stdin, r.attach(key(s), s.IO))
		if err != nil {
			return nil, err
		}
		r.setProc(key(s), p)
		r.addExec(t, p)
		return pid(p), nil
	case "kill":
		return "ok", r.proc(s).Kill(ctx, syscall.Signal(s.Signal))
	case "resize":
		return "ok", r.proc(s).Resize(ctx, s.Width, s.Height)
	case "delete_task", "delete_process":
		st, err := r.proc(s).Delete(ctx)
		if err != nil {
			return nil, err
		}
		return exitStatus(st), nil
	case "write_stdin":
		// As a Go caller does: a process without stdin has a nil Stdin (a panic).
		_, err := r.dio(s).Stdin.Write([]byte(s.Data))
		return "ok", err
	case "close_stdin":
		return "ok", r.dio(s).Stdin.Close()
	case "wait_event":
		// paused/resumed/oom carry no process id; exit/create/start default to the init process
		process := s.Process
		if process == "" && (s.Event == "exit" || s.Event == "create" || s.Event == "start") {
			process = name
		}
		nth := max(s.Nth, 1)
		if !r.events.WaitForNth(name, s.Event, process, nth, 30*time.Second) {
			return nil, fmt.Errorf("timeout waiting for %s", s.Event)
		}
		return "ok", nil
	case "wait_output":
		if !r.output(s).Wait(15 * time.Second) {
			return nil, fmt.Errorf("timeout waiting for output")
		}
		return "ok", nil
	case "sleep":
		time.Sleep(time.Duration(s.Seconds * float64(time.Second)))
		return "ok", nil
	case "import_image":
		return r.images().load(ctx, filepath.Join(r.imagesDir, s.Archive), s.Name)
	case "images":
		return r.images().list(ctx)
	case "get_image":
		ref, err := r.ref(ctx, s.Ref)
		if err != nil {
			return nil, err
		}
		return r.images().describe(ctx, ref)
	case "remove_image":
		ref, err := r.ref(ctx, s.Ref)
		if err != nil {
			return nil, err
		}
		// `docker rmi ref`: no force, prune
		return "ok", moby.ImageDelete(ctx, r.images().svc, ref, false)
	case "prepare_rootfs":
		ref, err := r.ref(ctx, s.Ref)
		if err != nil {
			return nil, err
		}
		r.use(s.Container)
		r.setPrepared(s.Container)
		return r.images().prepare(ctx, name, ref)
	case "release_rootfs":
		return "ok", r.images().release(ctx, r.taskState(s), name)
	case "rootfs":
		return inspectRootfs(r.images().rootfsPath(name), s.Paths)
	case "pull":
		return r.pull(ctx, s)
	case "push":
		return r.push(ctx, s)
	case "tag":
		return r.tag(ctx, s)
	}
	return nil, fmt.Errorf("unknown op %q", s.Op)
}

// statsValues are the deterministic parts of Stats: which metrics there are,
// the memory limit and the pids count and limit (cgroup v1 or v2 layout).
func statsValues(hasRead bool, m map[string]any) map[string]any {
	keys := []string{}
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	limit := dig(m, "memory", "usage", "limit") // v1
	if limit == nil {
		limit = dig(m, "memory", "usage_limit") // v2
	}
	return map[string]any{
		"has_read": hasRead, "metrics": keys, "memory_limit": limit,
		"pids_current": dig(m, "pids", "current"), "pids_limit": dig(m, "pids", "limit"),
	}
}

// asJSON is v as a caller sees it in JSON (numbers kept exact).
func asJSON(v any) (any, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var out any
	return out, dec.Decode(&out)
}

func dig(m map[string]any, path ...string) any {
	var v any = m
	for _, p := range path {
		mm, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = mm[p]
	}
	return v
}

// metrics are the task's stats as a caller sees them in JSON (as pylibctrd
// hands them over), and whether they carry a read time.
func (r *runner) metrics(ctx context.Context, s Step) (bool, map[string]any, error) {
	st, err := r.task(s).Stats(ctx)
	if err != nil {
		return false, nil, err
	}
	m, err := asJSON(st.Metrics)
	if err != nil {
		return false, nil, err
	}
	return !st.Read.IsZero(), m.(map[string]any), nil
}

var imageID = regexp.MustCompile(`\{(id|hex|hex12):([^}]+)\}`)

// ref replaces {id:NAME}, {hex:NAME} and {hex12:NAME} in an image ref by
// that image's id (sha256:...), its hex or the hex's first 12 digits (after
// {registry}, {auth_registry} and {run}: registryRef).
func (r *runner) ref(ctx context.Context, ref string) (string, error) {
	ref = r.registryRef(ref)
	var err error
	out := imageID.ReplaceAllStringFunc(ref, func(m string) string {
		g := imageID.FindStringSubmatch(m)
		img, e := r.images().svc.GetImage(ctx, g[2], backend.GetImageOpts{})
		if e != nil {
			err = e
			return m
		}
		id := img.ID().String()
		switch g[1] {
		case "hex":
			return id[7:]
		case "hex12":
			return id[7:19]
		}
		return id
	})
	return out, err
}
