package fsnotify_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/simfs/simfs/fsnotify"
	"github.com/simfs/simfs/vfs"
	"golang.org/x/sys/unix"
)

func benchEnv(b *testing.B) (*vfs.VFS, *vfs.Caller, *fsnotify.Registry) {
	v := vfs.New(&vfs.RamFS{}, vfs.RamDirOps(), 0755, vfs.Options{})
	reg := fsnotify.New(v)
	b.Cleanup(reg.Close)
	return v, &vfs.Caller{}, reg
}

func benchFile(b *testing.B, v *vfs.VFS, c *vfs.Caller, p string) *vfs.Inode {
	f, err := v.Open(c, p, unix.O_CREAT|unix.O_RDONLY, 0644)
	if err != nil {
		b.Fatal(err)
	}
	in := f.Inode()
	f.Close()
	return in
}

// BenchmarkMarks measures the RFC's worst case: one bpffs inode exposed n
// times (n marks of one group with allowDups), then unpinned. Each
// iteration adds n marks to a fresh inode and unlinks it, which destroys
// them all and runs every freeing callback. Reported: add-ns/mark,
// destroy-ns/mark and unlink-ms (the unpin of issue 4's budget: 50 ms
// for 100k exposures including kernfs removal).
func BenchmarkMarks(b *testing.B) {
	for _, n := range []int{1000, 100000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			v, c, reg := benchEnv(b)
			g := reg.NewGroup(fsnotify.GroupOps{})
			freed := 0
			free := func(*fsnotify.Mark, fsnotify.Reason) { freed++ }
			var addTime, destroyTime time.Duration
			b.ReportAllocs()
			for b.Loop() {
				in := benchFile(b, v, c, "/pin")
				marks := make([]fsnotify.Mark, n)
				start := time.Now()
				for i := range marks {
					marks[i].Freeing = free
					if err := g.AddInodeMark(in, &marks[i], true); err != nil {
						b.Fatal(err)
					}
				}
				mid := time.Now()
				if err := v.Unlink(c, "/pin"); err != nil {
					b.Fatal(err)
				}
				end := time.Now()
				addTime += mid.Sub(start)
				destroyTime += end.Sub(mid)
			}
			if freed != b.N*n {
				b.Fatalf("freed %d of %d", freed, b.N*n)
			}
			b.ReportMetric(float64(addTime.Nanoseconds())/float64(b.N*n), "add-ns/mark")
			b.ReportMetric(float64(destroyTime.Nanoseconds())/float64(b.N*n), "destroy-ns/mark")
			b.ReportMetric(float64(destroyTime.Nanoseconds())/float64(b.N)/1e6, "unlink-ms")
		})
	}
}

// BenchmarkDestroyMark removes marks one at a time from an inode that
// carries 100k (an exposure removed by "rm"): O(1) each.
func BenchmarkDestroyMark(b *testing.B) {
	v, c, reg := benchEnv(b)
	g := reg.NewGroup(fsnotify.GroupOps{})
	in := benchFile(b, v, c, "/pin")
	const base = 100000
	for i := 0; i < base; i++ {
		if err := g.AddInodeMark(in, &fsnotify.Mark{}, true); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		m := &fsnotify.Mark{}
		if err := g.AddInodeMark(in, m, true); err != nil {
			b.Fatal(err)
		}
		if !g.DestroyMark(m) {
			b.Fatal("not destroyed")
		}
	}
}

// BenchmarkChmodUnwatched is a VFS operation with a registry but no marks
// anywhere (Notify's fast path).
func BenchmarkChmodUnwatched(b *testing.B) {
	v, c, _ := benchEnv(b)
	benchFile(b, v, c, "/f")
	b.ReportAllocs()
	for b.Loop() {
		if err := v.Chmod(c, "/f", 0600); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkChmodInotify is the same with an inotify watch on the directory
// and one on the file: two events queued, read back every 1000.
func BenchmarkChmodInotify(b *testing.B) {
	v, c, reg := benchEnv(b)
	benchFile(b, v, c, "/f")
	in := reg.NewInotify(fsnotify.InotifyOptions{})
	defer in.Close()
	if _, err := in.AddWatch(c, "/", unix.IN_ATTRIB); err != nil {
		b.Fatal(err)
	}
	if _, err := in.AddWatch(c, "/f", unix.IN_ATTRIB); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		mode := uint32(0600)
		if i%2 == 0 {
			mode = 0644
		}
		if err := v.Chmod(c, "/f", mode); err != nil {
			b.Fatal(err)
		}
		if i++; i%1000 == 0 {
			in.Read()
		}
	}
}
