package core

// docker run's health flags, dockerd's merge, docker ps' STATUS and the
// watchers of a health monitor, without containerd.

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types"
	"github.com/docker/docker/container"
	"github.com/docker/docker/errdefs"
)

func TestRunHealthFlagsAreTheDockerCLIsWithItsMessages(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--health-interval=x"}, `invalid argument "x" for "--health-interval" flag: time: invalid duration "x"`},
		{[]string{"--health-timeout=5"}, `invalid argument "5" for "--health-timeout" flag: time: missing unit in duration "5"`},
		{[]string{"--health-retries=two"}, `invalid argument "two" for "--health-retries" flag: strconv.ParseInt: parsing "two": invalid syntax`},
		{[]string{"--health-interval=-1s"}, "--health-interval cannot be negative"},
		{[]string{"--health-retries=-1"}, "--health-retries cannot be negative"},
		{[]string{"--health-start-period=-2s"}, "--health-start-period cannot be negative"},
		{[]string{"--no-healthcheck", "--health-cmd=true"}, "--no-healthcheck conflicts with --health-* options"},
		{[]string{"--health-timeout=500us"}, "Timeout in Healthcheck cannot be less than 1ms"},
	} {
		_, err := RunHealthcheck(c.args, nil)
		if err == nil || err.Error() != c.want || !errdefs.IsInvalidParameter(err) {
			t.Errorf("%v: got %v, want %q", c.args, err, c.want)
		}
	}
}

func TestRunHealthFlagsOverrideTheImagesAsDockerdMerges(t *testing.T) {
	image := &HealthConfig{Test: []string{"CMD", "check"}, Interval: time.Minute, Retries: 7}
	got, err := RunHealthcheck([]string{"--health-interval=1.5s", "--health-timeout=500ms"}, image)
	want := &HealthConfig{Test: []string{"CMD", "check"}, Interval: 1500 * time.Millisecond,
		Timeout: 500 * time.Millisecond, Retries: 7}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v, %v", got, err)
	}
	if image.Interval != time.Minute {
		t.Fatal("the image's config was changed")
	}
	got, _ = RunHealthcheck([]string{"--health-cmd=test -f /ok"}, image)
	if !reflect.DeepEqual(got.Test, []string{"CMD-SHELL", "test -f /ok"}) || got.Retries != 7 {
		t.Fatalf("got %+v", got)
	}
	for _, c := range []struct {
		args  []string
		image *HealthConfig
	}{
		{[]string{"--no-healthcheck"}, image},                                   // NONE
		{nil, nil},                                                              // none anywhere
		{[]string{"--health-interval=1s"}, nil},                                 // no test
		{nil, &HealthConfig{Test: []string{"SHELL", "x"}}},                      // dockerd runs no such type
		{[]string{"--health-retries=2"}, &HealthConfig{Test: []string{"NONE"}}}, // the image's NONE
	} {
		if got, err := RunHealthcheck(c.args, c.image); got != nil || err != nil {
			t.Errorf("%v over %+v: got %+v, %v; want no check", c.args, c.image, got, err)
		}
	}
	got, _ = RunHealthcheck(nil, image)
	if !reflect.DeepEqual(got, image) || got == image {
		t.Fatalf("the image's own: got %+v", got)
	}
}

func TestStateTextIsMobys(t *testing.T) {
	now := time.Now().UTC()
	for _, c := range []struct {
		in   StateInput
		want string
	}{
		{StateInput{Running: true, StartedAt: now.Add(-5 * time.Second), Health: types.Healthy}, "Up 5 seconds (healthy)"},
		{StateInput{Running: true, StartedAt: now.Add(-5 * time.Second), Health: types.Starting}, "Up 5 seconds (health: starting)"},
		{StateInput{Running: true, StartedAt: now.Add(-90 * time.Second), Health: types.Unhealthy}, "Up About a minute (unhealthy)"},
		{StateInput{Running: true, StartedAt: now.Add(-3 * time.Second)}, "Up 3 seconds"},
		{StateInput{Running: true, Paused: true, StartedAt: now.Add(-2 * time.Hour)}, "Up 2 hours (Paused)"},
		{StateInput{StartedAt: now.Add(-time.Hour), FinishedAt: now.Add(-61 * time.Second), ExitCode: 3}, "Exited (3) About a minute ago"},
		{StateInput{}, "Created"},
	} {
		if got := StateText(c.in); got != c.want {
			t.Errorf("%+v: got %q, want %q", c.in, got, c.want)
		}
	}
}

func TestHealthWatchersSeeEachResultAndMobysStatusEvents(t *testing.T) {
	h := &container.Health{}
	h.SetStatus(types.Starting)
	m := &HealthMonitor{health: h, config: HealthConfig{Retries: 2}, started: time.Now(),
		stop: make(chan struct{}), done: make(chan struct{}), changed: make(chan struct{})}
	ctx := context.Background()
	u, err := m.Watch(ctx, 0, 10*time.Millisecond) // nothing yet: the timeout answers
	if err != nil || u.Seq != 0 || u.Health.Status != types.Starting || u.Ended || len(u.Events) != 0 {
		t.Fatalf("before any result: %+v, %v", u, err)
	}
	if data, _ := json.Marshal(u.Health); string(data) != `{"Status":"starting","FailingStreak":0,"Log":[]}` {
		t.Fatalf("docker inspect's State.Health before any result: %s", data)
	}
	got := make(chan HealthUpdate)
	go func() { u, _ := m.Watch(ctx, 0, -1); got <- u }()
	time.Sleep(20 * time.Millisecond) // (the watcher may or may not wait yet: both are right)
	result := func(code int) { m.handle(&types.HealthcheckResult{Start: time.Now(), ExitCode: code}) }
	result(0)
	u = <-got
	if u.Seq != 1 || u.Health.Status != types.Healthy || len(u.Events) != 1 ||
		u.Events[0].Action != "health_status: healthy" || u.Events[0].Seq != 1 {
		t.Fatalf("after a success: %+v", u)
	}
	result(1) // streak 1 of 2: still healthy, no event
	result(1) // unhealthy
	u, _ = m.Watch(ctx, 1, -1)
	if u.Seq != 3 || u.Health.Status != types.Unhealthy || u.Health.FailingStreak != 2 ||
		len(u.Events) != 1 || u.Events[0].Action != "health_status: unhealthy" || u.Events[0].Seq != 3 {
		t.Fatalf("after two failures: %+v", u)
	}
	m.end()
	u, _ = m.Watch(ctx, 3, -1)
	if !u.Ended || len(u.Events) != 0 {
		t.Fatalf("ended: %+v", u)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	m2 := &HealthMonitor{health: h, changed: make(chan struct{})}
	if _, err := m2.Watch(cancelled, 0, -1); err == nil || !strings.Contains(err.Error(), "canceled") {
		t.Fatalf("a cancelled watch: %v", err)
	}
}
