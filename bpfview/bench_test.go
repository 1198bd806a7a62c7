package bpfview_test

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/simfs/simfs/internal/benchread"
	"github.com/simfs/simfs/kernel"
	"golang.org/x/sys/unix"
)

// benchView boots a machine with a view link pinned at /sys/fs/bpf/v and
// returns the process and the link's fd.
func benchView(b testing.TB) (*kernel.Machine, *kernel.Process, int) {
	b.Helper()
	m, p := boot(b, nil)
	fd := loadView(b, m, p, 42, 0)
	lfd, err := p.LinkCreate(fd, kernel.LinkCreateAttr{})
	if err != nil {
		b.Fatal(err)
	}
	if err := p.ObjPin(lfd, "/sys/fs/bpf/v"); err != nil {
		b.Fatal(err)
	}
	return m, p, lfd
}

// BenchmarkViewRead is open + read + close of a view file through the
// library (kernel.Process.ReadFile: open, 4 KiB reads to EOF, close): the
// program runs once per open. As root, "native" reads a real cgroup2
// file (cgroup.procs of a fresh child, empty, and cgroup.stat) the same
// way, for the ratio; elsewhere that part is skipped.
func BenchmarkViewRead(b *testing.B) {
	b.Run("simfs-view", func(b *testing.B) {
		_, p, lfd := benchView(b)
		if err := p.Mkdir("/sys/fs/cgroup/a", 0755); err != nil {
			b.Fatal(err)
		}
		if err := p.ObjPin(lfd, "/sys/fs/cgroup/a/v"); err != nil {
			b.Fatal(err)
		}
		want, err := p.ReadFile("/sys/fs/cgroup/a/v")
		if err != nil || len(want) == 0 {
			b.Fatalf("read: %q %v", want, err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := p.ReadFile("/sys/fs/cgroup/a/v"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("simfs-cgroup.procs", func(b *testing.B) {
		_, p := boot(b, nil)
		if err := p.Mkdir("/sys/fs/cgroup/a", 0755); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := p.ReadFile("/sys/fs/cgroup/a/cgroup.procs"); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, name := range []string{"cgroup.procs", "cgroup.stat"} {
		b.Run("native-"+name, func(b *testing.B) {
			path := benchread.NativeCgroupFile(b, name)
			buf := make([]byte, 4096)
			for b.Loop() {
				fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
				if err != nil {
					b.Fatal(err)
				}
				for {
					n, err := unix.Read(fd, buf)
					if err != nil {
						b.Fatal(err)
					}
					if n == 0 {
						break
					}
				}
				unix.Close(fd)
			}
		})
	}
}

// BenchmarkPinUnpin pins a link in bpffs and unlinks the pin.
func BenchmarkPinUnpin(b *testing.B) {
	_, p, lfd := benchView(b)
	b.ReportAllocs()
	for b.Loop() {
		if err := p.ObjPin(lfd, "/sys/fs/bpf/w"); err != nil {
			b.Fatal(err)
		}
		if err := p.Unlink("/sys/fs/bpf/w"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkExposeRm exposes a link in a cgroup directory and removes the
// exposure with a write of "rm".
func BenchmarkExposeRm(b *testing.B) {
	_, p, lfd := benchView(b)
	if err := p.Mkdir("/sys/fs/cgroup/a", 0755); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := p.ObjPin(lfd, "/sys/fs/cgroup/a/v"); err != nil {
			b.Fatal(err)
		}
		if err := p.WriteFile("/sys/fs/cgroup/a/v", []byte("rm\n")); err != nil {
			b.Fatal(err)
		}
	}
}

// exposureSizes are the N of the unpin and memory benchmarks.
var exposureSizes = []int{1000, 10_000, 100_000}

// exposeAll exposes the link lfd n times: in one directory ("flat": names
// v0..v<n-1> in cgroup a) or one per cgroup c<i> ("per-cgroup": the RFC's
// use, a view in every cgroup; the cgroups must exist).
func exposeAll(b testing.TB, p *kernel.Process, lfd, n int, perCgroup bool) {
	b.Helper()
	for i := 0; i < n; i++ {
		path := fmt.Sprintf("/sys/fs/cgroup/a/v%d", i)
		if perCgroup {
			path = fmt.Sprintf("/sys/fs/cgroup/c%d/v", i)
		}
		if err := p.ObjPin(lfd, path); err != nil {
			b.Fatal(err)
		}
	}
}

func mkCgroups(b testing.TB, p *kernel.Process, n int) {
	b.Helper()
	for i := 0; i < n; i++ {
		if err := p.Mkdir(fmt.Sprintf("/sys/fs/cgroup/c%d", i), 0755); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkUnpinExposed times unlink(2) of one bpffs pin that N exposures
// watch: the watch marks fire and every exposure is removed (readers
// drained, events emitted) before unlink returns. Setting up (pin, N
// exposures) is not timed.
func BenchmarkUnpinExposed(b *testing.B) {
	for _, layout := range []string{"flat", "per-cgroup"} {
		for _, n := range exposureSizes {
			b.Run(fmt.Sprintf("%s/N=%d", layout, n), func(b *testing.B) {
				m, p, lfd := benchView(b)
				if err := p.Unlink("/sys/fs/bpf/v"); err != nil {
					b.Fatal(err)
				}
				if layout == "flat" {
					if err := p.Mkdir("/sys/fs/cgroup/a", 0755); err != nil {
						b.Fatal(err)
					}
				} else {
					mkCgroups(b, p, n)
				}
				for b.Loop() {
					b.StopTimer()
					if err := p.ObjPin(lfd, "/sys/fs/bpf/v"); err != nil {
						b.Fatal(err)
					}
					exposeAll(b, p, lfd, n, layout == "per-cgroup")
					runtime.GC()
					b.StartTimer()
					if err := p.Unlink("/sys/fs/bpf/v"); err != nil {
						b.Fatal(err)
					}
				}
				b.StopTimer()
				if k := len(m.View().Exposures()); k != 0 {
					b.Fatalf("%d exposures left", k)
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1e6, "ms/unpin")
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/exposure")
			})
		}
	}
}

// BenchmarkExposureMemory reports the heap one exposure costs (its kernfs
// node and VFS inode, directory entries, the watch mark, the index entry),
// measured over N exposures of one link in one directory and, separately,
// one per existing cgroup.
func BenchmarkExposureMemory(b *testing.B) {
	for _, layout := range []string{"flat", "per-cgroup"} {
		for _, n := range exposureSizes {
			b.Run(fmt.Sprintf("%s/N=%d", layout, n), func(b *testing.B) {
				_, p, lfd := benchView(b)
				if layout == "flat" {
					if err := p.Mkdir("/sys/fs/cgroup/a", 0755); err != nil {
						b.Fatal(err)
					}
				} else {
					mkCgroups(b, p, n)
				}
				var per float64
				for b.Loop() {
					b.StopTimer()
					before := heapInUse()
					b.StartTimer()
					exposeAll(b, p, lfd, n, layout == "per-cgroup")
					b.StopTimer()
					per = float64(heapInUse()-before) / float64(n)
					// Remove them for the next iteration: unpin and pin again.
					if err := p.Unlink("/sys/fs/bpf/v"); err != nil {
						b.Fatal(err)
					}
					if err := p.ObjPin(lfd, "/sys/fs/bpf/v"); err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
				}
				b.ReportMetric(per, "bytes/exposure")
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/expose")
			})
		}
	}
}

func heapInUse() int64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc)
}
