package interp_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/simfs/simfs/interp"
)

// BenchmarkVsUBPF measures each shared benchmark program on simfs and on the
// uBPF C interpreter side by side: every sub-benchmark runs the program b.N
// times in simfs (timed, exactly as BenchmarkPrograms does), then has the
// driver binary named by $SIMFS_UBPF_DRIVER run the same bytes, with the same
// input, b.N times, and reports both engines' ns per executed instruction and
// their ratio. It is skipped unless SIMFS_UBPF_DRIVER is set; no uBPF code is
// part of this repository (docs/PERFORMANCE.md describes the driver).
//
// The driver is invoked as
//
//	DRIVER -n RUNS -insns N [-mem FILE] PROGRAM.hex
//
// where FILE holds the raw input buffer (passed as r1, its length as r2, and
// restored before every run), and must print one line containing
// "r0=0x<hex>" and "ns_per_run=<float>", timed inside the driver (process
// start-up is not counted).
func BenchmarkVsUBPF(b *testing.B) {
	driver := os.Getenv("SIMFS_UBPF_DRIVER")
	if driver == "" {
		b.Skip("SIMFS_UBPF_DRIVER is not set (path to a uBPF interpreter driver; see docs/PERFORMANCE.md)")
	}
	programs := loadBench(b)
	tmp := b.TempDir()
	for _, bp := range programs {
		pristine := benchInput(bp.name)
		var memFile string
		if pristine != nil {
			memFile = filepath.Join(tmp, bp.name+".mem")
			if err := os.WriteFile(memFile, pristine, 0o644); err != nil {
				b.Fatal(err)
			}
		}
		hexFile := filepath.Join(benchDir(), bp.name+".hex")
		b.Run(bp.name, func(b *testing.B) {
			prog, err := interp.LoadRaw(bp.code, interp.Options{Profile: interp.Linux})
			if err != nil {
				b.Fatal(err)
			}
			buf := make([]byte, len(pristine))
			res := benchRun(b, prog, bp, pristine, buf)
			if res.R0 != bp.r0 || res.Steps != bp.steps {
				b.Fatalf("simfs: r0 %#x after %d instructions, want %#x after %d", res.R0, res.Steps, bp.r0, bp.steps)
			}
			b.ResetTimer()
			for range b.N {
				res = benchRun(b, prog, bp, pristine, buf)
			}
			b.StopTimer()
			if res.R0 != bp.r0 || res.Steps != bp.steps {
				b.Fatalf("simfs: r0 %#x after %d instructions, want %#x after %d", res.R0, res.Steps, bp.r0, bp.steps)
			}
			simfs := float64(b.Elapsed().Nanoseconds()) / float64(b.N) / float64(bp.steps)

			r0, perRun := runUBPFDriver(b, driver, hexFile, memFile, bp.steps, b.N)
			if r0 != res.R0 {
				b.Fatalf("uBPF: r0 %#x, simfs: r0 %#x (README: %#x)", r0, res.R0, bp.r0)
			}
			ubpf := perRun / float64(bp.steps)
			b.ReportMetric(simfs, "ns/insn")
			b.ReportMetric(ubpf, "ubpf-ns/insn")
			b.ReportMetric(ubpf/simfs, "ubpf/simfs")
		})
	}
}

// runUBPFDriver runs the driver for n runs of one program and returns the r0
// and the nanoseconds per run it reports.
func runUBPFDriver(tb testing.TB, driver, hexFile, memFile string, steps, n int) (r0 uint64, nsPerRun float64) {
	tb.Helper()
	args := []string{"-n", strconv.Itoa(n), "-insns", strconv.Itoa(steps)}
	if memFile != "" {
		args = append(args, "-mem", memFile)
	}
	args = append(args, hexFile)
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(driver, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		tb.Fatalf("%s %s: %v\n%s", driver, strings.Join(args, " "), err, stderr.String())
	}
	var haveR0, haveNs bool
	for _, f := range strings.Fields(stdout.String()) {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			continue
		}
		var err error
		switch k {
		case "r0":
			r0, err = strconv.ParseUint(strings.TrimPrefix(v, "0x"), 16, 64)
			haveR0 = err == nil
		case "ns_per_run":
			nsPerRun, err = strconv.ParseFloat(v, 64)
			haveNs = err == nil
		}
	}
	if !haveR0 || !haveNs {
		tb.Fatalf("%s: unexpected output %q", driver, stdout.String())
	}
	return r0, nsPerRun
}
