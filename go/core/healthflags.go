package core

// docker run's health flags and docker ps' STATUS: the docker CLI's flag
// library (pflag, with the flags declared as docker/cli's
// cli/command/container/opts.go declares them) and its rules for them (that
// package's parse is unexported: followed here), dockerd's merge of the
// user's Healthcheck over the image's (daemon/commit.go merge, package
// daemon: followed), and Moby's container.State.String (imported).

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/docker/docker/api/types/strslice"
	"github.com/docker/docker/container"
	"github.com/docker/docker/errdefs"
	"github.com/spf13/pflag"
)

// RunHealthcheck is the health check `docker run` gives a container: args
// are its health flags as command-line items ("--health-cmd=...",
// "--health-interval=1s", "--no-healthcheck"...), parsed by pflag as the
// docker CLI parses them (its messages: `invalid argument "x" for
// "--health-interval" flag: time: invalid duration "x"`), checked with its
// rules, then merged over the image's Healthcheck as dockerd does. nil
// when no check runs: none given nor in the image, a NONE test
// (--no-healthcheck), no test, or a type dockerd does not run.
func RunHealthcheck(args []string, image *HealthConfig) (*HealthConfig, error) {
	var (
		noHealthcheck                                 bool
		cmd                                           string
		interval, timeout, startPeriod, startInterval time.Duration
		retries                                       int
	)
	flags := pflag.NewFlagSet("run", pflag.ContinueOnError)
	flags.SetOutput(io.Discard)
	flags.StringVar(&cmd, "health-cmd", "", "Command to run to check health")
	flags.DurationVar(&interval, "health-interval", 0, "Time between running the check (ms|s|m|h) (default 0s)")
	flags.IntVar(&retries, "health-retries", 0, "Consecutive failures needed to report unhealthy")
	flags.DurationVar(&timeout, "health-timeout", 0, "Maximum time to allow one check to run (ms|s|m|h) (default 0s)")
	flags.DurationVar(&startPeriod, "health-start-period", 0, "Start period for the container to initialize before starting health-retries countdown (ms|s|m|h) (default 0s)")
	flags.DurationVar(&startInterval, "health-start-interval", 0, "Time between running the check during the start period (ms|s|m|h) (default 0s)")
	flags.BoolVar(&noHealthcheck, "no-healthcheck", false, "Disable any container-specified HEALTHCHECK")
	if err := flags.Parse(args); err != nil {
		return nil, errdefs.InvalidParameter(err)
	}
	if flags.NArg() > 0 {
		return nil, errdefs.InvalidParameter(fmt.Errorf("unexpected arguments: %q", flags.Args()))
	}

	// docker/cli's parse.
	var user *HealthConfig
	haveHealthSettings := cmd != "" || interval != 0 || timeout != 0 || startPeriod != 0 ||
		retries != 0 || startInterval != 0
	if noHealthcheck {
		if haveHealthSettings {
			return nil, errdefs.InvalidParameter(errors.New("--no-healthcheck conflicts with --health-* options"))
		}
		user = &HealthConfig{Test: strslice.StrSlice{"NONE"}}
	} else if haveHealthSettings {
		var probe strslice.StrSlice
		if cmd != "" {
			probe = []string{"CMD-SHELL", cmd}
		}
		for _, d := range []struct {
			name  string
			value time.Duration
		}{{"interval", interval}, {"timeout", timeout}} {
			if d.value < 0 {
				return nil, errdefs.InvalidParameter(fmt.Errorf("--health-%s cannot be negative", d.name))
			}
		}
		if retries < 0 {
			return nil, errdefs.InvalidParameter(errors.New("--health-retries cannot be negative"))
		}
		if startPeriod < 0 {
			return nil, errdefs.InvalidParameter(errors.New("--health-start-period cannot be negative"))
		}
		if startInterval < 0 {
			return nil, errdefs.InvalidParameter(errors.New("--health-start-interval cannot be negative"))
		}
		user = &HealthConfig{Test: probe, Interval: interval, Timeout: timeout,
			StartPeriod: startPeriod, StartInterval: startInterval, Retries: retries}
	}

	// dockerd's merge (daemon/commit.go).
	if image != nil {
		if user == nil {
			c := *image
			user = &c
		} else {
			if len(user.Test) == 0 {
				user.Test = image.Test
			}
			if user.Interval == 0 {
				user.Interval = image.Interval
			}
			if user.Timeout == 0 {
				user.Timeout = image.Timeout
			}
			if user.StartPeriod == 0 {
				user.StartPeriod = image.StartPeriod
			}
			if user.StartInterval == 0 {
				user.StartInterval = image.StartInterval
			}
			if user.Retries == 0 {
				user.Retries = image.Retries
			}
		}
	}
	if user != nil {
		if err := validateHealthConfig(user); err != nil {
			return nil, err
		}
	}
	// dockerd's getProbe: only CMD and CMD-SHELL tests run.
	if user == nil || len(user.Test) == 0 || (user.Test[0] != "CMD" && user.Test[0] != "CMD-SHELL") {
		return nil, nil
	}
	return user, nil
}

// StateInput is what docker ps' STATUS is made of.
type StateInput struct {
	Running, Paused, Restarting bool
	StartedAt, FinishedAt       time.Time
	ExitCode                    int
	Health                      string // "" for no health check
}

// StateText is docker ps' STATUS: Moby's container.State.String()
// ("Up 5 seconds (healthy)", "Exited (3) About a minute ago").
func StateText(in StateInput) string {
	s := &container.State{Running: in.Running, Paused: in.Paused, Restarting: in.Restarting,
		StartedAt: in.StartedAt, FinishedAt: in.FinishedAt, ExitCodeValue: in.ExitCode}
	if in.Health != "" {
		h := &container.Health{}
		h.SetStatus(in.Health)
		s.Health = h
	}
	return s.String()
}
