package vfs_test

import (
	"fmt"
	"testing"

	"github.com/simfs/simfs/vfs"
	"golang.org/x/sys/unix"
)

// benchTree builds / (ramfs) with /sys/fs/cgroup mounted (another ramfs)
// and /sys/fs/cgroup/a/b/c/cgroup.procs.
func benchTree(b *testing.B) (*vfs.VFS, *vfs.Caller) {
	v := vfs.New(&vfs.RamFS{}, vfs.RamDirOps(), 0755, vfs.Options{})
	c := &vfs.Caller{Umask: 022}
	for _, d := range []string{"/sys", "/sys/fs", "/sys/fs/cgroup"} {
		if err := v.Mkdir(c, d, 0755); err != nil {
			b.Fatal(err)
		}
	}
	if err := v.Mount(c, "/sys/fs/cgroup", vfs.NewRamFS(v, 0755)); err != nil {
		b.Fatal(err)
	}
	for _, d := range []string{"/sys/fs/cgroup/a", "/sys/fs/cgroup/a/b", "/sys/fs/cgroup/a/b/c"} {
		if err := v.Mkdir(c, d, 0755); err != nil {
			b.Fatal(err)
		}
		// Siblings, so that lookups are in non-trivial directories.
		for i := 0; i < 20; i++ {
			f, err := v.Open(c, fmt.Sprintf("%s/file%d", d, i), unix.O_CREAT|unix.O_RDONLY, 0644)
			if err != nil {
				b.Fatal(err)
			}
			f.Close()
		}
	}
	f, err := v.Open(c, "/sys/fs/cgroup/a/b/c/cgroup.procs", unix.O_CREAT|unix.O_RDONLY, 0644)
	if err != nil {
		b.Fatal(err)
	}
	f.Close()
	return v, c
}

const deepPath = "/sys/fs/cgroup/a/b/c/cgroup.procs"

// BenchmarkWalk resolves a cgroup-file-depth path (7 components, one mount
// crossing).
func BenchmarkWalk(b *testing.B) {
	v, c := benchTree(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Resolve(c, deepPath, true); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStat is stat(2) of the same path.
func BenchmarkStat(b *testing.B) {
	v, c := benchTree(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Stat(c, deepPath); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStatParallel is stat(2) from GOMAXPROCS goroutines (the VFS
// lock is taken shared).
func BenchmarkStatParallel(b *testing.B) {
	v, c := benchTree(b)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := v.Stat(c, deepPath); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkMkdirRmdir creates and removes a directory in the deep one.
func BenchmarkMkdirRmdir(b *testing.B) {
	v, c := benchTree(b)
	b.ReportAllocs()
	for b.Loop() {
		if err := v.Mkdir(c, "/sys/fs/cgroup/a/b/c/d", 0755); err != nil {
			b.Fatal(err)
		}
		if err := v.Rmdir(c, "/sys/fs/cgroup/a/b/c/d"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkOpenClose opens and closes the deep file.
func BenchmarkOpenClose(b *testing.B) {
	v, c := benchTree(b)
	b.ReportAllocs()
	for b.Loop() {
		f, err := v.Open(c, deepPath, unix.O_RDONLY, 0)
		if err != nil {
			b.Fatal(err)
		}
		f.Close()
	}
}

// nopNotifier makes the VFS build and deliver events.
type nopNotifier struct{}

func (nopNotifier) Notify(vfs.Event)        {}
func (nopNotifier) InodeRemoved(*vfs.Inode) {}
func (nopNotifier) Unmounted(*vfs.Inode)    {}

// BenchmarkOpenCloseNotified is BenchmarkOpenClose with a notifier
// registered: IN_OPEN and IN_CLOSE_NOWRITE are built and delivered.
func BenchmarkOpenCloseNotified(b *testing.B) {
	v, c := benchTree(b)
	v.AddNotifier(nopNotifier{})
	b.ReportAllocs()
	for b.Loop() {
		f, err := v.Open(c, deepPath, unix.O_RDONLY, 0)
		if err != nil {
			b.Fatal(err)
		}
		f.Close()
	}
}
