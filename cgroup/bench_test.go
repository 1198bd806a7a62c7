package cgroup_test

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/simfs/simfs/cgroup"
	"github.com/simfs/simfs/vfs"
	"golang.org/x/sys/unix"
)

// BenchmarkMkdirRmdir is mkdir(2) then rmdir(2) of a cgroup with its 18
// interface files, through the VFS.
func BenchmarkMkdirRmdir(b *testing.B) {
	e := newEnv(b, cgroup.Options{})
	dir := e.h.Root().Node().Inode()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.v.MkdirChild(e.c, dir, "bench", 0755); err != nil {
			b.Fatal(err)
		}
		if err := e.v.RmdirChild(e.c, dir, "bench"); err != nil {
			b.Fatal(err)
		}
	}
}

// benchRead opens, reads and closes rel each iteration (what `cat` does),
// or with reuse preads an open file at offset 0, which regenerates it.
func benchRead(b *testing.B, rel string, tasks int, reuse bool) {
	e := newEnv(b, cgroup.Options{})
	cg := e.mkdir(b, "a")
	for i := 0; i < tasks; i++ {
		if _, err := e.h.Spawn(cg); err != nil {
			b.Fatal(err)
		}
	}
	path := e.p("a/" + rel)
	buf := make([]byte, 64<<10)
	var f *vfs.File
	if reuse {
		var err error
		if f, err = e.v.Open(e.c, path, unix.O_RDONLY, 0); err != nil {
			b.Fatal(err)
		}
		defer f.Close()
	}
	b.ReportAllocs()
	for b.Loop() {
		if reuse {
			if _, err := f.ReadAt(buf, 0); err != nil {
				b.Fatal(err)
			}
			continue
		}
		f, err := e.v.Open(e.c, path, unix.O_RDONLY, 0)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := f.Read(buf); err != nil {
			b.Fatal(err)
		}
		if err := f.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkReadEvents(b *testing.B) {
	b.Run("open-read-close", func(b *testing.B) { benchRead(b, "cgroup.events", 1, false) })
	b.Run("pread0", func(b *testing.B) { benchRead(b, "cgroup.events", 1, true) })
}

func BenchmarkReadProcs(b *testing.B) {
	for _, n := range []int{1, 100, 1000} {
		b.Run(fmt.Sprintf("tasks=%d/open-read-close", n), func(b *testing.B) { benchRead(b, "cgroup.procs", n, false) })
		b.Run(fmt.Sprintf("tasks=%d/pread0", n), func(b *testing.B) { benchRead(b, "cgroup.procs", n, true) })
	}
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// BenchmarkCgroupMemory creates n sibling cgroups (each a directory and
// 18 files: 19 kernfs nodes and VFS inodes) and reports the heap they
// take per cgroup. Run it with -benchtime=1x.
func BenchmarkCgroupMemory(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		b.Run(fmt.Sprintf("cgroups=%d", n), func(b *testing.B) {
			for b.Loop() {
				e := newEnv(b, cgroup.Options{})
				dir := e.h.Root().Node().Inode()
				before := heapInUse()
				for i := 0; i < n; i++ {
					if _, err := e.v.MkdirChild(e.c, dir, fmt.Sprintf("cg%06d", i), 0755); err != nil {
						b.Fatal(err)
					}
				}
				after := heapInUse()
				b.ReportMetric(float64(after-before)/float64(n), "bytes/cgroup")
				b.ReportMetric(float64(after-before)/float64(n*19), "bytes/node")
				runtime.KeepAlive(e)
			}
		})
	}
}
