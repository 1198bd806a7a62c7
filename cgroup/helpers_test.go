package cgroup_test

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/simfs/simfs/cgroup"
	"github.com/simfs/simfs/vfs"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"golang.org/x/sys/unix"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const mnt = "/sys/fs/cgroup"

// clock is a settable VFS clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

type env struct {
	v   *vfs.VFS
	c   *vfs.Caller
	h   *cgroup.Hierarchy
	clk *clock
}

// tb is what newEnv needs of *testing.T and *rapid.T.
type tb interface {
	Helper()
	Errorf(format string, args ...any)
	FailNow()
}

func newEnv(t tb, opts cgroup.Options) *env {
	t.Helper()
	clk := &clock{now: time.Unix(1_000_000, 0)}
	v := vfs.New(&vfs.RamFS{}, vfs.RamDirOps(), 0755, vfs.Options{Now: clk.Now})
	c := vfs.RootCaller()
	for _, d := range []string{"/sys", "/sys/fs", mnt} {
		require.NoError(t, v.Mkdir(c, d, 0755))
	}
	h, err := cgroup.New(v, opts)
	require.NoError(t, err)
	require.NoError(t, h.Mount(c, mnt))
	return &env{v: v, c: c, h: h, clk: clk}
}

func (e *env) p(rel string) string {
	if rel == "" {
		return mnt
	}
	return mnt + "/" + rel
}

// read reads the file at rel (relative to the mount) whole.
func (e *env) read(rel string) (string, error) {
	return e.readAs(e.c, rel)
}

func (e *env) readAs(c *vfs.Caller, rel string) (string, error) {
	f, err := e.v.Open(c, e.p(rel), unix.O_RDONLY, 0)
	if err != nil {
		return "", err
	}
	defer f.Close()
	var b strings.Builder
	buf := make([]byte, 1000)
	for {
		n, err := f.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			return b.String(), err
		}
		if n == 0 {
			return b.String(), nil
		}
	}
}

func (e *env) mustRead(t testing.TB, rel string) string {
	t.Helper()
	s, err := e.read(rel)
	require.NoError(t, err, rel)
	return s
}

// write opens rel for writing and writes data in one write(2).
func (e *env) write(rel, data string) (int, error) {
	return e.writeAs(e.c, rel, data)
}

func (e *env) writeAs(c *vfs.Caller, rel, data string) (int, error) {
	f, err := e.v.Open(c, e.p(rel), unix.O_WRONLY, 0)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	return f.Write([]byte(data))
}

func (e *env) mkdir(t testing.TB, rel string) *cgroup.Cgroup {
	t.Helper()
	require.NoError(t, e.v.Mkdir(e.c, e.p(rel), 0755), rel)
	cg, err := e.h.Lookup(rel)
	require.NoError(t, err)
	return cg
}

func (e *env) events(t testing.TB, rel string) string {
	t.Helper()
	return e.mustRead(t, rel+"/cgroup.events")
}

func errnoOf(err error) unix.Errno { return vfs.Errno(err) }
