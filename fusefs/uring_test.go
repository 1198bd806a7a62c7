package fusefs

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"golang.org/x/sys/unix"
)

func TestCountCPUList(t *testing.T) {
	for _, tc := range []struct {
		list string
		n    int
		ok   bool
	}{
		{"0", 1, true},
		{"0-1", 2, true},
		{"0-3,8,10-11", 7, true},
		{"", 0, false},
		{"0-", 0, false},
		{"3-1", 0, false},
		{"a", 0, false},
		{"-1", 0, false},
	} {
		n, err := countCPUList(tc.list)
		if !tc.ok {
			assert.ErrorIs(t, err, unix.EINVAL, tc.list)
			continue
		}
		require.NoError(t, err, tc.list)
		assert.Equal(t, tc.n, n, tc.list)
	}
}

// uringSwitch is the kernel's switch for FUSE over io_uring, "" without one.
func uringSwitch() string {
	b, err := os.ReadFile(enableURingParam)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// needURingOn skips unless the test can mount with FUSE over io_uring: root
// and the kernel's switch on (make test turns it on for a second pass).
func needURingOn(t *testing.T) {
	t.Helper()
	needFUSE(t)
	if os.Geteuid() != 0 || uringSwitch() != "Y" {
		t.Skip("needs root and FUSE over io_uring switched on (make test turns it on for a second pass)")
	}
}

// TestIOURingFallback: asked for io_uring on a kernel that has it switched
// off, the mount serves /dev/fuse and says why.
func TestIOURingFallback(t *testing.T) {
	if os.Geteuid() != 0 || uringSwitch() != "N" {
		t.Skip("needs root and FUSE over io_uring switched off")
	}
	v, root, _ := newTestFS()
	srv, mnt := mount(t, v, root, Options{IOURing: true})
	on, why := srv.IOURing()
	assert.False(t, on)
	require.ErrorIs(t, why, unix.EOPNOTSUPP)
	assert.Contains(t, why.Error(), enableURingParam)
	r := sh(t, "cat "+filepath.Join(mnt, "gen"))
	requireOK(t, r)
	assert.NotEmpty(t, r.out)
}

// TestIOURing: with the kernel's switch on (make test's second pass turns
// it on), requests are answered from the rings, and unmounting ends every
// queue thread.
func TestIOURing(t *testing.T) {
	needURingOn(t)
	v, root, _ := newTestFS()
	dir := t.TempDir()
	srv, err := Serve(v, root, dir, Options{IOURing: true})
	require.NoError(t, err)
	on, why := srv.IOURing()
	require.True(t, on, "%v", why)
	r := sh(t, "ls -l "+dir+" && cat "+filepath.Join(dir, "gen")+" && stat -f "+dir)
	requireOK(t, r)
	assert.Contains(t, r.out, "gen")
	assert.Positive(t, srv.uring.served.Load(), "no request came over the rings")
	require.NoError(t, srv.Unmount())
	srv.Wait()
	goleak.VerifyNone(t)
}

// TestPassthroughSnapshotFileReused: a node's snapshot memfd is rewritten
// for the next open once the last one is released, not made anew; output
// that shrinks leaves no stale tail, output that grows over pages is whole,
// and the kept file goes when the connection ends.
func TestPassthroughSnapshotFileReused(t *testing.T) {
	v, root, _ := newTestFS()
	_, g := addGen(v, root, "big", 0444, strings.Repeat("x", 9000))
	srv, mnt := mount(t, v, root, Options{Passthrough: true})
	path := filepath.Join(mnt, "big")
	r := sh(t, "cat "+path+"; cat "+path)
	requireOK(t, r)
	assert.Equal(t, "big open 1\n"+strings.Repeat("x", 9000)+"big open 2\n"+strings.Repeat("x", 9000), r.out)
	if srv.noPassthrough.Load() {
		t.Skip("passthrough is not available here")
	}
	g.short.Store(true)
	for i := 3; i <= 5; i++ {
		r = sh(t, "cat "+path)
		requireOK(t, r)
		assert.Equal(t, fmt.Sprintf("big open %d\n", i), r.out, "a shorter output after a longer one")
	}
	g.short.Store(false)
	r = sh(t, "cat "+path)
	requireOK(t, r)
	assert.Equal(t, "big open 6\n"+strings.Repeat("x", 9000), r.out, "a longer output (three pages) after a short one")
	assert.EqualValues(t, 1, srv.snapshotFiles.Load(), "six opens, one memfd")
	assert.EqualValues(t, 1, srv.keptSnapshots.Load(), "one memfd for the node")
	require.NoError(t, srv.Unmount())
	srv.Wait()
	assert.EqualValues(t, 0, srv.keptSnapshots.Load(), "memfds left after the connection ended")
}

// TestPassthroughConcurrentReaders: readers on both CPUs opening one file
// at once each get a whole output (fresh, or shared with an overlapping
// open), never an error, and the node ends up with one memfd.
func TestPassthroughConcurrentReaders(t *testing.T) {
	v, root, _ := newTestFS()
	srv, mnt := mount(t, v, root, Options{Passthrough: true})
	path := filepath.Join(mnt, "gen")
	const readers, rounds = 4, 50
	dir := t.TempDir()
	r := sh(t, fmt.Sprintf("for r in $(seq %d); do (for i in $(seq %d); do cat %s || echo FAILED; done > %s/out.$r) & done; wait; cat %s/out.*",
		readers, rounds, path, dir, dir))
	requireOK(t, r)
	lines := strings.Split(strings.TrimSuffix(r.out, "\n"), "\n")
	require.Len(t, lines, readers*rounds)
	for _, l := range lines {
		var n int
		_, err := fmt.Sscanf(l, "gen open %d", &n)
		require.NoError(t, err, "line %q", l)
	}
	if !srv.noPassthrough.Load() {
		assert.LessOrEqual(t, srv.keptSnapshots.Load(), int64(1))
	}
}

// TestIOURingQueueFailure: when a queue cannot start after the connection
// negotiated io_uring (the kernel then holds every request back until all
// queues are there), the mount is made again over /dev/fuse, says why,
// works, and leaves no thread behind.
func TestIOURingQueueFailure(t *testing.T) {
	needURingOn(t)
	v, root, _ := newTestFS()
	dir := t.TempDir()
	injected := fmt.Errorf("injected: %w", unix.ENOMEM)
	srv, err := Serve(v, root, dir, Options{IOURing: true, uringFailQueue: func(qid int) error {
		if qid == 1 {
			return injected
		}
		return nil
	}})
	require.NoError(t, err)
	on, why := srv.IOURing()
	assert.False(t, on)
	assert.ErrorIs(t, why, unix.ENOMEM)
	r := sh(t, "cat "+filepath.Join(dir, "gen"))
	requireOK(t, r)
	assert.NotEmpty(t, r.out)
	require.NoError(t, srv.Unmount())
	srv.Wait()
	goleak.VerifyNone(t)
}

// TestIOURingLargeTransfers: requests and answers that fill the ring
// entries' payload buffers — 128 KiB writes and reads, directory listings
// of many pages — go through the rings whole.
func TestIOURingLargeTransfers(t *testing.T) {
	needURingOn(t)
	v, _ := newRamfs()
	srv, mnt := mount(t, v, v.Root(), Options{IOURing: true})
	on, why := srv.IOURing()
	require.True(t, on, "%v", why)
	r := sh(t, "cd "+mnt+" && head -c 3000000 /dev/urandom > src && dd if=src of=big bs=131072 2>/dev/null && "+
		"cmp src big && dd if=big bs=1M 2>/dev/null | cmp - src && mkdir d && cd d && "+
		"for i in $(seq 1500); do : > file-with-a-long-name-$i; done && ls | wc -l && ls -l | wc -l && rm ../src")
	requireOK(t, r)
	assert.Equal(t, "1500\n1501\n", r.out)
	assert.Positive(t, srv.uring.served.Load())
}
