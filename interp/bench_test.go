package interp_test

import (
	"bufio"
	"encoding/hex"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/simfs/simfs/interp"
)

// benchDir is $SIMFS_BENCH_DIR, or shared/bench beside the repository
// (../shared/bench from the repository root).
func benchDir() string {
	if d := os.Getenv("SIMFS_BENCH_DIR"); d != "" {
		return d
	}
	return filepath.Join("..", "..", "shared", "bench")
}

type benchProgram struct {
	name  string
	code  []byte
	steps int    // executed instructions, from the README's table
	r0    uint64 // r0 at exit, from the README's table
}

var benchRow = regexp.MustCompile("^\\|\\s*`([a-z0-9_]+)`\\s*\\|[^|]*\\|\\s*([0-9,]+)\\s*\\|\\s*`(0x[0-9a-fA-F]+)`\\s*\\|")

// loadBench reads the programs and their expected outcomes (the table in
// the directory's README.md).
func loadBench(tb testing.TB) []benchProgram {
	dir := benchDir()
	f, err := os.Open(filepath.Join(dir, "README.md"))
	if err != nil {
		tb.Skipf("no benchmark programs: %v", err)
	}
	defer f.Close()
	var out []benchProgram
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		m := benchRow.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		steps, err := strconv.Atoi(strings.ReplaceAll(m[2], ",", ""))
		if err != nil {
			tb.Fatal(err)
		}
		r0, err := strconv.ParseUint(m[3][2:], 16, 64)
		if err != nil {
			tb.Fatal(err)
		}
		text, err := os.ReadFile(filepath.Join(dir, m[1]+".hex"))
		if err != nil {
			tb.Fatal(err)
		}
		code, err := hex.DecodeString(strings.Join(strings.Fields(string(text)), ""))
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, benchProgram{name: m[1], code: code, steps: steps, r0: r0})
	}
	if len(out) == 0 {
		tb.Skipf("no programs listed in %s/README.md", dir)
	}
	return out
}

// benchInput is the README's input: mem_checksum_4k gets a 4096-byte buffer
// with buf[i] = (i*7 + 3) & 0xff in r1 and 4096 in r2; the others none.
func benchInput(name string) []byte {
	if !strings.HasPrefix(name, "mem_checksum_4k") {
		return nil
	}
	buf := make([]byte, 4096)
	for i := range buf {
		buf[i] = byte(i*7 + 3)
	}
	return buf
}

func benchRun(tb testing.TB, prog *interp.Program, bp benchProgram, pristine, buf []byte) interp.Result {
	opts := &interp.RunOptions{Budget: bp.steps + 1}
	if pristine != nil {
		copy(buf, pristine) // the program rewrites its buffer
		opts.Ctx = buf
		opts.Regs[1] = uint64(len(buf))
	}
	res, err := prog.Run(opts)
	if err != nil {
		tb.Fatal(err)
	}
	return res
}

// BenchmarkPrograms runs the shared benchmark programs (the bytes uBPF is
// measured on) and reports ns per executed instruction.
func BenchmarkPrograms(b *testing.B) {
	for _, bp := range loadBench(b) {
		b.Run(bp.name, func(b *testing.B) {
			prog, err := interp.LoadRaw(bp.code, interp.Options{Profile: interp.Linux})
			if err != nil {
				b.Fatal(err)
			}
			pristine := benchInput(bp.name)
			buf := make([]byte, len(pristine))
			res := benchRun(b, prog, bp, pristine, buf)
			if res.R0 != bp.r0 || res.Steps != bp.steps {
				b.Fatalf("r0 %#x after %d instructions, want %#x after %d", res.R0, res.Steps, bp.r0, bp.steps)
			}
			b.ResetTimer()
			for range b.N {
				res = benchRun(b, prog, bp, pristine, buf)
			}
			b.StopTimer()
			if res.R0 != bp.r0 || res.Steps != bp.steps {
				b.Fatalf("r0 %#x after %d instructions, want %#x after %d", res.R0, res.Steps, bp.r0, bp.steps)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(bp.steps), "ns/insn")
		})
	}
}

// TestBenchPrograms checks the benchmark programs' results outside
// benchmark runs, so a broken interpreter fails `go test`.
func TestBenchPrograms(t *testing.T) {
	for _, bp := range loadBench(t) {
		t.Run(bp.name, func(t *testing.T) {
			prog, err := interp.LoadRaw(bp.code, interp.Options{Profile: interp.Linux})
			if err != nil {
				t.Fatal(err)
			}
			pristine := benchInput(bp.name)
			res := benchRun(t, prog, bp, pristine, make([]byte, len(pristine)))
			if res.R0 != bp.r0 || res.Steps != bp.steps {
				t.Fatalf("r0 %#x after %d instructions, want %#x after %d", res.R0, res.Steps, bp.r0, bp.steps)
			}
		})
	}
}
