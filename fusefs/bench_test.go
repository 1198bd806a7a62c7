package fusefs

import (
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/simfs/simfs/internal/benchread"
	"github.com/simfs/simfs/vfs"
)

// The open+read+close benchmark. A reader process (this test binary in
// helper mode, raw syscalls, one locked thread) opens a small file, reads
// it until EOF with 4 KiB reads and closes it, b.N times after 200
// warm-ups, and reports the median, p90, p99 and mean latency; the mount
// is served by this process. The native reference is a real cgroup2 file
// on a cgroup2 mount the benchmark makes. The io-uring configurations turn
// the kernel's switch for FUSE over io_uring on for their run (and skip
// where they cannot). The reader is internal/benchread.
//
//	go test -run '^$' -bench OpenReadClose -benchtime 20000x ./fusefs/

// benchBody pads the generated file to about the size of cgroup.stat.
const benchBody = "nr_descendants 0\nnr_subsys_cpu 0\nnr_subsys_memory 0\nnr_dying_descendants 0\nnr_dying_subsys_cpu 0\n"

type benchConfig struct {
	name string
	opts Options
	// procs, if set, is the serving process's GOMAXPROCS during the run
	// (go-fuse sizes its reader pool from it when the mount is made).
	procs int
}

func benchConfigs() []benchConfig {
	plain := Options{EntryTimeout: time.Second, AttrTimeout: time.Second, flushOnClose: true, noDefaultPermissions: true,
		mountOptions: func(mo *fuse.MountOptions) { mo.DisableSplice = false }}
	noflush := plain
	noflush.flushOnClose = false
	zero := noflush
	zero.EntryTimeout, zero.AttrTimeout = -1, -1
	zeroPerm := zero
	zeroPerm.noDefaultPermissions = false
	hour := noflush
	hour.EntryTimeout, hour.AttrTimeout = time.Hour, time.Hour
	def := Options{}
	splice := withMount(def, func(mo *fuse.MountOptions) { mo.DisableSplice = false })
	single := withMount(def, func(mo *fuse.MountOptions) { mo.SingleThreaded = true })
	tuned := withMount(def, func(mo *fuse.MountOptions) {
		mo.MaxBackground = 64
		mo.EnableLocks = false
		mo.DisableXAttrs = true
		mo.IgnoreSecurityLabels = true
	})
	pt := Options{Passthrough: true}
	uring := Options{IOURing: true}
	uringPT := Options{IOURing: true, Passthrough: true}
	ptflush := pt
	ptflush.flushOnClose = true
	return []benchConfig{
		{"plain-1s-flush", plain, 0},        // go-fuse DIRECT_IO as the issue measured it
		{"noflush-1s", noflush, 0},          // + FOPEN_NOFLUSH
		{"noflush-0s", zero, 0},             // timeouts 0: a LOOKUP per path component
		{"noflush-0s-defperm", zeroPerm, 0}, // + default_permissions: GETATTRs too
		{"noflush-1h", hour, 0},             // long timeouts, server-only permission checks
		{"default", def, 0},                 // what Serve does: 1h, default_permissions, NOFLUSH
		{"passthrough-flush", ptflush, 0},
		{"passthrough", pt, 0},        // default + Options.Passthrough
		{"default-splice", splice, 0}, // go-fuse's splice attempt on READ replies (the default before)
		{"default-procs1", def, 1},    // the serving process at GOMAXPROCS=1
		{"default-procs4", def, 4},
		{"single-threaded", single, 0},
		{"single-threaded-procs1", single, 1},
		{"maxbackground-nolocks-noxattr", tuned, 0},
		{"passthrough-procs1", pt, 1},
		{"io-uring", uring, 0}, // requests over FUSE-over-io_uring
		{"io-uring-procs1", uring, 1},
		{"io-uring-passthrough", uringPT, 0}, // io_uring + Options.Passthrough
		{"io-uring-passthrough-procs1", uringPT, 1},
	}
}

// settle waits for the RELEASEs still on their way (asynchronous).
func (c *opCounts) settle() {
	for deadline := time.Now().Add(time.Second); c.release.Load() < c.open.Load() && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
}

func withMount(o Options, f func(*fuse.MountOptions)) Options {
	o.mountOptions = f
	return o
}

func BenchmarkOpenReadClose(b *testing.B) {
	needFUSE(b)
	natives := nativeFiles(b)
	nativeMed := medianOf(b, natives[0].path, 20000)
	b.Logf("native %s: median %v", natives[0].name, time.Duration(nativeMed))
	for _, nf := range natives {
		b.Run("native-"+nf.name, func(b *testing.B) {
			runBench(b, nf.path, nativeMed)
		})
	}
	for _, cfg := range benchConfigs() {
		b.Run("fuse-"+cfg.name, func(b *testing.B) {
			if cfg.procs > 0 {
				defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(cfg.procs))
			}
			counts := &opCounts{}
			cfg.opts.counts = counts
			v, _ := newRamfs()
			sb := v.NewSuperblock(testFS{}, vfs.InodeAttr{Mode: vfs.S_IFDIR | 0755, DirOps: testDirOps{}})
			dir, err := v.MkdirChild(vfs.RootCaller(), sb.Root(), "child", 0755)
			if err != nil {
				b.Fatal(err)
			}
			addGen(v, dir, "gen", 0444, benchBody)
			if cfg.opts.IOURing {
				benchread.EnableURing(b)
			}
			srv, mnt := mount(b, v, sb.Root(), cfg.opts)
			if on, why := srv.IOURing(); cfg.opts.IOURing && !on {
				b.Skipf("FUSE over io_uring: %v", why)
			}
			p := filepath.Join(mnt, "child", "gen")
			helperCmd(b, "bench", p, "1") // the path is cached from here on
			counts.settle()
			*counts = opCounts{}
			runBench(b, p, nativeMed)
			counts.settle()
			iters := float64(b.N + benchread.Warmup)
			b.ReportMetric(float64(counts.lookup.Load()+counts.getattr.Load()+counts.open.Load()+
				counts.read.Load()+counts.flush.Load()+counts.release.Load())/iters, "reqs/op")
			b.Logf("%s: requests for %d open+read+close: %v", cfg.name, b.N+benchread.Warmup, counts)
		})
	}
	// The floor: one round trip (statfs(2) always reaches the server and
	// is answered without touching the simulator's files).
	for _, rt := range []struct {
		name  string
		procs int
		opts  Options
	}{{"procs0", 0, Options{}}, {"procs1", 1, Options{}}, {"io-uring", 0, Options{IOURing: true}}, {"io-uring-procs1", 1, Options{IOURing: true}}} {
		b.Run("fuse-statfs-roundtrip-"+rt.name, func(b *testing.B) {
			if rt.procs > 0 {
				defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(rt.procs))
			}
			if rt.opts.IOURing {
				benchread.EnableURing(b)
			}
			v, _ := newRamfs()
			srv, mnt := mount(b, v, v.Root(), rt.opts)
			if on, why := srv.IOURing(); rt.opts.IOURing && !on {
				b.Skipf("FUSE over io_uring: %v", why)
			}
			b.ResetTimer()
			st := readerStats(b, "statfs:"+mnt, b.N)
			b.StopTimer()
			b.ReportMetric(st[0], "median-ns")
			b.ReportMetric(st[1], "p90-ns")
			b.ReportMetric(st[0]/nativeMed, "x-native")
		})
	}
}

// runBench runs the reader for b.N iterations and reports its latencies
// and the ratio of the median to the native one.
func runBench(b *testing.B, path string, nativeMed float64) {
	b.ResetTimer()
	st := readerStats(b, path, b.N)
	b.StopTimer()
	b.ReportMetric(st[0], "median-ns")
	b.ReportMetric(st[1], "p90-ns")
	b.ReportMetric(st[2], "p99-ns")
	b.ReportMetric(st[0]/nativeMed, "x-native")
}

func medianOf(b *testing.B, path string, n int) float64 { return readerStats(b, path, n)[0] }

func readerStats(b *testing.B, path string, n int) []float64 {
	st, err := benchread.Parse(helperCmd(b, "bench", path, strconv.Itoa(n)).out)
	if err != nil {
		b.Fatal(err)
	}
	return []float64{float64(st.Median), float64(st.P90), float64(st.P99), float64(st.Mean)}
}

type namedFile struct{ name, path string }

// nativeFiles are a fresh child cgroup's cgroup.procs (empty; the
// reference for the ratio) and cgroup.stat (about as big as the generated
// file) on a cgroup2 mount of the benchmark's own.
func nativeFiles(b *testing.B) []namedFile {
	procs := benchread.NativeCgroupFile(b, "cgroup.procs")
	return []namedFile{
		{"cgroup2-cgroup.procs", procs},
		{"cgroup2-cgroup.stat", filepath.Join(filepath.Dir(procs), "cgroup.stat")},
	}
}

// BenchmarkSupplementaryGroups is the cost that default_permissions saves
// on every request: reading the caller's groups from /proc. fusefs pays it
// only when the simulator refuses a non-root caller.
func BenchmarkSupplementaryGroups(b *testing.B) {
	pid := uint32(os.Getpid())
	for i := 0; i < b.N; i++ {
		if _, ok := supplementaryGroups(pid); !ok {
			b.Fatal("no groups line")
		}
	}
}
