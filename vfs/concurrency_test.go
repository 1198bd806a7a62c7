package vfs_test

import (
	"errors"
	"fmt"
	"math/rand"
	"sync"
	"testing"

	"github.com/simfs/simfs/vfs"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"golang.org/x/sys/unix"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// destructionCounter counts InodeRemoved and evictions per inode.
type destructionCounter struct {
	mu      sync.Mutex
	removed map[*vfs.Inode]int
	evicted map[*vfs.Inode]int
}

func (d *destructionCounter) Notify(vfs.Event) {}
func (d *destructionCounter) InodeRemoved(in *vfs.Inode) {
	d.mu.Lock()
	d.removed[in]++
	d.mu.Unlock()
}
func (d *destructionCounter) Unmounted(*vfs.Inode) {}

// Readers walk, stat, list and read while writers create, rename, link
// and remove in the same directories; afterwards the tree's link counts
// are consistent and every inode that died did so exactly once, and only
// when unlinked and closed.
func TestConcurrentWalksAndMutations(t *testing.T) {
	dc := &destructionCounter{removed: map[*vfs.Inode]int{}, evicted: map[*vfs.Inode]int{}}
	fs := &vfs.RamFS{Evicted: func(in *vfs.Inode) {
		dc.mu.Lock()
		dc.evicted[in]++
		dc.mu.Unlock()
	}}
	v := vfs.New(fs, vfs.RamDirOps(), 0755, vfs.Options{})
	v.AddNotifier(dc)
	c := &vfs.Caller{}
	for _, d := range []string{"/sys", "/sys/fs", "/sys/fs/cgroup"} {
		require.NoError(t, v.Mkdir(c, d, 0755))
	}
	// The same RamFS (and its eviction counter) for the mounted superblock.
	sb := v.NewSuperblock(fs, vfs.InodeAttr{Mode: vfs.S_IFDIR | 0755, DirOps: vfs.RamDirOps()})
	require.NoError(t, v.Mount(c, "/sys/fs/cgroup", sb))
	dirs := []string{"/sys/fs/cgroup/a", "/sys/fs/cgroup/a/b", "/sys/fs/cgroup/a/b/c", "/sys/fs/cgroup/x"}
	for _, d := range dirs {
		require.NoError(t, v.Mkdir(c, d, 0777))
	}
	names := []string{"p", "q", "r", "s"}
	path := func(r *rand.Rand) string {
		return dirs[r.Intn(len(dirs))] + "/" + names[r.Intn(len(names))]
	}
	// Errors that a path can legitimately give while the tree changes.
	tolerated := func(err error) bool {
		for _, e := range []error{unix.ENOENT, unix.ENOTDIR, unix.EEXIST, unix.ENOTEMPTY, unix.EISDIR, unix.EINVAL, unix.EPERM, unix.ELOOP} {
			if errors.Is(err, e) {
				return true
			}
		}
		return err == nil
	}

	const readers, writers, iters = 4, 4, 1500
	var wg sync.WaitGroup
	errc := make(chan error, readers+writers)
	for i := 0; i < readers; i++ {
		wg.Add(1)
		go func(seed int64) {
			defer wg.Done()
			r := rand.New(rand.NewSource(seed))
			for k := 0; k < iters; k++ {
				p := path(r)
				var err error
				switch r.Intn(6) {
				case 0:
					_, err = v.Stat(c, p)
				case 1:
					_, err = v.Lstat(c, "/sys/fs/cgroup/a/b/c/../../b/c/.")
				case 2:
					_, err = v.ReadDir(c, dirs[r.Intn(len(dirs))])
				case 3:
					var f *vfs.File
					if f, err = v.Open(c, p, unix.O_RDONLY, 0); err == nil {
						f.Read(make([]byte, 8))
						err = f.Close()
					}
				case 4:
					_, err = v.Readlink(c, p)
					if errors.Is(err, unix.EINVAL) {
						err = nil
					}
				case 5:
					var in *vfs.Inode
					if in, err = v.Resolve(c, p, true); err == nil {
						v.Getattr(in)
					}
				}
				if !tolerated(err) {
					errc <- fmt.Errorf("reader: %w", err)
					return
				}
			}
		}(int64(i))
	}
	for i := 0; i < writers; i++ {
		wg.Add(1)
		go func(seed int64) {
			defer wg.Done()
			r := rand.New(rand.NewSource(100 + seed))
			var open []*vfs.File
			for k := 0; k < iters; k++ {
				p, q := path(r), path(r)
				var err error
				switch r.Intn(10) {
				case 0:
					err = v.Mkdir(c, p, 0777)
				case 1:
					err = v.Rmdir(c, p)
				case 2:
					var f *vfs.File
					if f, err = v.Open(c, p, unix.O_CREAT|unix.O_RDWR, 0644); err == nil {
						f.Write([]byte("data"))
						open = append(open, f)
					}
				case 3:
					err = v.Unlink(c, p)
				case 4:
					err = v.Link(c, p, q)
				case 5:
					err = v.Rename(c, p, q, 0)
				case 6:
					err = v.Rename(c, p, q, unix.RENAME_EXCHANGE)
				case 7:
					err = v.Symlink(c, "../p", p)
				case 8:
					err = v.Chmod(c, p, 0600)
				case 9:
					if len(open) > 0 {
						j := r.Intn(len(open))
						err = open[j].Close()
						open = append(open[:j], open[j+1:]...)
					}
				}
				if !tolerated(err) {
					errc <- fmt.Errorf("writer: %w", err)
					return
				}
			}
			for _, f := range open {
				f.Close()
			}
		}(int64(i))
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}

	// Invariants: every reachable inode is alive; directories have 2 + subdirs
	// links, other inodes as many as the names found.
	names2 := map[*vfs.Inode]int{}
	var walk func(p string, in *vfs.Inode)
	walk = func(p string, in *vfs.Inode) {
		require.False(t, in.Destroyed(), p)
		if !in.IsDir() {
			names2[in]++
			return
		}
		ents, err := v.ReadDir(c, p)
		require.NoError(t, err)
		sub := 0
		for _, e := range ents {
			child, err := v.Resolve(c, p+"/"+e.Name, false)
			require.NoError(t, err)
			if child.IsDir() {
				sub++
			}
			walk(p+"/"+e.Name, child)
		}
		require.EqualValues(t, 2+sub, v.Nlink(in), p)
	}
	for _, d := range []string{"/sys/fs/cgroup"} {
		in, err := v.Resolve(c, d, true)
		require.NoError(t, err)
		walk(d, in)
	}
	for in, n := range names2 {
		require.EqualValues(t, n, v.Nlink(in))
	}
	dc.mu.Lock()
	defer dc.mu.Unlock()
	for in, n := range dc.evicted {
		require.Equal(t, 1, n)
		require.Equal(t, 1, dc.removed[in])
		require.True(t, in.Destroyed())
		require.Zero(t, v.Nlink(in))
	}
	require.NotEmpty(t, dc.evicted, "the writers should have killed some inodes")
}
