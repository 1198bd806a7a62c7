package interp_test

import (
	"errors"
	"fmt"
	"math"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/simfs/simfs/interp"
	"github.com/simfs/simfs/interp/bpfasm"
)

func assemble(t testing.TB, src string) []byte {
	t.Helper()
	code, err := bpfasm.Assemble(src)
	require.NoError(t, err, src)
	return code
}

func load(t testing.TB, profile interp.Profile, src string) *interp.Program {
	t.Helper()
	prog, err := interp.LoadRaw(assemble(t, src), interp.Options{
		Profile:        profile,
		AllowedHelpers: func(id int32) bool { return id >= 1 && id <= 10 },
	})
	require.NoError(t, err, src)
	return prog
}

// run0 loads src under both profiles (when linux accepts it) and returns r0.
func run0(t *testing.T, src string, ctx []byte) uint64 {
	t.Helper()
	prog := load(t, interp.ISA, src)
	res, err := prog.Run(&interp.RunOptions{Ctx: ctx})
	require.NoError(t, err, src)
	return res.R0
}

// TestALU covers every ALU operation and the RFC 9669 edge cases. Each
// program leaves its answer in r0; the expected values are the RFC's rules
// worked by hand.
func TestALU(t *testing.T) {
	const (
		intMin64 = "0x8000000000000000"
		negOne   = "0xffffffffffffffff"
	)
	tests := []struct {
		name string
		src  string
		want uint64
	}{
		{"add64 imm sign-extended", "mov %r0, 1\nadd %r0, -2", math.MaxUint64},
		{"add32 zero-extends", "lddw %r0, 0xffffffff00000001\nadd32 %r0, 1", 2},
		{"add32 wraps", "mov32 %r0, -1\nadd32 %r0, 1", 0},
		{"sub64 reg", "mov %r0, 5\nmov %r1, 7\nsub %r0, %r1", math.MaxUint64 - 1},
		{"sub32 reg", "mov %r0, 5\nmov %r1, 7\nsub32 %r0, %r1", 0xfffffffe},
		{"mul64 overflow", "lddw %r0, 0x100000000\nmul %r0, %r0", 0},
		{"mul32", "mov32 %r0, 0x10000\nmul32 %r0, 0x10001", 0x10000},
		{"mul32 intmin by -1", "mov32 %r0, 0x80000000\nmul32 %r0, -1", 0x80000000},
		{"mul64 intmin by -1", "lddw %r0, " + intMin64 + "\nmul %r0, -1", 1 << 63},
		{"div64 imm is unsigned after sign extension", "mov %r0, -1\ndiv %r0, -1", 1},
		{"div64 reg", "mov %r0, 100\nmov %r1, 7\ndiv %r0, %r1", 14},
		{"div64 by zero reg", "mov %r0, 100\nmov %r1, 0\ndiv %r0, %r1", 0},
		{"div32 by zero reg ignores upper half of src", "mov %r0, 100\nlddw %r1, 0x100000000\ndiv32 %r0, %r1", 0},
		{"div32 uses u32 imm", "mov32 %r0, -1\ndiv32 %r0, -1", 1},
		{"div64 by zero imm (isa)", "mov %r0, 100\ndiv %r0, 0", 0},
		{"div32 by zero imm (isa)", "mov %r0, -1\ndiv32 %r0, 0", 0},
		{"mod64 reg", "mov %r0, 100\nmov %r1, 7\nmod %r0, %r1", 2},
		{"mod64 by zero leaves dst", "mov %r0, -5\nmov %r1, 0\nmod %r0, %r1", uint64(math.MaxUint64 - 4)},
		{"mod32 by zero zeroes upper half", "mov %r0, -5\nmov %r1, 0\nmod32 %r0, %r1", 0xfffffffb},
		{"mod64 by zero imm (isa)", "mov %r0, -5\nmod %r0, 0", uint64(math.MaxUint64 - 4)},
		{"mod32 by zero imm (isa)", "mov %r0, -5\nmod32 %r0, 0", 0xfffffffb},
		{"sdiv64", "mov %r0, -13\nsdiv %r0, 3", uint64(math.MaxUint64 - 3)},
		{"sdiv64 intmin by -1", "lddw %r0, " + intMin64 + "\nmov %r1, -1\nsdiv %r0, %r1", 1 << 63},
		{"sdiv64 by zero", "mov %r0, -13\nmov %r1, 0\nsdiv %r0, %r1", 0},
		{"sdiv32", "mov32 %r0, -13\nsdiv32 %r0, 3", 0xfffffffc},
		{"sdiv32 intmin by -1", "mov32 %r0, 0x80000000\nsdiv32 %r0, -1", 0x80000000},
		{"sdiv32 by zero reg", "mov32 %r0, -13\nmov %r1, 0\nsdiv32 %r0, %r1", 0},
		{"smod64 truncates", "mov %r0, -13\nsmod %r0, 3", math.MaxUint64},
		{"smod64 intmin by -1", "lddw %r0, " + intMin64 + "\nsmod %r0, -1", 0},
		{"smod64 by zero leaves dst", "mov %r0, -13\nmov %r1, 0\nsmod %r0, %r1", uint64(math.MaxUint64 - 12)},
		{"smod32 truncates", "mov32 %r0, -13\nsmod32 %r0, 3", 0xffffffff},
		{"smod32 intmin by -1", "mov32 %r0, 0x80000000\nmov %r1, -1\nsmod32 %r0, %r1", 0},
		{"smod32 by zero zeroes upper half", "mov %r0, -13\nmov %r1, 0\nsmod32 %r0, %r1", 0xfffffff3},
		{"or/and/xor 64", "mov %r0, 0xf0\nor %r0, 0x0f\nand %r0, 0x3c\nxor %r0, 0x11", 0x2d},
		{"or32 zero-extends", "mov %r0, -1\nor32 %r0, 0", 0xffffffff},
		{"and32 reg", "mov %r0, -1\nmov %r1, 0x0ff0\nand32 %r0, %r1", 0x0ff0},
		{"xor32 reg", "mov %r0, -1\nmov %r1, -1\nxor32 %r0, %r1", 0},
		{"lsh64 reg masked", "mov %r0, 1\nmov %r1, 65\nlsh %r0, %r1", 2},
		{"lsh32 reg masked", "mov %r0, 1\nmov %r1, 33\nlsh32 %r0, %r1", 2},
		{"lsh64 imm masked (isa)", "mov %r0, 1\nlsh %r0, 65", 2},
		{"lsh32 imm masked (isa)", "mov %r0, 1\nlsh32 %r0, -1", 0x80000000},
		{"rsh64", "mov %r0, -1\nrsh %r0, 60", 0xf},
		{"rsh32 drops upper half first", "mov %r0, -1\nrsh32 %r0, 28", 0xf},
		{"rsh64 reg masked", "mov %r0, -1\nmov %r1, 124\nrsh %r0, %r1", 0xf},
		{"arsh64", "mov %r0, -16\narsh %r0, 2", uint64(math.MaxUint64 - 3)},
		{"arsh64 reg masked", "mov %r0, -16\nmov %r1, 66\narsh %r0, %r1", uint64(math.MaxUint64 - 3)},
		{"arsh32 sign of bit 31", "lddw %r0, 0x0000000080000000\narsh32 %r0, 4", 0xf8000000},
		{"arsh32 reg masked", "mov32 %r0, 0x80000000\nmov %r1, 36\narsh32 %r0, %r1", 0xf8000000},
		{"neg64", "mov %r0, 5\nneg %r0", uint64(math.MaxUint64 - 4)},
		{"neg32", "mov %r0, 5\nneg32 %r0", 0xfffffffb},
		{"neg32 intmin", "mov32 %r0, 0x80000000\nneg32 %r0", 0x80000000},
		{"neg64 intmin", "lddw %r0, " + intMin64 + "\nneg %r0", 1 << 63},
		{"mov64 imm sign-extends", "mov %r0, -1", math.MaxUint64},
		{"mov32 imm zero-extends", "mov32 %r0, -1", 0xffffffff},
		{"mov32 reg zero-extends", "mov %r1, -1\nmov32 %r0, %r1", 0xffffffff},
		{"movsx864", "mov %r1, 0x180\nmovsx864 %r0, %r1", uint64(math.MaxUint64 - 0x7f)},
		{"movsx1664", "mov %r1, 0x18000\nmovsx1664 %r0, %r1", uint64(math.MaxUint64 - 0x7fff)},
		{"movsx3264", "lddw %r1, 0x180000000\nmovsx3264 %r0, %r1", uint64(math.MaxUint64 - 0x7fffffff)},
		{"movsx832 zeroes upper half", "mov %r1, 0x80\nmovsx832 %r0, %r1", 0xffffff80},
		{"movsx1632", "mov %r1, 0x8001\nmovsx1632 %r0, %r1", 0xffff8001},
		{"movsx864 positive", "mov %r1, 0x17f\nmovsx864 %r0, %r1", 0x7f},
		{"be16", "lddw %r0, 0x1122334455667788\nbe16 %r0", 0x8877},
		{"be32", "lddw %r0, 0x1122334455667788\nbe32 %r0", 0x88776655},
		{"be64", "lddw %r0, 0x1122334455667788\nbe64 %r0", 0x8877665544332211},
		{"le16 truncates", "lddw %r0, 0x1122334455667788\nle16 %r0", 0x7788},
		{"le32 truncates", "lddw %r0, 0x1122334455667788\nle32 %r0", 0x55667788},
		{"le64 is identity", "lddw %r0, 0x1122334455667788\nle64 %r0", 0x1122334455667788},
		{"bswap16", "lddw %r0, 0x1122334455667788\nbswap16 %r0", 0x8877},
		{"bswap32", "lddw %r0, 0x1122334455667788\nbswap32 %r0", 0x88776655},
		{"bswap64", "lddw %r0, 0x1122334455667788\nbswap64 %r0", 0x8877665544332211},
		{"lddw", "lddw %r0, " + negOne, math.MaxUint64},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := run0(t, tt.src+"\nexit", nil)
			assert.Equal(t, fmt.Sprintf("%#x", tt.want), fmt.Sprintf("%#x", got))
		})
	}
}

// TestJumps checks every condition, 64- and 32-bit, register and immediate,
// taken and not taken.
func TestJumps(t *testing.T) {
	type cmp struct {
		name string
		f    func(a, b uint64) bool
	}
	conds := []cmp{
		{"jeq", func(a, b uint64) bool { return a == b }},
		{"jne", func(a, b uint64) bool { return a != b }},
		{"jgt", func(a, b uint64) bool { return a > b }},
		{"jge", func(a, b uint64) bool { return a >= b }},
		{"jlt", func(a, b uint64) bool { return a < b }},
		{"jle", func(a, b uint64) bool { return a <= b }},
		{"jset", func(a, b uint64) bool { return a&b != 0 }},
		{"jsgt", func(a, b uint64) bool { return int64(a) > int64(b) }},
		{"jsge", func(a, b uint64) bool { return int64(a) >= int64(b) }},
		{"jslt", func(a, b uint64) bool { return int64(a) < int64(b) }},
		{"jsle", func(a, b uint64) bool { return int64(a) <= int64(b) }},
	}
	values := []int64{0, 1, -1, 2, -2, math.MaxInt32, math.MinInt32, 0x1_0000_0001, -0x1_0000_0001}
	for _, c := range conds {
		for _, wide := range []bool{true, false} {
			name := c.name
			if !wide {
				name += "32"
			}
			t.Run(name, func(t *testing.T) {
				for _, a := range values {
					for _, b := range values {
						ua, ub := uint64(a), uint64(b)
						want := c.f(ua, ub)
						if !wide {
							// JMP32 compares the low halves: as u32 for the
							// unsigned conditions, s32 for the signed ones.
							sa, sb := uint64(int64(int32(a))), uint64(int64(int32(b)))
							if c.name[1] != 's' || c.name == "jset" {
								sa, sb = uint64(uint32(a)), uint64(uint32(b))
							}
							want = c.f(sa, sb)
						}
						reg := fmt.Sprintf("lddw %%r1, %d\nlddw %%r2, %d\nmov %%r0, 0\n%s %%r1, %%r2, +1\nexit\nmov %%r0, 1\nexit", a, b, name)
						assert.Equal(t, want, run0(t, reg, nil) == 1, "%s %#x, %#x (reg)", name, ua, ub)
						if b >= math.MinInt32 && b <= math.MaxInt32 {
							// The immediate is sign-extended to 64 bits
							// (JMP) or used as its 32-bit pattern (JMP32).
							imm := fmt.Sprintf("lddw %%r1, %d\nmov %%r0, 0\n%s %%r1, %d, +1\nexit\nmov %%r0, 1\nexit", a, name, b)
							assert.Equal(t, want, run0(t, imm, nil) == 1, "%s %#x, %d (imm)", name, ua, b)
						}
					}
				}
			})
		}
	}
	t.Run("ja and ja32", func(t *testing.T) {
		src := "mov %r0, 1\nja +2\nmov %r0, 2\nexit\nja32 +1\nexit\nadd %r0, 10\nja32 -3"
		assert.EqualValues(t, 11, run0(t, src, nil))
	})
}

func TestLoadsAndStores(t *testing.T) {
	ctx := []byte{0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88}
	tests := []struct {
		name string
		src  string
		want uint64
	}{
		{"ldxb", "ldxb %r0, [%r1+7]", 0x88},
		{"ldxh", "ldxh %r0, [%r1+6]", 0x8887},
		{"ldxw", "ldxw %r0, [%r1+4]", 0x88878685},
		{"ldxdw", "ldxdw %r0, [%r1]", 0x8887868584838281},
		{"ldxsb", "ldxsb %r0, [%r1+7]", 0xffffffffffffff88},
		{"ldxsh", "ldxsh %r0, [%r1+6]", 0xffffffffffff8887},
		{"ldxsw", "ldxsw %r0, [%r1+4]", 0xffffffff88878685},
		{"stack ldxsb", "stb [%r10-1], 0x80\nldxsb %r0, [%r10-1]", 0xffffffffffffff80},
		{"stack ldxsh", "sth [%r10-2], 0x8000\nldxsh %r0, [%r10-2]", 0xffffffffffff8000},
		{"stack ldxsw", "stw [%r10-4], -2\nldxsw %r0, [%r10-4]", 0xfffffffffffffffe},
		{"stb", "stb [%r10-8], 0x1ff\nldxdw %r0, [%r10-8]", 0xff},
		{"sth", "sth [%r10-8], 0x1ffff\nldxdw %r0, [%r10-8]", 0xffff},
		{"stw", "stw [%r10-8], -1\nldxdw %r0, [%r10-8]", 0xffffffff},
		{"stdw sign-extends imm", "stdw [%r10-8], -1\nldxdw %r0, [%r10-8]", math.MaxUint64},
		{"stxb", "lddw %r2, 0x1122334455667788\nstdw [%r10-8], 0\nstxb [%r10-8], %r2\nldxdw %r0, [%r10-8]", 0x88},
		{"stxh", "lddw %r2, 0x1122334455667788\nstdw [%r10-8], 0\nstxh [%r10-8], %r2\nldxdw %r0, [%r10-8]", 0x7788},
		{"stxw", "lddw %r2, 0x1122334455667788\nstdw [%r10-8], 0\nstxw [%r10-8], %r2\nldxdw %r0, [%r10-8]", 0x55667788},
		{"stxdw little-endian", "lddw %r2, 0x1122334455667788\nstxdw [%r10-8], %r2\nldxb %r0, [%r10-8]", 0x88},
		{"ctx store visible to later loads", "stw [%r1+0], 7\nldxdw %r0, [%r1]", 0x8887868500000007},
		{"stack through a copied pointer", "mov %r2, %r10\nadd %r2, -16\nstdw [%r2+8], 5\nldxdw %r0, [%r10-8]", 5},
		{"stack is zeroed", "ldxdw %r0, [%r10-512]", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := append([]byte(nil), ctx...)
			got := run0(t, tt.src+"\nexit", c)
			assert.Equal(t, fmt.Sprintf("%#x", tt.want), fmt.Sprintf("%#x", got))
		})
	}
}

func TestAtomics(t *testing.T) {
	tests := []struct {
		name   string
		src    string // operates on [%r10-8], initially 0x00000001_80000010, with %r1 = 0x1_00000003
		r0, r1 uint64
		mem    uint64
	}{
		{"add64", "lock add [%r10-8], %r1", 0, 0x100000003, 0x280000013},
		{"add32 wraps in 32 bits", "lock add32 [%r10-8], %r1", 0, 0x100000003, 0x180000013},
		{"or64", "lock or [%r10-8], %r1", 0, 0x100000003, 0x180000013},
		{"and64", "lock and [%r10-8], %r1", 0, 0x100000003, 0x100000000},
		{"xor64", "lock xor [%r10-8], %r1", 0, 0x100000003, 0x080000013},
		{"xor32", "lock xor32 [%r10-8], %r1", 0, 0x100000003, 0x180000013},
		{"fetch add64", "lock fetch add [%r10-8], %r1", 0, 0x180000010, 0x280000013},
		{"fetch add32 zero-extends", "lock fetch add32 [%r10-8], %r1", 0, 0x80000010, 0x180000013},
		{"fetch or32", "lock fetch or32 [%r10-8], %r1", 0, 0x80000010, 0x180000013},
		{"fetch and", "lock fetch and [%r10-8], %r1", 0, 0x180000010, 0x100000000},
		{"fetch xor", "lock fetch xor [%r10-8], %r1", 0, 0x180000010, 0x080000013},
		{"xchg64", "lock xchg [%r10-8], %r1", 0, 0x180000010, 0x100000003},
		{"xchg32", "lock xchg32 [%r10-8], %r1", 0, 0x80000010, 0x100000003},
		{"cmpxchg64 match", "lddw %r0, 0x180000010\nlock cmpxchg [%r10-8], %r1", 0x180000010, 0x100000003, 0x100000003},
		{"cmpxchg64 mismatch", "mov %r0, 7\nlock cmpxchg [%r10-8], %r1", 0x180000010, 0x100000003, 0x180000010},
		{"cmpxchg32 compares low halves", "lddw %r0, 0xff80000010\nlock cmpxchg32 [%r10-8], %r1", 0x80000010, 0x100000003, 0x100000003},
		{"cmpxchg32 mismatch zero-extends", "lddw %r0, 0xff00000000\nlock cmpxchg32 [%r10-8], %r1", 0x80000010, 0x100000003, 0x180000010},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := "lddw %r2, 0x180000010\nstxdw [%r10-8], %r2\nlddw %r1, 0x100000003\nmov %r0, 0\n" + tt.src + `
				ldxdw %r3, [%r10-8]
				stxdw [%r9+0], %r0
				stxdw [%r9+8], %r1
				stxdw [%r9+16], %r3
				exit`
			out := make([]byte, 24)
			src = "mov %r9, %r1\n" + src
			prog := load(t, interp.Linux, src)
			_, err := prog.Run(&interp.RunOptions{Ctx: out})
			require.NoError(t, err)
			le := func(b []byte) uint64 {
				var v uint64
				for i := 7; i >= 0; i-- {
					v = v<<8 | uint64(b[i])
				}
				return v
			}
			assert.Equal(t, fmt.Sprintf("%#x", tt.r0), fmt.Sprintf("%#x", le(out[0:])), "r0")
			assert.Equal(t, fmt.Sprintf("%#x", tt.r1), fmt.Sprintf("%#x", le(out[8:])), "r1")
			assert.Equal(t, fmt.Sprintf("%#x", tt.mem), fmt.Sprintf("%#x", le(out[16:])), "memory")
		})
	}
}

func TestLocalCalls(t *testing.T) {
	t.Run("frames and callee-saved registers", func(t *testing.T) {
		src := `
			mov %r6, 6
			stdw [%r10-8], 100
			mov %r1, %r10
			add %r1, -8
			call local f
			# r6 is restored, the caller's stack slot was changed through
			# the pointer, and the callee's own [r10-8] is another slot.
			ldxdw %r2, [%r10-8]
			add %r0, %r2
			add %r0, %r6
			exit
		f:
			mov %r6, 1000
			stdw [%r10-8], 50
			ldxdw %r0, [%r1]
			stdw [%r1], 7
			ldxdw %r2, [%r10-8]
			add %r0, %r2
			exit`
		// r0 = 100 + 50 from the callee, + 7 + 6 in the caller
		for _, p := range []interp.Profile{interp.ISA, interp.Linux} {
			res, err := load(t, p, src).Run(nil)
			require.NoError(t, err)
			assert.EqualValues(t, 163, res.R0, p)
		}
	})
	chain := func(n int) string {
		// Each function adds one to its argument and passes it on.
		src := "mov %r1, 0\ncall local f1\nexit\n"
		for i := 1; i < n; i++ {
			src += fmt.Sprintf("f%d:\nadd %%r1, 1\ncall local f%d\nexit\n", i, i+1)
		}
		return src + fmt.Sprintf("f%d:\nmov %%r0, %%r1\nadd %%r0, 1\nexit\n", n)
	}
	t.Run("eight frames", func(t *testing.T) {
		res, err := load(t, interp.Linux, chain(7)).Run(nil)
		require.NoError(t, err)
		assert.EqualValues(t, 7, res.R0)
	})
	t.Run("nine frames fail at run time (isa)", func(t *testing.T) {
		_, err := load(t, interp.ISA, chain(8)).Run(nil)
		require.ErrorIs(t, err, interp.ErrCallDepth)
		assert.ErrorIs(t, err, syscall.E2BIG)
	})
	t.Run("nine frames are rejected at load (linux)", func(t *testing.T) {
		_, err := interp.LoadRaw(assemble(t, chain(8)), interp.Options{Profile: interp.Linux})
		var le *interp.LoadError
		require.ErrorAs(t, err, &le)
		assert.Contains(t, le.Msg, "the call stack of 9 frames is too deep")
		assert.ErrorIs(t, err, syscall.E2BIG)
	})
	t.Run("unbounded recursion stops at the depth limit (isa)", func(t *testing.T) {
		_, err := load(t, interp.ISA, "f:\ncall local f\nexit").Run(nil)
		require.ErrorIs(t, err, interp.ErrCallDepth)
	})
}

func TestHelpers(t *testing.T) {
	sum := func(c *interp.Call, r1, r2, r3, r4, r5 uint64) (uint64, error) {
		return r1 + r2<<8 + r3<<16 + r4<<24 + r5<<32 + c.Value().(uint64), nil
	}
	failing := func(*interp.Call, uint64, uint64, uint64, uint64, uint64) (uint64, error) {
		return 0, syscall.ENOENT
	}
	exit := func(_ *interp.Call, r1, _, _, _, _ uint64) (uint64, error) { return r1 * 2, interp.ErrExit }
	helpers := []interp.Helper{1: sum, 2: failing, 3: exit}
	runH := func(src string) (interp.Result, error) {
		return load(t, interp.ISA, src).Run(&interp.RunOptions{Helpers: helpers, Value: uint64(1 << 40)})
	}
	res, err := runH("mov %r1, 1\nmov %r2, 2\nmov %r3, 3\nmov %r4, 4\nmov %r5, 5\ncall 1\nexit")
	require.NoError(t, err)
	assert.EqualValues(t, 0x10504030201, res.R0)

	_, err = runH("mov %r0, 0\ncall 2\nexit")
	var re *interp.RunError
	require.ErrorAs(t, err, &re)
	assert.ErrorIs(t, err, syscall.ENOENT)
	assert.Equal(t, 1, re.PC)
	assert.Equal(t, "call 2", re.Insn)

	res, err = runH("mov %r1, 21\ncall 3\nmov %r0, 0\nexit")
	require.NoError(t, err, "ErrExit ends the program successfully")
	assert.EqualValues(t, 42, res.R0)
	assert.Equal(t, 2, res.Steps)

	_, err = runH("call 4\nexit")
	assert.ErrorIs(t, err, interp.ErrUnknownHelper, "allowed at load but missing from the table")

	res, err = runH("mov %r1, 0\nmov %r2, 1\ncall %r2\nexit")
	require.NoError(t, err, "callx")
	assert.EqualValues(t, 1<<40|1<<8, res.R0)
	_, err = runH("mov %r2, 99\ncall %r2\nexit")
	assert.ErrorIs(t, err, interp.ErrUnknownHelper, "callx to a helper the program may not call")
	_, err = runH("lddw %r2, 0x100000001\ncall %r2\nexit")
	assert.ErrorIs(t, err, interp.ErrUnknownHelper, "callx with an id beyond 32 bits")
}

func TestCORETrap(t *testing.T) {
	for _, src := range []string{
		"mov %r0, 0\njeq %r1, 0, +1\ncall 0xbad2310\nexit",
		"mov %r0, 0\njeq %r1, 0, +2\nlddw %r10, 0xbad2310\nexit",
	} {
		for _, p := range []interp.Profile{interp.ISA, interp.Linux} {
			prog, err := interp.LoadRaw(assemble(t, src), interp.Options{Profile: p})
			require.NoError(t, err, "a poisoned instruction loads: it may be dead code")
			res, err := prog.Run(&interp.RunOptions{Regs: [5]uint64{0}})
			require.NoError(t, err)
			assert.Zero(t, res.R0)
			_, err = prog.Run(&interp.RunOptions{Regs: [5]uint64{1}})
			require.ErrorIs(t, err, interp.ErrCORERelocation)
			var re *interp.RunError
			require.ErrorAs(t, err, &re)
			assert.Equal(t, 2, re.PC)
		}
	}
}

func TestBudget(t *testing.T) {
	prog := load(t, interp.ISA, "mov %r0, 0\nloop:\nadd %r0, 1\nja loop")
	res, err := prog.Run(&interp.RunOptions{Budget: 101})
	require.ErrorIs(t, err, interp.ErrBudgetExhausted)
	assert.ErrorIs(t, err, syscall.E2BIG)
	assert.Equal(t, 101, res.Steps)
	var re *interp.RunError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, 1, re.PC, "the instruction that would have run next")

	_, err = prog.Run(nil)
	require.ErrorIs(t, err, interp.ErrBudgetExhausted)

	res, err = load(t, interp.ISA, "mov %r0, 1\nexit").Run(&interp.RunOptions{Budget: 2})
	require.NoError(t, err, "a budget of exactly the instructions needed is enough")
	assert.Equal(t, 2, res.Steps)
}

func TestMemoryFaults(t *testing.T) {
	as := interp.NewAddressSpace()
	small, err := as.Map(make([]byte, 16), 0)
	require.NoError(t, err)
	ro, err := as.Map([]byte("read only\x00"), interp.ReadOnly)
	require.NoError(t, err)
	tests := []struct {
		name  string
		src   string
		write bool
	}{
		{"NULL", "mov %r1, 0\nldxb %r0, [%r1]", false},
		{"small integer", "mov %r1, 4096\nldxdw %r0, [%r1+8]", false},
		{"past the end of a region", fmt.Sprintf("lddw %%r1, %#x\nldxdw %%r0, [%%r1+9]", small), false},
		{"offset that would wrap 32 bits", fmt.Sprintf("lddw %%r1, %#x\nldxdw %%r0, [%%r1]", small|0xfffffffc), false},
		{"region base minus one", fmt.Sprintf("lddw %%r1, %#x\nldxb %%r0, [%%r1-1]", small), false},
		{"unmapped region", "lddw %r1, 0x7700000000\nldxb %r0, [%r1]", false},
		{"store to read-only", fmt.Sprintf("lddw %%r1, %#x\nstb [%%r1], 1", ro), true},
		{"atomic on read-only", fmt.Sprintf("lddw %%r1, %#x\nmov %%r2, 1\nlock add32 [%%r1], %%r2", ro), true},
		{"stack below the frames", "mov %r1, %r10\nadd %r1, -4096\nldxb %r0, [%r1-1]", false},
		{"stack above the top", "mov %r1, %r10\nstb [%r1], 1", true},
		{"ctx out of bounds", "ldxw %r0, [%r1+6]", false},
		{"ctx absent", "lddw %r1, 0x200000000\nldxb %r0, [%r1]", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prog := load(t, interp.ISA, tt.src+"\nexit")
			var ctx []byte
			if tt.name == "ctx out of bounds" {
				ctx = make([]byte, 8)
			}
			_, err := prog.Run(&interp.RunOptions{Mem: as, Ctx: ctx})
			var mf *interp.MemoryFault
			require.ErrorAs(t, err, &mf)
			assert.ErrorIs(t, err, syscall.EFAULT)
			assert.Equal(t, tt.write, mf.Write)
			var re *interp.RunError
			require.ErrorAs(t, err, &re)
			assert.NotEqual(t, "?", re.Insn)
		})
	}
	t.Run("in bounds", func(t *testing.T) {
		prog := load(t, interp.ISA, fmt.Sprintf("lddw %%r1, %#x\nstdw [%%r1+8], 42\nldxdw %%r0, [%%r1+8]\nexit", small))
		res, err := prog.Run(&interp.RunOptions{Mem: as})
		require.NoError(t, err)
		assert.EqualValues(t, 42, res.R0)
	})
}

func TestTrace(t *testing.T) {
	prog := load(t, interp.Linux, "mov %r1, 1\nlddw %r2, 5\ncall local f\nexit\nf:\nmov %r0, %r1\nadd %r0, %r2\nexit")
	var events []interp.TraceEvent
	res, err := prog.Run(&interp.RunOptions{Trace: func(ev interp.TraceEvent) { events = append(events, ev) }})
	require.NoError(t, err)
	assert.EqualValues(t, 6, res.R0)
	require.Len(t, events, res.Steps)
	var pcs, depths []int
	for _, ev := range events {
		pcs = append(pcs, ev.PC)
		depths = append(depths, ev.Depth)
	}
	assert.Equal(t, []int{0, 1, 3, 5, 6, 7, 4}, pcs)
	assert.Equal(t, []int{0, 0, 0, 1, 1, 1, 0}, depths)
	assert.Equal(t, "lddw %r2, 0x5", events[1].Insn)
	assert.Equal(t, "add %r0, %r2", events[4].Insn)
	assert.EqualValues(t, 5, events[4].Regs[2], "registers before the instruction")
	assert.EqualValues(t, 1, events[4].Regs[0])
	assert.Equal(t, events[2].Regs[10]-interp.FrameSize, events[3].Regs[10], "the callee's frame")
	assert.Equal(t, events[2].Regs[10], events[6].Regs[10], "back in the caller's frame")

	// Tracing stops at the budget too.
	loop := load(t, interp.ISA, "ja -1\nexit")
	n := 0
	_, err = loop.Run(&interp.RunOptions{Budget: 10, Trace: func(interp.TraceEvent) { n++ }})
	require.ErrorIs(t, err, interp.ErrBudgetExhausted)
	assert.Equal(t, 10, n)

	// A faulting instruction is traced, then reported.
	_, err = load(t, interp.ISA, "mov %r1, 0\nldxb %r0, [%r1]\nexit").Run(&interp.RunOptions{Trace: func(interp.TraceEvent) {}})
	assert.True(t, errors.Is(err, syscall.EFAULT))
}

func assembleBytes(src string) ([]byte, error) { return bpfasm.Assemble(src) }
