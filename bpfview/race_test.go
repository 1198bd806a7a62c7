package bpfview_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/simfs/simfs/events"
	"github.com/simfs/simfs/kernel"
	"github.com/simfs/simfs/kernfs"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// raceEnv is a machine with a view link (printing "<cgroup id> 42\n")
// pinned at /sys/fs/bpf/v and cgroups c0..c<n-1>, each with the link
// exposed as "v"; ids records every id each cgroup path had.
type raceEnv struct {
	m   *kernel.Machine
	p   *kernel.Process
	lfd int

	mu  sync.Mutex
	ids map[uint64]string // cgroup id → path
}

var viewLine = regexp.MustCompile(`^([0-9]+) 42\n$`)

func newRaceEnv(t *testing.T, ncg int) *raceEnv {
	m, p := boot(t, nil)
	fd := loadView(t, m, p, 42, 0)
	lfd, err := p.LinkCreate(fd, kernel.LinkCreateAttr{})
	require.NoError(t, err)
	require.NoError(t, p.Close(fd))
	require.NoError(t, p.ObjPin(lfd, "/sys/fs/bpf/v"))
	e := &raceEnv{m: m, p: p, lfd: lfd, ids: map[uint64]string{}}
	for i := 0; i < ncg; i++ {
		require.NoError(t, e.mkdir(i))
		require.NoError(t, p.ObjPin(lfd, e.file(i)))
	}
	return e
}

func (e *raceEnv) dir(i int) string  { return fmt.Sprintf("/sys/fs/cgroup/c%d", i) }
func (e *raceEnv) file(i int) string { return e.dir(i) + "/v" }

// mkdir creates cgroup i and records its id. Another goroutine may expose
// the link in the new cgroup, and a reader read it, before the id is
// known: e.mu is held from the mkdir on, so that checkOutput waits.
func (e *raceEnv) mkdir(i int) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.p.Mkdir(e.dir(i), 0755); err != nil {
		return err
	}
	st, err := e.p.Stat(e.dir(i))
	if err != nil {
		return err
	}
	e.ids[st.Ino] = e.dir(i)
	return nil
}

// checkOutput says whether out is the complete output for cgroup path i.
func (e *raceEnv) checkOutput(i int, out string) error {
	mm := viewLine.FindStringSubmatch(out)
	if mm == nil {
		return fmt.Errorf("read %s: incomplete or wrong output %q", e.file(i), out)
	}
	id, _ := strconv.ParseUint(mm[1], 10, 64)
	e.mu.Lock()
	dir := e.ids[id]
	e.mu.Unlock()
	if dir != e.dir(i) {
		return fmt.Errorf("read %s: cgroup id %d is %q's", e.file(i), id, dir)
	}
	return nil
}

func allowed(err error, errnos ...unix.Errno) bool {
	for _, en := range errnos {
		if errors.Is(err, en) {
			return true
		}
	}
	return false
}

// TestConcurrentReadersUnpinRmdir runs readers of view files (whole-file
// reads and reads of an open fd in small pieces) against goroutines that
// unpin and re-pin the link, rmdir and re-create cgroups, expose again and
// write "rm". Every read is the complete output or ENODEV/ENOENT; a read
// of an open fd is the whole output (leftover bytes are served after a
// removal) followed by EOF or ENODEV, even at end of file.
func TestConcurrentReadersUnpinRmdir(t *testing.T) {
	const ncg = 4
	e := newRaceEnv(t, ncg)
	iters := 300
	if testing.Short() {
		iters = 60
	}
	var (
		wg      sync.WaitGroup
		stop    atomic.Bool
		errs    = make(chan error, 64)
		reads   atomic.Int64
		enodev  atomic.Int64
		late    atomic.Int64
		partial atomic.Int64
	)
	fail := func(err error) {
		select {
		case errs <- err:
		default:
		}
		stop.Store(true)
	}
	for r := 0; r < 4; r++ {
		wg.Add(1)
		go func(seed uint64) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(seed, 1))
			for !stop.Load() {
				i := rng.IntN(ncg)
				out, err := e.p.ReadFile(e.file(i))
				switch {
				case err == nil:
					reads.Add(1)
					if err := e.checkOutput(i, string(out)); err != nil {
						fail(err)
					}
				case allowed(err, unix.ENODEV):
					// Removed before the first read, or after it: then
					// the read that would have seen EOF sees ENODEV.
					enodev.Add(1)
					if len(out) != 0 {
						late.Add(1)
						if err := e.checkOutput(i, string(out)); err != nil {
							fail(err)
						}
					}
				case allowed(err, unix.ENOENT):
				default:
					fail(fmt.Errorf("read %s: %v", e.file(i), err))
				}
			}
		}(uint64(r))
	}
	for r := 0; r < 2; r++ {
		wg.Add(1)
		go func(seed uint64) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(seed, 2))
			buf := make([]byte, 3)
			for !stop.Load() {
				i := rng.IntN(ncg)
				fd, err := e.p.Open(e.file(i), unix.O_RDONLY, 0)
				if err != nil {
					if !allowed(err, unix.ENOENT, unix.ENODEV) {
						fail(fmt.Errorf("open %s: %v", e.file(i), err))
					}
					continue
				}
				var got []byte
				for {
					n, err := e.p.Read(fd, buf)
					got = append(got, buf[:n]...)
					if err != nil {
						if !allowed(err, unix.ENODEV) {
							fail(fmt.Errorf("read fd of %s: %v", e.file(i), err))
						} else if len(got) > 0 {
							partial.Add(1)
						}
						break
					}
					if n == 0 {
						break
					}
				}
				if len(got) > 0 {
					if err := e.checkOutput(i, string(got)); err != nil {
						fail(err)
					}
				}
				_ = e.p.Close(fd)
			}
		}(uint64(r))
	}
	var writers sync.WaitGroup
	// Unpin and pin again, then expose in every cgroup.
	writers.Add(1)
	go func() {
		defer writers.Done()
		for k := 0; k < iters && !stop.Load(); k++ {
			if err := e.p.Unlink("/sys/fs/bpf/v"); err != nil {
				fail(err)
				return
			}
			if err := e.p.ObjPin(e.lfd, "/sys/fs/bpf/v"); err != nil {
				fail(err)
				return
			}
			for i := 0; i < ncg; i++ {
				err := e.p.ObjPin(e.lfd, e.file(i))
				if err != nil && !allowed(err, unix.EEXIST, unix.ENOENT) {
					fail(fmt.Errorf("expose %s: %v", e.file(i), err))
				}
			}
		}
	}()
	// rmdir a cgroup (its exposure goes with it), make it again, expose.
	writers.Add(1)
	go func() {
		defer writers.Done()
		rng := rand.New(rand.NewPCG(7, 3))
		for k := 0; k < iters && !stop.Load(); k++ {
			i := rng.IntN(ncg)
			if err := e.p.Rmdir(e.dir(i)); err != nil {
				fail(fmt.Errorf("rmdir %s: %v", e.dir(i), err))
				return
			}
			if err := e.mkdir(i); err != nil {
				fail(err)
				return
			}
			err := e.p.ObjPin(e.lfd, e.file(i))
			if err != nil && !allowed(err, unix.EEXIST, unix.ENXIO) {
				fail(fmt.Errorf("expose %s: %v", e.file(i), err))
			}
		}
	}()
	// echo rm > a view file, and expose it again.
	writers.Add(1)
	go func() {
		defer writers.Done()
		rng := rand.New(rand.NewPCG(9, 4))
		for k := 0; k < iters && !stop.Load(); k++ {
			i := rng.IntN(ncg)
			err := e.p.WriteFile(e.file(i), []byte("rm\n"))
			if err != nil && !allowed(err, unix.ENOENT, unix.ENODEV, unix.EACCES) {
				// EACCES: the file was gone and O_CREAT asked kernfs to
				// create it.
				fail(fmt.Errorf("rm %s: %v", e.file(i), err))
			}
			err = e.p.ObjPin(e.lfd, e.file(i))
			if err != nil && !allowed(err, unix.EEXIST, unix.ENXIO, unix.ENOENT) {
				fail(fmt.Errorf("expose %s: %v", e.file(i), err))
			}
		}
	}()
	writers.Wait()
	stop.Store(true)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	t.Logf("%d complete reads, %d ENODEV (%d after the whole output); open fds: %d outputs ended by ENODEV", reads.Load(), enodev.Load(), late.Load(), partial.Load())
	// Quiescent: the index is what the tree shows.
	e.checkIndex(t, ncg)
	link, err := e.m.BPF().LinkByID(1)
	require.NoError(t, err)
	defer link.Put()
	require.Equal(t, int64(3), link.Refs(), "the fd, the pin and this lookup: exposures hold none")
}

// checkIndex compares View.Exposures with what stat finds.
func (e *raceEnv) checkIndex(t *testing.T, ncg int) {
	t.Helper()
	listed := map[string]bool{}
	for _, x := range e.m.View().Exposures() {
		listed[x.Path] = true
	}
	for i := 0; i < ncg; i++ {
		_, err := e.p.Stat(e.file(i))
		require.Equal(t, err == nil, listed[e.file(i)], "%s: stat %v, listed %v", e.file(i), err, listed[e.file(i)])
		delete(listed, e.file(i))
	}
	require.Empty(t, listed)
}

// TestRemoveSelfRacesUnpinAndRmdir writes "rm" to an exposure while
// other goroutines unlink its bpffs pin and rmdir its cgroup: each
// operation succeeds (or, for the write, finds the file gone), nothing
// deadlocks, and the exposure is removed exactly once.
func TestRemoveSelfRacesUnpinAndRmdir(t *testing.T) {
	m, p := boot(t, nil)
	rec := m.Events().Record()
	fd := loadView(t, m, p, 1, 0)
	lfd, err := p.LinkCreate(fd, kernel.LinkCreateAttr{})
	require.NoError(t, err)
	rounds := 300
	if testing.Short() {
		rounds = 50
	}
	reasons := map[string]int{}
	for k := 0; k < rounds; k++ {
		dir := fmt.Sprintf("/sys/fs/cgroup/r%d", k)
		file := dir + "/v"
		require.NoError(t, p.Mkdir(dir, 0755))
		require.NoError(t, p.ObjPin(lfd, "/sys/fs/bpf/v"))
		require.NoError(t, p.ObjPin(lfd, file))
		// An open fd whose "rm" lands after the others may be too late:
		// open it first.
		wfd, err := p.Open(file, unix.O_WRONLY, 0)
		require.NoError(t, err)
		var start, wg sync.WaitGroup
		start.Add(1)
		errs := make([]error, 3)
		for g, op := range []func() error{
			func() error {
				_, err := p.Write(wfd, []byte("rm\n"))
				return err
			},
			func() error { return p.Unlink("/sys/fs/bpf/v") },
			func() error { return p.Rmdir(dir) },
		} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				start.Wait()
				errs[g] = op()
			}()
		}
		start.Done()
		wg.Wait()
		require.NoError(t, p.Close(wfd))
		if errs[0] != nil {
			require.ErrorIs(t, errs[0], unix.ENODEV, "the write lost: its file was already removed")
		}
		require.NoError(t, errs[1], "unlink")
		require.NoError(t, errs[2], "rmdir")
		_, err = p.Stat(file)
		require.ErrorIs(t, err, unix.ENOENT)
		n := 0
		for _, ev := range rec.Events() {
			if ev.Kind == events.ExposureRemoved && ev.Path == file {
				n++
				reasons[ev.Reason]++
			}
		}
		require.Equal(t, 1, n, "round %d: removal events of %s", k, file)
	}
	require.Empty(t, m.View().Exposures())
	t.Logf("winners: %v", reasons)
}

// TestUnpinWaitsForReaderInFlight holds an active reference on an
// exposure, as a read in progress does: unpinning removes the file at
// once for lookups but returns only when the reader lets go; an open fd
// then reads ENODEV, and the events are emitted.
func TestUnpinWaitsForReaderInFlight(t *testing.T) {
	m, p := boot(t, nil)
	rec := m.Events().Record()
	fd := loadView(t, m, p, 5, 0)
	lfd, err := p.LinkCreate(fd, kernel.LinkCreateAttr{})
	require.NoError(t, err)
	require.NoError(t, p.ObjPin(lfd, "/sys/fs/bpf/v"))
	for i := 0; i < 3; i++ {
		require.NoError(t, p.Mkdir(fmt.Sprintf("/sys/fs/cgroup/c%d", i), 0755))
		require.NoError(t, p.ObjPin(lfd, fmt.Sprintf("/sys/fs/cgroup/c%d/v", i)))
	}
	rfd, err := p.Open("/sys/fs/cgroup/c1/v", unix.O_RDONLY, 0)
	require.NoError(t, err)
	var kn *kernfs.Node
	for _, x := range m.View().Exposures() {
		if x.Path == "/sys/fs/cgroup/c1/v" {
			kn = x.Node
		}
	}
	require.NotNil(t, kn)
	require.True(t, kn.GetActive(), "a read in progress")
	done := make(chan error)
	go func() { done <- p.Unlink("/sys/fs/bpf/v") }()
	// The files disappear at once...
	require.Eventually(t, func() bool {
		_, err := p.Stat("/sys/fs/cgroup/c1/v")
		return errors.Is(err, unix.ENOENT)
	}, 5*time.Second, time.Millisecond)
	_, err = p.Stat("/sys/fs/cgroup/c0/v")
	require.ErrorIs(t, err, unix.ENOENT)
	// ...but the unpin waits for the reader in flight.
	select {
	case err := <-done:
		t.Fatalf("unlink returned (%v) while a reader was in flight", err)
	case <-time.After(50 * time.Millisecond):
	}
	kn.PutActive()
	require.NoError(t, <-done)
	_, err = p.Pread(rfd, make([]byte, 64), 0)
	require.ErrorIs(t, err, unix.ENODEV, "a late reader")
	require.NoError(t, p.Close(rfd))
	n := 0
	for _, ev := range rec.Events() {
		if ev.Kind == events.ExposureRemoved {
			require.Equal(t, "unpin", ev.Reason)
			n++
		}
	}
	require.Equal(t, 3, n)
	require.Empty(t, m.View().Exposures())
}
