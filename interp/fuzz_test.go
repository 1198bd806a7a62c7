package interp_test

import (
	"errors"
	"fmt"
	"math/big"
	"testing"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"github.com/simfs/simfs/interp"
)

// fuzzEnv is the world fuzzed programs run in: a ctx, a writable and a
// read-only region, and three helpers that touch memory or exit.
func fuzzEnv(tb testing.TB) (*interp.AddressSpace, []interp.Helper) {
	as := interp.NewAddressSpace()
	if _, err := as.Map(make([]byte, 64), 0); err != nil {
		tb.Fatal(err)
	}
	if _, err := as.Map([]byte("read-only\x00"), interp.ReadOnly); err != nil {
		tb.Fatal(err)
	}
	helpers := []interp.Helper{
		1: func(c *interp.Call, r1, r2, _, _, _ uint64) (uint64, error) {
			b, err := c.Read(r1, int(r2&0xff))
			return uint64(len(b)), err
		},
		2: func(c *interp.Call, r1, r2, _, _, _ uint64) (uint64, error) {
			return 0, c.Write(r1, make([]byte, r2&0xff))
		},
		3: func(c *interp.Call, r1, _, _, _, _ uint64) (uint64, error) {
			return r1, interp.ErrExit
		},
	}
	return as, helpers
}

// checkRun runs prog untraced and traced and requires the same outcome, a
// typed error, and termination within the budget.
func checkRun(t *testing.T, prog *interp.Program, as *interp.AddressSpace, helpers []interp.Helper, r1 uint64) {
	const budget = 5000
	opts := func(trace func(interp.TraceEvent)) *interp.RunOptions {
		return &interp.RunOptions{Mem: as, Ctx: make([]byte, 32), Helpers: helpers, Budget: budget,
			Regs: [5]uint64{0, r1, 3, 4, 5}, Trace: trace}
	}
	res, err := prog.Run(opts(nil))
	if res.Steps > budget {
		t.Fatalf("%d steps beyond a budget of %d", res.Steps, budget)
	}
	if err != nil {
		var re *interp.RunError
		if !errors.As(err, &re) {
			t.Fatalf("run error %T is not a *RunError: %v", err, err)
		}
	}
	n := 0
	res2, err2 := prog.Run(opts(func(interp.TraceEvent) { n++ }))
	if res != res2 || fmt.Sprint(err) != fmt.Sprint(err2) {
		t.Fatalf("traced run differs: %+v %v, untraced %+v %v", res2, err2, res, err)
	}
	if err == nil && n != res.Steps {
		t.Fatalf("traced %d instructions of %d", n, res.Steps)
	}
}

// FuzzLoadRun feeds arbitrary bytes to the decoder, the checks of both
// profiles and the interpreter: no input may panic or run past its budget.
func FuzzLoadRun(f *testing.F) {
	for _, src := range []string{
		"mov %r0, 1\nexit",
		"ldxdw %r0, [%r1+8]\nexit",
		"lddw %r1, 0x1000000000\nstb [%r1+63], 1\nldxb %r0, [%r1+63]\nexit",
		"mov %r1, %r10\nadd %r1, -8\nmov %r2, 8\ncall 1\nexit",
		"call local f\nexit\nf:\nmov %r0, 1\nlock fetch add [%r10-8], %r0\nexit",
		"mov %r0, 0\nja -1\nexit",
		"lddw %r1, 0x1100000000\nmov %r2, 1\ncall 2\nexit",
		"mov %r1, 7\ncall 3\nexit",
		"mov %r2, 3\ncall %r2\nexit",
	} {
		code, err := assembleBytes(src)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(code, uint64(0))
	}
	f.Fuzz(func(t *testing.T, code []byte, r1 uint64) {
		as, helpers := fuzzEnv(t)
		for _, p := range []interp.Profile{interp.ISA, interp.Linux} {
			prog, err := interp.LoadRaw(code, interp.Options{
				Profile:        p,
				AllowedHelpers: func(id int32) bool { return id >= 1 && id <= 3 },
			})
			if err != nil {
				var le *interp.LoadError
				if !errors.As(err, &le) || le.Errno == 0 || le.Log == "" {
					t.Fatalf("load error %T without errno or log: %v", err, err)
				}
				continue
			}
			checkRun(t, prog, as, helpers, r1)
		}
	})
}

// TestALUModel checks every binary ALU operation against a model written
// with math/big from RFC 9669's definitions.
func TestALUModel(t *testing.T) {
	ops := []string{"add", "sub", "mul", "div", "sdiv", "mod", "smod", "or", "and", "xor", "lsh", "rsh", "arsh", "mov"}
	edge := []uint64{0, 1, 2, 3, 7, 31, 32, 33, 63, 64, 65, 0x7fffffff, 0x80000000, 0xffffffff, 1 << 32,
		0x7fffffffffffffff, 0x8000000000000000, 0xffffffffffffffff, 0xfffffffffffffffe, 0xffffffff80000000}
	value := rapid.OneOf(rapid.SampledFrom(edge), rapid.Uint64())
	rapid.Check(t, func(t *rapid.T) {
		op := rapid.SampledFrom(ops).Draw(t, "op")
		wide := rapid.Bool().Draw(t, "alu64")
		a, b := value.Draw(t, "a"), value.Draw(t, "b")
		useImm := rapid.Bool().Draw(t, "imm")
		if useImm {
			b = uint64(int64(int32(b))) // what an imm means once sign-extended
		}
		name := op
		if !wide {
			name += "32"
		}
		src := fmt.Sprintf("lddw %%r0, %#x\nlddw %%r1, %#x\n%s %%r0, %%r1\nexit", a, b, name)
		if useImm {
			src = fmt.Sprintf("lddw %%r0, %#x\n%s %%r0, %d\nexit", a, name, int32(b))
		}
		code, err := assembleBytes(src)
		require.NoError(t, err)
		prog, err := interp.LoadRaw(code, interp.Options{})
		require.NoError(t, err)
		res, err := prog.Run(nil)
		require.NoError(t, err)
		want := aluModel(op, wide, a, b)
		if res.R0 != want {
			t.Fatalf("%s: got %#x, want %#x", src, res.R0, want)
		}
	})
}

// aluModel evaluates dst op src per RFC 9669 with arbitrary-precision
// integers, then truncates.
func aluModel(op string, wide bool, a, b uint64) uint64 {
	bits := uint(64)
	if !wide {
		bits = 32
		a, b = a&0xffffffff, b&0xffffffff
	}
	mod := new(big.Int).Lsh(big.NewInt(1), bits)
	unsigned := func(v uint64) *big.Int { return new(big.Int).SetUint64(v) }
	signed := func(v uint64) *big.Int {
		x := unsigned(v)
		if v>>(bits-1)&1 == 1 {
			x.Sub(x, mod)
		}
		return x
	}
	trunc := func(x *big.Int) uint64 {
		x = new(big.Int).Mod(x, mod) // Euclidean: always non-negative
		return x.Uint64()
	}
	A, B := unsigned(a), unsigned(b)
	shift := uint(b % uint64(bits)) // shift amounts are masked to the width
	switch op {
	case "add":
		return trunc(A.Add(A, B))
	case "sub":
		return trunc(A.Sub(A, B))
	case "mul":
		return trunc(A.Mul(A, B))
	case "div":
		if b == 0 {
			return 0
		}
		return trunc(A.Quo(A, B))
	case "sdiv":
		if b == 0 {
			return 0
		}
		return trunc(new(big.Int).Quo(signed(a), signed(b))) // truncated division
	case "mod":
		if b == 0 {
			return a // ALU32: a is already the zero-extended low half
		}
		return trunc(A.Rem(A, B))
	case "smod":
		if b == 0 {
			return a
		}
		return trunc(new(big.Int).Rem(signed(a), signed(b))) // sign of the dividend
	case "or":
		return trunc(A.Or(A, B))
	case "and":
		return trunc(A.And(A, B))
	case "xor":
		return trunc(A.Xor(A, B))
	case "lsh":
		return trunc(A.Lsh(A, shift))
	case "rsh":
		return trunc(A.Rsh(A, shift))
	case "arsh":
		return trunc(signed(a).Rsh(signed(a), shift)) // big.Int.Rsh floors: arithmetic shift
	case "mov":
		return trunc(B)
	}
	panic("unknown op " + op)
}
