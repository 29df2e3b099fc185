package core

import (
	"context"
	"errors"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	"pylibctrd/internal/c8d/cio"
)

// atFDLimit lowers RLIMIT_NOFILE to 64 and fills every fd below it but
// `free`; the returned func closes the fillers and restores the limit.
func atFDLimit(t *testing.T, free int) func() {
	t.Helper()
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &unix.Rlimit{Cur: 64, Max: lim.Max}); err != nil {
		t.Fatal(err)
	}
	var fill []int
	for {
		fd, err := unix.Open("/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			break
		}
		fill = append(fill, fd)
	}
	if len(fill) < free {
		t.Fatalf("only %d fds free below 64", len(fill))
	}
	for _, fd := range fill[len(fill)-free:] {
		unix.Close(fd)
	}
	fill = fill[:len(fill)-free]
	return func() {
		for _, fd := range fill {
			unix.Close(fd)
		}
		unix.Setrlimit(unix.RLIMIT_NOFILE, &lim)
	}
}

func TestFDHeadroomRefusesAtOnceWhenTheFIFOsWouldNotFit(t *testing.T) {
	if err := holdReserve(); err != nil {
		t.Fatal(err)
	}
	for free, ok := range map[int]bool{3: false, 4: true} {
		restore := atFDLimit(t, free)
		err := fdHeadroom(fifoFDs(false, false))
		// The probes are closed again: exactly `free` fds are still free.
		var left []int
		for {
			fd, err := unix.Open("/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0)
			if err != nil {
				break
			}
			left = append(left, fd)
		}
		for _, fd := range left {
			unix.Close(fd)
		}
		restore()
		if ok && err != nil || !ok && !errors.Is(err, syscall.EMFILE) {
			t.Errorf("%d free: fdHeadroom(4) = %v", free, err)
		}
		if len(left) != free {
			t.Errorf("%d free before fdHeadroom, %d after", free, len(left))
		}
	}
	if fifoFDs(true, false) != 6 || fifoFDs(false, true) != 2 || fifoFDs(true, true) != 4 {
		t.Error("fifoFDs counts")
	}
}

// With 2 fds free, containerd's cio.NewDirectIO (as Moby's createIO calls
// it, with context.Background()) and, if it succeeds, Cancel and Close (as
// Moby's error path does) mostly return at once. But when a pending open of
// a read end takes the last fd, fifo.Close loops until an fd is freed
// (fdguard.go): in openFifos' cleanup when stderr's O_PATH open then fails,
// or in Close after stderr's handle was closed. withFIFOs' reserve ends the
// loop when the call's context ends. The interleaving is the scheduler's:
// try until it has happened a few times.
func TestAStallInOpeningFIFOsEndsWhenTheCallsContextEnds(t *testing.T) {
	const deadline = 300 * time.Millisecond
	dir := t.TempDir()
	stalls := 0
	for i := 0; i < 300 && stalls < 3; i++ {
		if err := holdReserve(); err != nil {
			t.Fatal(err)
		}
		restore := atFDLimit(t, 2)
		fifos := cio.NewFIFOSet(cio.Config{
			Stdout: filepath.Join(dir, strconv.Itoa(i)+"-stdout"),
			Stderr: filepath.Join(dir, strconv.Itoa(i)+"-stderr"),
		}, nil)
		ctx, cancel := context.WithTimeout(context.Background(), deadline)
		start := time.Now()
		// withFIFOs without fdHeadroom, which would refuse at 2 free fds
		_, err := guardFIFOs(ctx, func(context.Context) (struct{}, error) {
			dio, err := cio.NewDirectIO(context.Background(), fifos)
			if err == nil {
				dio.Cancel()
				dio.Close()
			}
			return struct{}{}, err
		})
		took := time.Since(start)
		cancel()
		restore()
		if took < deadline {
			continue // no stall this time
		}
		stalls++
		if took > deadline+time.Second || err != nil && !errors.Is(err, syscall.EMFILE) {
			t.Fatalf("stalled call: %v after %v, want it to end just after %v", err, took, deadline)
		}
		t.Logf("try %d stalled, ended by the reserve after %v: %v", i, took, err)
	}
	if stalls == 0 {
		t.Skip("the stalling interleaving did not happen in 300 tries")
	}
}
