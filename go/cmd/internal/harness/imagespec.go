package harness

import (
	"errors"
	"path/filepath"
	"strings"

	containertypes "github.com/docker/docker/api/types/container"
	"github.com/docker/docker/container"
	"github.com/docker/docker/errdefs"
	"github.com/moby/sys/user"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// RunOptions is what `docker run` takes besides the image: the command
// (replaces the image's Cmd), -e, -w and -u.
type RunOptions struct {
	Args []string // nil: the image's
	Env  []string
	Cwd  string
	User string
}

// ImageSpec is Spec (the harness's base, without a hostname) for a
// container of the image whose config is img, with docker run's rules for
// Entrypoint, Cmd, Env, WorkingDir and User, taken from Moby v26.1.5:
//   - daemon/commit.go merge(): the user's config wins; an empty Env takes
//     the image's, else the image's entries whose key the user did not set
//     are appended; without an Entrypoint, an empty Cmd takes the image's and
//     a nil Entrypoint the image's; empty WorkingDir and User take the image's;
//   - daemon/create.go: no Entrypoint and no Cmd is InvalidParameter
//     "No command specified";
//   - daemon/container.go getEntrypointAndArgs(): Entrypoint + Cmd;
//   - daemon/oci_linux.go: Cwd is WorkingDir or "/"; Env is
//     container.ReplaceOrAppendEnvValues (Moby's own, called here) of the
//     base env and the merged Env (CreateDaemonEnvironment without HOSTNAME,
//     which the harness's specs never set); the user is getUser(): moby/sys/user
//     GetExecUserPath (called here) on the rootfs' /etc/passwd and /etc/group,
//     AdditionalGids = [gid] + supplementary gids.
//
// merge, getEntrypointAndArgs and getUser are unexported in package daemon,
// so their few lines are restated here; everything they call is Moby's.
func ImageSpec(rootfs string, img *containertypes.Config, run RunOptions, tty bool, cgroupsPath string) (*specs.Spec, error) {
	cfg := containertypes.Config{Cmd: run.Args, Env: run.Env, WorkingDir: run.Cwd, User: run.User}
	if img == nil {
		img = &containertypes.Config{}
	}
	merge(&cfg, img)
	if len(cfg.Entrypoint) == 0 && len(cfg.Cmd) == 0 {
		return nil, errdefs.InvalidParameter(errors.New("No command specified"))
	}
	args := append(append([]string{}, cfg.Entrypoint...), cfg.Cmd...)
	spec := Spec(rootfs, args, tty, cgroupsPath)
	spec.Process.Env = container.ReplaceOrAppendEnvValues(spec.Process.Env, cfg.Env)
	spec.Process.Cwd = cfg.WorkingDir
	if spec.Process.Cwd == "" {
		spec.Process.Cwd = "/"
	}
	u, err := getUser(rootfs, cfg.User)
	if err != nil {
		return nil, err
	}
	spec.Process.User = u
	return spec, nil
}

func merge(userConf, imageConf *containertypes.Config) {
	if userConf.User == "" {
		userConf.User = imageConf.User
	}
	if len(userConf.Env) == 0 {
		userConf.Env = imageConf.Env
	} else {
		for _, imageEnv := range imageConf.Env {
			imageKey, _, _ := strings.Cut(imageEnv, "=")
			found := false
			for _, userEnv := range userConf.Env {
				if userKey, _, _ := strings.Cut(userEnv, "="); userKey == imageKey {
					found = true
					break
				}
			}
			if !found {
				userConf.Env = append(userConf.Env, imageEnv)
			}
		}
	}
	if len(userConf.Entrypoint) == 0 {
		if len(userConf.Cmd) == 0 {
			userConf.Cmd = imageConf.Cmd
		}
		if userConf.Entrypoint == nil {
			userConf.Entrypoint = imageConf.Entrypoint
		}
	}
	if userConf.WorkingDir == "" {
		userConf.WorkingDir = imageConf.WorkingDir
	}
}

func getUser(rootfs, username string) (specs.User, error) {
	var usr specs.User
	execUser, err := user.GetExecUserPath(username, nil,
		filepath.Join(rootfs, "etc", "passwd"), filepath.Join(rootfs, "etc", "group"))
	if err != nil {
		return usr, err
	}
	usr.UID = uint32(execUser.Uid)
	usr.GID = uint32(execUser.Gid)
	usr.AdditionalGids = []uint32{usr.GID}
	for _, g := range execUser.Sgids {
		usr.AdditionalGids = append(usr.AdditionalGids, uint32(g))
	}
	return usr, nil
}
