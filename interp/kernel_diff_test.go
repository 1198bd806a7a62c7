package interp_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"golang.org/x/sys/unix"

	"github.com/simfs/simfs/interp"
	"github.com/simfs/simfs/interp/bpfasm"
)

// The differential test runs random verifier-acceptable programs in the
// interpreter and in the running kernel (BPF_PROG_TYPE_SYSCALL through
// BPF_PROG_TEST_RUN) and requires identical registers and stack. Each program
// saves its ctx pointer, sets r0..r9 and 64 bytes of stack to random values,
// runs a random body of ALU, JMP/JMP32 (forward only), stack and atomic
// instructions, then copies r0..r9 and the stack area into the ctx.

const (
	diffCtxSize   = 256
	diffStackLow  = -72 // the body's stack area is [r10-72, r10-8)
	diffStackHigh = -8
)

func envInt(tb testing.TB, name string, def int64) int64 {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	v, err := strconv.ParseInt(s, 0, 64)
	if err != nil {
		tb.Fatalf("%s=%q: %v", name, s, err)
	}
	return v
}

// kernelRunner loads programs into the running kernel, or says why it can't.
func kernelRunner(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root for bpf()")
	}
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Type:         ebpf.Syscall,
		Flags:        unix.BPF_F_SLEEPABLE,
		License:      "GPL",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 0), asm.Return()},
	})
	if err != nil {
		t.Skipf("cannot load a BPF_PROG_TYPE_SYSCALL program: %v", err)
	}
	defer prog.Close()
	ctx := make([]byte, 8)
	if _, err := prog.Run(&ebpf.RunOptions{Context: ctx, ContextOut: ctx}); err != nil {
		t.Skipf("BPF_PROG_TEST_RUN does not work here: %v", err)
	}
}

type progGen struct {
	rng      *rand.Rand
	lines    []string // body items
	withCall bool     // the program has a subprogram F that the body calls
	regs     int      // registers the current code may use: r0..r(regs-1)
}

func (g *progGen) reg() string { return fmt.Sprintf("%%r%d", g.rng.IntN(g.regs)) }

func (g *progGen) imm32() int32 {
	switch g.rng.IntN(8) {
	case 0:
		return 0
	case 1:
		return -1
	case 2:
		return math.MinInt32
	case 3:
		return math.MaxInt32
	case 4, 5:
		return int32(g.rng.IntN(64)) - 32
	}
	return int32(g.rng.Uint32())
}

func (g *progGen) imm64() uint64 {
	switch g.rng.IntN(6) {
	case 0:
		return uint64(int64(g.imm32()))
	case 1:
		return 1 << 63
	case 2:
		return uint64(g.rng.IntN(1 << 16))
	}
	return g.rng.Uint64()
}

// stackOff returns an aligned offset for an access of size bytes inside the
// body's stack area.
func (g *progGen) stackOff(size int) int {
	n := (diffStackHigh - diffStackLow) / size
	return diffStackLow + size*g.rng.IntN(n)
}

var (
	diffALU    = []string{"add", "sub", "mul", "div", "sdiv", "mod", "smod", "or", "and", "xor", "lsh", "rsh", "arsh", "mov"}
	diffConds  = []string{"jeq", "jne", "jgt", "jge", "jlt", "jle", "jset", "jsgt", "jsge", "jslt", "jsle"}
	diffSizes  = []string{"b", "h", "w", "dw"}
	diffAtomic = []string{"add", "or", "and", "xor", "fetch add", "fetch or", "fetch and", "fetch xor", "xchg", "cmpxchg"}
)

// A known divergence keeps 32-bit cmpxchg out of the generated programs:
// RFC 9669 (and the kernel's own interpreter, core.c's
// "BPF_R0 = (u32) atomic_cmpxchg(...)") zero-extend the old value into r0,
// and so does the x86-64 JIT on 6.18 in simple programs, but after this
// sequence (SIMFS_DIFF_SEED=1, program 1430 before the exclusion, minimised)
// the JIT leaves r0's upper half in place, apparently because the
// verifier's zero-extension patch is not inserted on that path:
//
//	r0 = 0x36da3c416198531d; r1 = 0x7e0292a6e9ef375b; r4 = 0x25bb724644ca7806
//	r6 = 0x4f4185fc8db736d0; r7 = 0xe116; r9 = 0x6b1; *(u64 *)(r10-16) = r1
//	if r9 > r7 goto L13          ; never taken (both constants)
//	lock cmpxchg [r10-16], r2    ; fails: r0 = 0x7e0292a6e9ef375b
//	lock cmpxchg32 [r10-16], r6  ; succeeds: r0 should be 0xe9ef375b
//	if w4 s>= 0 goto L19         ; always taken
//	L19: if w0 != 0x7fffffff goto L31
//	... L31: *(u64 *)(r10-80) = r0   ; the kernel stores 0x7e0292a6e9ef375b
//
// The interpreter follows the RFC; 32-bit cmpxchg is covered by TestAtomics
// and the conformance suite.
func atomicOK(op string, size int) bool { return !(op == "cmpxchg" && size == 4) }

// insn emits one random body instruction (or a conditional/ja pair) at
// item index i of n; labels refer to later items.
func (g *progGen) insn(i, n int) {
	label := func() string {
		t := i + 1 + g.rng.IntN(n-i) // a later item, or the end
		return fmt.Sprintf("L%d", t)
	}
	if g.withCall && g.rng.IntN(10) == 0 {
		// A bpf-to-bpf call clobbers r1..r5; the verifier will not let
		// them be read again before they are written.
		g.lines = append(g.lines, "call local F")
		for r := 1; r <= 5; r++ {
			g.lines = append(g.lines, fmt.Sprintf("lddw %%r%d, %#x", r, g.imm64()))
		}
		return
	}
	g.alu(g.rng.IntN(100), label)
}

// alu emits the instruction class that r selects.
func (g *progGen) alu(r int, label func() string) {
	switch {
	case r < 40: // ALU, 32 or 64 bit, imm or reg
		op := diffALU[g.rng.IntN(len(diffALU))]
		width := 64
		name := op
		if g.rng.IntN(2) == 0 {
			width, name = 32, op+"32"
		}
		if g.rng.IntN(2) == 0 {
			g.lines = append(g.lines, fmt.Sprintf("%s %s, %s", name, g.reg(), g.reg()))
			return
		}
		imm := g.imm32()
		switch op {
		case "lsh", "rsh", "arsh":
			imm = int32(g.rng.IntN(width)) // the verifier rejects larger constants
		case "div", "sdiv", "mod", "smod":
			if imm == 0 {
				imm = 3
			}
		}
		g.lines = append(g.lines, fmt.Sprintf("%s %s, %d", name, g.reg(), imm))
	case r < 46: // unary: neg, movsx, byte order
		switch g.rng.IntN(4) {
		case 0:
			g.lines = append(g.lines, fmt.Sprintf("neg%s %s", []string{"", "32"}[g.rng.IntN(2)], g.reg()))
		case 1:
			mn := []string{"movsx864", "movsx1664", "movsx3264", "movsx832", "movsx1632"}[g.rng.IntN(5)]
			g.lines = append(g.lines, fmt.Sprintf("%s %s, %s", mn, g.reg(), g.reg()))
		default:
			mn := []string{"be", "le", "bswap"}[g.rng.IntN(3)]
			g.lines = append(g.lines, fmt.Sprintf("%s%d %s", mn, []int{16, 32, 64}[g.rng.IntN(3)], g.reg()))
		}
	case r < 50:
		g.lines = append(g.lines, fmt.Sprintf("lddw %s, %#x", g.reg(), g.imm64()))
	case r < 70: // conditional jump, forward
		cond := diffConds[g.rng.IntN(len(diffConds))]
		if g.rng.IntN(2) == 0 {
			cond += "32"
		}
		src := g.reg()
		if g.rng.IntN(2) == 0 {
			src = strconv.Itoa(int(g.imm32()))
		}
		g.lines = append(g.lines, fmt.Sprintf("%s %s, %s, %s", cond, g.reg(), src, label()))
	case r < 74: // an unconditional jump that leaves nothing unreachable
		cond := diffConds[g.rng.IntN(len(diffConds))]
		ja := []string{"ja", "ja32"}[g.rng.IntN(2)]
		g.lines = append(g.lines, fmt.Sprintf("%s %s, %d, +1", cond, g.reg(), g.imm32()),
			fmt.Sprintf("%s %s", ja, label()))
	case r < 82: // load
		size := g.rng.IntN(4)
		mn := "ldx" + diffSizes[size]
		if size < 3 && g.rng.IntN(3) == 0 {
			mn = "ldxs" + diffSizes[size]
		}
		g.lines = append(g.lines, fmt.Sprintf("%s %s, [%%r10%d]", mn, g.reg(), g.stackOff(1<<size)))
	case r < 90: // store register
		size := g.rng.IntN(4)
		g.lines = append(g.lines, fmt.Sprintf("stx%s [%%r10%d], %s", diffSizes[size], g.stackOff(1<<size), g.reg()))
	case r < 94: // store immediate
		size := g.rng.IntN(4)
		g.lines = append(g.lines, fmt.Sprintf("st%s [%%r10%d], %d", diffSizes[size], g.stackOff(1<<size), g.imm32()))
	default: // atomic
		op := diffAtomic[g.rng.IntN(len(diffAtomic))]
		size := 8
		if g.rng.IntN(2) == 0 && atomicOK(op, 4) {
			size, op = 4, op+"32"
		}
		g.lines = append(g.lines, fmt.Sprintf("lock %s [%%r10%d], %s", op, g.stackOff(size), g.reg()))
	}
}

// program returns the whole program's text.
func (g *progGen) program(bodyLen int) string {
	g.withCall = g.rng.IntN(3) == 0
	g.regs = 10
	var sb strings.Builder
	sb.WriteString("stxdw [%r10-8], %r1\n")
	for r := 0; r < 10; r++ {
		fmt.Fprintf(&sb, "lddw %%r%d, %#x\n", r, g.imm64())
	}
	for off := diffStackLow; off < diffStackHigh; off += 8 {
		fmt.Fprintf(&sb, "stxdw [%%r10%d], %%r%d\n", off, g.rng.IntN(10))
	}
	g.lines = g.lines[:0]
	starts := []int{}
	for i := 0; i < bodyLen; i++ {
		starts = append(starts, len(g.lines))
		g.insn(i, bodyLen)
	}
	if g.withCall && !slices.Contains(g.lines, "call local F") {
		g.withCall = false // F would be unreachable
	}
	// Labels name body items; Ln for n == bodyLen is the epilogue.
	item := 0
	for j, line := range g.lines {
		for item < len(starts) && starts[item] == j {
			fmt.Fprintf(&sb, "L%d:\n", item)
			item++
		}
		sb.WriteString(line + "\n")
	}
	fmt.Fprintf(&sb, "L%d:\n", bodyLen)
	for r := 0; r < 10; r++ {
		fmt.Fprintf(&sb, "stxdw [%%r10%d], %%r%d\n", -80-8*r, r)
	}
	sb.WriteString("ldxdw %r1, [%r10-8]\n")
	for r := 0; r < 10; r++ {
		fmt.Fprintf(&sb, "ldxdw %%r2, [%%r10%d]\nstxdw [%%r1+%d], %%r2\n", -80-8*r, 8*r)
	}
	for j := 0; j < (diffStackHigh-diffStackLow)/8; j++ {
		fmt.Fprintf(&sb, "ldxdw %%r2, [%%r10%d]\nstxdw [%%r1+%d], %%r2\n", diffStackLow+8*j, 80+8*j)
	}
	sb.WriteString("mov %r0, 0\nexit\n")
	if g.withCall {
		// F sees r1..r5 as arguments, has its own frame, and returns r0.
		g.regs = 6
		g.lines = g.lines[:0]
		for range 1 + g.rng.IntN(8) {
			g.alu(g.rng.IntN(46), nil) // ALU and unary operations only
		}
		sb.WriteString("F:\nmov %r0, %r1\n")
		for _, line := range g.lines {
			sb.WriteString(line + "\n")
		}
		fmt.Fprintf(&sb, "stxdw [%%r10-8], %%r2\nldxdw %%r3, [%%r10-8]\nadd %%r0, %%r3\nexit\n")
	}
	return sb.String()
}

func TestKernelDifferential(t *testing.T) {
	if testing.Short() {
		t.Skip("loads thousands of programs into the kernel")
	}
	kernelRunner(t)
	seed := uint64(envInt(t, "SIMFS_DIFF_SEED", 1))
	count := int(envInt(t, "SIMFS_DIFF_COUNT", 2000))
	g := &progGen{rng: rand.New(rand.NewPCG(seed, 0x5eed))}
	var ran, kernelRejected, mismatches int
	var firstRejects []string
	for n := 0; n < count; n++ {
		src := g.program(8 + g.rng.IntN(40))
		code, err := bpfasm.Assemble(src)
		if err != nil {
			t.Fatalf("program %d does not assemble: %v\n%s", n, err, src)
		}
		insns, err := asm.AppendInstructions(nil, bytes.NewReader(code), binary.LittleEndian, "linux")
		if err != nil {
			t.Fatalf("program %d does not decode: %v", n, err)
		}
		kprog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
			Type: ebpf.Syscall, Flags: unix.BPF_F_SLEEPABLE, License: "GPL", Instructions: insns,
		})
		iprog, ierr := interp.LoadRaw(code, interp.Options{Profile: interp.Linux})
		if err != nil {
			kernelRejected++
			if len(firstRejects) < 3 {
				var ve *ebpf.VerifierError
				msg := err.Error()
				if errors.As(err, &ve) && len(ve.Log) > 0 {
					msg = ve.Log[len(ve.Log)-1]
				}
				firstRejects = append(firstRejects, fmt.Sprintf("program %d: %s (interp: %v)", n, msg, ierr))
			}
			continue
		}
		kctx := make([]byte, diffCtxSize)
		_, err = kprog.Run(&ebpf.RunOptions{Context: kctx, ContextOut: kctx})
		kprog.Close()
		if err != nil {
			t.Fatalf("program %d: kernel test run: %v", n, err)
		}
		if ierr != nil {
			t.Errorf("program %d: the kernel accepts it, the linux profile rejects it: %v\n%s", n, ierr, src)
			mismatches++
			continue
		}
		ictx := make([]byte, diffCtxSize)
		if _, err := iprog.Run(&interp.RunOptions{Ctx: ictx}); err != nil {
			t.Errorf("program %d: interpreter: %v\n%s", n, err, src)
			mismatches++
			continue
		}
		ran++
		if !bytes.Equal(kctx, ictx) {
			mismatches++
			var diffs []string
			for i := 0; i < 18; i++ {
				k, v := binary.LittleEndian.Uint64(kctx[8*i:]), binary.LittleEndian.Uint64(ictx[8*i:])
				if k != v {
					what := fmt.Sprintf("r%d", i)
					if i >= 10 {
						what = fmt.Sprintf("stack[%d]", diffStackLow+8*(i-10))
					}
					diffs = append(diffs, fmt.Sprintf("%s: kernel %#x, interp %#x", what, k, v))
				}
			}
			t.Errorf("program %d (seed %d) differs: %s\n%s", n, seed, strings.Join(diffs, "; "), src)
		}
		if mismatches >= 5 {
			t.Fatalf("stopping after %d mismatches", mismatches)
		}
	}
	t.Logf("seed %d: %d programs generated, %d run in both and compared, %d rejected by the kernel verifier, %d mismatches",
		seed, count, ran, kernelRejected, mismatches)
	for _, r := range firstRejects {
		t.Logf("kernel rejection: %s", r)
	}
}
