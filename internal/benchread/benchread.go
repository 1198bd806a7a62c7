// Package benchread is shared by the latency benchmarks of reads through
// FUSE: the reader (a loop of open + read to EOF in 4 KiB reads + close, or
// of statfs(2), timed one iteration at a time on one locked thread with raw
// system calls, run in a process of its own since a process must never
// read a FUSE mount it serves), the native cgroup2 file they compare with,
// and the kernel switch for FUSE over io_uring. It has no kernel
// counterpart.
package benchread

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Warmup is how many iterations run before the timed ones.
const Warmup = 200

// Stats are latencies in nanoseconds.
type Stats struct{ Median, P90, P99, Mean int64 }

// Run times n iterations on path after Warmup untimed ones. A path
// "statfs:DIR" times statfs(2) of DIR instead.
func Run(path string, n int) (Stats, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	buf := make([]byte, 4096)
	lat := make([]int64, n)
	once := func() error {
		fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("open %s: %w", path, err)
		}
		defer unix.Close(fd)
		for {
			r, err := unix.Read(fd, buf)
			if err != nil {
				return fmt.Errorf("read %s: %w", path, err)
			}
			if r == 0 {
				return nil
			}
		}
	}
	if dir, ok := strings.CutPrefix(path, "statfs:"); ok {
		var st unix.Statfs_t
		once = func() error {
			if err := unix.Statfs(dir, &st); err != nil {
				return fmt.Errorf("statfs %s: %w", dir, err)
			}
			return nil
		}
	}
	for i := -Warmup; i < n; i++ {
		t0 := time.Now()
		if err := once(); err != nil {
			return Stats{}, err
		}
		if i >= 0 {
			lat[i] = int64(time.Since(t0))
		}
	}
	return stats(lat), nil
}

func stats(lat []int64) Stats {
	n := len(lat)
	if n == 0 {
		return Stats{}
	}
	slices.Sort(lat)
	var sum int64
	for _, l := range lat {
		sum += l
	}
	return Stats{Median: lat[n/2], P90: lat[n*9/10], P99: lat[n*99/100], Mean: sum / int64(n)}
}

// Main is a helper process's body: args are PATH N; it prints the Stats
// as four numbers on w and returns the exit status.
func Main(args []string, w, errw io.Writer) int {
	if len(args) != 2 {
		fmt.Fprintln(errw, "usage: PATH N")
		return 2
	}
	n, err := strconv.Atoi(args[1])
	if err != nil || n < 0 {
		fmt.Fprintln(errw, "bad count", args[1])
		return 2
	}
	st, err := Run(args[0], n)
	if err != nil {
		fmt.Fprintln(errw, err)
		return 1
	}
	fmt.Fprintln(w, st.Median, st.P90, st.P99, st.Mean)
	return 0
}

// Parse reads what Main printed.
func Parse(out string) (Stats, error) {
	f := strings.Fields(out)
	if len(f) != 4 {
		return Stats{}, fmt.Errorf("reader output %q", out)
	}
	var v [4]int64
	for i, s := range f {
		x, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return Stats{}, fmt.Errorf("reader output %q", out)
		}
		v[i] = x
	}
	return Stats{v[0], v[1], v[2], v[3]}, nil
}

// NativeCgroupFile mounts cgroup2 in a temporary directory, makes a child
// cgroup and returns the path of its file name, the native reference of
// the benchmarks; everything is undone when tb ends. It skips tb where
// cgroup2 cannot be mounted (not root).
func NativeCgroupFile(tb testing.TB, name string) string {
	tb.Helper()
	if os.Geteuid() != 0 {
		tb.Skip("native cgroup2 needs root")
	}
	dir := tb.TempDir()
	if err := unix.Mount("none", dir, "cgroup2", 0, ""); err != nil {
		tb.Skipf("cannot mount cgroup2: %v", err)
	}
	child := filepath.Join(dir, fmt.Sprintf("simfs-bench-%d", os.Getpid()))
	if err := os.Mkdir(child, 0755); err != nil {
		_ = unix.Unmount(dir, unix.MNT_DETACH)
		tb.Skipf("cannot create a cgroup: %v", err)
	}
	tb.Cleanup(func() {
		_ = os.Remove(child)
		_ = unix.Unmount(dir, unix.MNT_DETACH)
	})
	return filepath.Join(child, name)
}

// URingSwitch is the kernel's switch for FUSE over io_uring (the fuse
// module's enable_uring parameter, off by default).
const URingSwitch = "/sys/module/fuse/parameters/enable_uring"

// EnableURing turns FUSE over io_uring on for the rest of tb and restores
// the switch afterwards. It skips tb without root or without the switch.
func EnableURing(tb testing.TB) {
	tb.Helper()
	old, err := os.ReadFile(URingSwitch)
	if err != nil {
		tb.Skipf("no FUSE over io_uring in this kernel: %v", err)
	}
	if strings.TrimSpace(string(old)) == "Y" {
		return
	}
	if err := os.WriteFile(URingSwitch, []byte("Y"), 0); err != nil {
		tb.Skipf("cannot switch FUSE over io_uring on: %v", err)
	}
	tb.Cleanup(func() { _ = os.WriteFile(URingSwitch, old, 0) })
}
