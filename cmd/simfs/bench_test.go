package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/simfs/simfs/internal/benchread"
)

// BenchmarkViewOverFUSE is the measurement taken whole: open +
// read to EOF + close of a view file — the RFC selftest's wait_show,
// exposed in a cgroup directory, its program run by the interpreter on
// every open — through a running `simfs mount` (a child process), read by
// a reader process (this binary in reader mode, internal/benchread),
// against a native cgroup2 file read the same way. The daemon runs as
// `simfs mount` runs by default, with the transport and passthrough of
// each configuration; the io_uring ones turn the kernel's switch on for
// their run. Root and FUSE only.
//
//	go test -run '^$' -bench ViewOverFUSE -benchtime 20000x -count 3 ./cmd/simfs/
func BenchmarkViewOverFUSE(b *testing.B) {
	needFUSE(b)
	native := benchread.NativeCgroupFile(b, "cgroup.procs")
	nativeMed := float64(readFile(b, native, 20000).Median)
	b.Run("native-cgroup2-cgroup.procs", func(b *testing.B) {
		reportRead(b, readFile(b, native, b.N), nativeMed)
	})
	for _, cfg := range []struct {
		name  string
		uring bool
		args  []string
	}{
		{"dev-fuse", false, []string{"--io-uring", "off"}},
		{"dev-fuse-passthrough", false, []string{"--io-uring", "off", "--passthrough"}},
		{"io-uring", true, []string{"--io-uring", "on"}},
		{"io-uring-passthrough", true, []string{"--io-uring", "on", "--passthrough"}},
	} {
		b.Run(cfg.name, func(b *testing.B) {
			if cfg.uring {
				benchread.EnableURing(b)
			}
			e := newE2E(b)
			d := e.mount(cfg.args...)
			if want := map[bool]string{true: "io_uring", false: "/dev/fuse"}[cfg.uring]; d.info.Mounts[1].Transport != want {
				b.Skipf("the mount is served over %s, not %s: %s", d.info.Mounts[1].Transport, want, d.stderr)
			}
			e.ok("simfs prog loadall " + seedObjectPath(b) + " bpf/pk && mkdir cgroup/a && " +
				"simfs link create bpf/pk/wait_show bpf/pk/show && simfs pin bpf/pk/show cgroup/a/wait")
			path := e.p("cgroup/a/wait")
			if out := e.ok("cat cgroup/a/wait"); len(out) < 3 {
				b.Fatalf("the view printed %q", out)
			}
			b.ResetTimer()
			st := readFile(b, path, b.N)
			b.StopTimer()
			reportRead(b, st, nativeMed)
		})
	}
}

// readFile runs the reader process on path for n iterations.
func readFile(b *testing.B, path string, n int) benchread.Stats {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], path, strconv.Itoa(n))
	cmd.Env = append(os.Environ(), benchReaderEnv+"=1")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		b.Fatalf("reader: %v: %s", err, stderr.String())
	}
	st, err := benchread.Parse(stdout.String())
	if err != nil {
		b.Fatal(err)
	}
	return st
}

func reportRead(b *testing.B, st benchread.Stats, nativeMed float64) {
	b.ReportMetric(float64(st.Median), "median-ns")
	b.ReportMetric(float64(st.P90), "p90-ns")
	b.ReportMetric(float64(st.P99), "p99-ns")
	b.ReportMetric(float64(st.Median)/nativeMed, "x-native")
}
