package interp_test

import (
	"fmt"
	"sync"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"pgregory.net/rapid"

	"github.com/simfs/simfs/interp"
)

func TestAddressSpace(t *testing.T) {
	as := interp.NewAddressSpace()
	data := []byte("hello\x00world")
	base, err := as.Map(data, 0)
	require.NoError(t, err)
	assert.NotZero(t, base>>32, "region ids are never 0")
	assert.Zero(t, uint32(base), "a base has offset 0")

	got, err := as.Read(base+6, 5)
	require.NoError(t, err)
	assert.Equal(t, "world", string(got))
	got[0] = 'W'
	assert.Equal(t, byte('w'), data[6], "Read copies")

	require.NoError(t, as.Write(base+6, []byte("W")))
	assert.Equal(t, byte('W'), data[6], "the region aliases the caller's slice")

	s, err := as.ReadCString(base, 64)
	require.NoError(t, err)
	assert.Equal(t, "hello", string(s))
	_, err = as.ReadCString(base+6, 64)
	assert.ErrorIs(t, err, syscall.EFAULT, "no NUL before the end of the region")
	_, err = as.ReadCString(base, 3)
	assert.ErrorIs(t, err, syscall.E2BIG, "no NUL within max")

	for _, c := range []struct {
		addr uint64
		n    int
	}{
		{base + 11, 1}, {base + 6, 6}, {base - 1, 1}, {base + 0xffffffff, 2}, {0, 1}, {base, -1},
	} {
		_, err := as.Read(c.addr, c.n)
		assert.ErrorIs(t, err, syscall.EFAULT, "%#x+%d", c.addr, c.n)
	}

	ro, err := as.Map([]byte("const"), interp.ReadOnly)
	require.NoError(t, err)
	assert.ErrorIs(t, as.Write(ro, []byte("x")), syscall.EFAULT)
	_, err = as.Read(ro, 5)
	assert.NoError(t, err)

	assert.Equal(t, 2, as.Len())
	require.NoError(t, as.Unmap(base))
	assert.ErrorIs(t, as.Unmap(base), syscall.EINVAL, "twice")
	assert.ErrorIs(t, as.Unmap(ro+1), syscall.EINVAL, "not a base")
	assert.ErrorIs(t, as.Unmap(interp.StackAddr), syscall.EINVAL, "per-run region")
	_, err = as.Read(base, 1)
	assert.ErrorIs(t, err, syscall.EFAULT, "unmapped")
	assert.Equal(t, 1, as.Len())

	_, err = as.Map(nil, 0x80)
	assert.ErrorIs(t, err, syscall.EINVAL, "unknown flag")
	empty, err := as.Map(nil, 0)
	require.NoError(t, err, "an empty region is allowed")
	_, err = as.Read(empty, 1)
	assert.ErrorIs(t, err, syscall.EFAULT)
}

// TestAddressSpaceChurn maps and unmaps many regions, as hash-map elements
// do, and checks that freed ids are reused oldest first.
func TestAddressSpaceChurn(t *testing.T) {
	as := interp.NewAddressSpace()
	const n = 100_000
	bases := make([]uint64, n)
	for i := range bases {
		b, err := as.Map(make([]byte, 8), 0)
		require.NoError(t, err)
		bases[i] = b
	}
	assert.Equal(t, n, as.Len())
	for i := 0; i < n; i += 2 {
		require.NoError(t, as.Unmap(bases[i]))
	}
	for i := 1; i < n; i += 2 {
		require.NoError(t, as.Write(bases[i], []byte{byte(i)}))
	}
	// New regions get the oldest freed ids first.
	for i := 0; i < 10; i++ {
		b, err := as.Map(make([]byte, 1), 0)
		require.NoError(t, err)
		assert.Equal(t, bases[2*i], b)
	}
	assert.Equal(t, n/2+10, as.Len())
}

// TestAddressSpaceModel compares the address space with a map-based model
// over random operation sequences.
func TestAddressSpaceModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		as := interp.NewAddressSpace()
		model := map[uint64][]byte{}
		ro := map[uint64]bool{}
		var order []uint64
		t.Repeat(map[string]func(*rapid.T){
			"map": func(t *rapid.T) {
				data := rapid.SliceOfN(rapid.Byte(), 0, 32).Draw(t, "data")
				readonly := rapid.Bool().Draw(t, "ro")
				flags := interp.RegionFlags(0)
				if readonly {
					flags = interp.ReadOnly
				}
				base, err := as.Map(data, flags)
				require.NoError(t, err)
				_, dup := model[base]
				require.False(t, dup, "base %#x handed out twice", base)
				model[base], ro[base] = data, readonly
				order = append(order, base)
			},
			"unmap": func(t *rapid.T) {
				if len(order) == 0 {
					t.Skip()
				}
				i := rapid.IntRange(0, len(order)-1).Draw(t, "i")
				base := order[i]
				order = append(order[:i], order[i+1:]...)
				require.NoError(t, as.Unmap(base))
				delete(model, base)
			},
			"access": func(t *rapid.T) {
				if len(order) == 0 {
					t.Skip()
				}
				base := order[rapid.IntRange(0, len(order)-1).Draw(t, "i")]
				off := rapid.IntRange(-2, 40).Draw(t, "off")
				n := rapid.IntRange(0, 9).Draw(t, "n")
				addr := base + uint64(int64(off))
				data := model[base]
				inBounds := off >= 0 && off+n <= len(data)
				if rapid.Bool().Draw(t, "write") {
					b := rapid.SliceOfN(rapid.Byte(), n, n).Draw(t, "b")
					err := as.Write(addr, b)
					if inBounds && !ro[base] {
						require.NoError(t, err)
						require.Equal(t, b, data[off:off+n])
					} else {
						require.ErrorIs(t, err, syscall.EFAULT)
					}
					return
				}
				got, err := as.Read(addr, n)
				if inBounds {
					require.NoError(t, err)
					require.Equal(t, data[off:off+n], got)
				} else {
					require.ErrorIs(t, err, syscall.EFAULT)
				}
			},
		})
		require.Equal(t, len(model), as.Len())
	})
}

// TestConcurrentRuns runs one program from many goroutines, each with its
// own ctx, while other goroutines map and unmap regions and use atomics on
// a shared counter.
func TestConcurrentRuns(t *testing.T) {
	defer goleak.VerifyNone(t)
	as := interp.NewAddressSpace()
	counter := make([]byte, 8)
	cbase, err := as.Map(counter, 0)
	require.NoError(t, err)
	// r0 = ctx[0] + ctx[1] + (stack round trip), and counter += 1 atomically.
	prog := load(t, interp.Linux, fmt.Sprintf(`
		ldxdw %%r2, [%%r1]
		ldxdw %%r3, [%%r1+8]
		stxdw [%%r10-8], %%r2
		ldxdw %%r0, [%%r10-8]
		add %%r0, %%r3
		stxdw [%%r1+16], %%r0
		lddw %%r4, %#x
		mov %%r5, 1
		lock add [%%r4], %%r5
		exit`, cbase))
	const workers, iters = 8, 500
	var wg sync.WaitGroup
	errs := make(chan error, workers+1)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx := make([]byte, 24)
			for i := range iters {
				a, b := uint64(w*1_000_000+i), uint64(i*7)
				putU64(ctx[0:], a)
				putU64(ctx[8:], b)
				res, err := prog.Run(&interp.RunOptions{Mem: as, Ctx: ctx})
				if err != nil {
					errs <- err
					return
				}
				if res.R0 != a+b || getU64(ctx[16:]) != a+b {
					errs <- fmt.Errorf("worker %d: r0 %d, want %d", w, res.R0, a+b)
					return
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for range 2000 {
			b, err := as.Map(make([]byte, 64), 0)
			if err != nil {
				errs <- err
				return
			}
			if err := as.Unmap(b); err != nil {
				errs <- err
				return
			}
		}
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// The counter is only touched by atomic instructions, which hold the
	// region's lock, so reading it after the runs is race-free.
	assert.EqualValues(t, workers*iters, getU64(counter))
}

func putU64(b []byte, v uint64) {
	for i := range 8 {
		b[i] = byte(v >> (8 * i))
	}
}

func getU64(b []byte) uint64 {
	var v uint64
	for i := 7; i >= 0; i-- {
		v = v<<8 | uint64(b[i])
	}
	return v
}

func TestCallMemoryAccess(t *testing.T) {
	as := interp.NewAddressSpace()
	ro, err := as.Map([]byte("fmt %d\x00"), interp.ReadOnly)
	require.NoError(t, err)
	var got []string
	helper := func(c *interp.Call, r1, r2, r3, _, _ uint64) (uint64, error) {
		s, err := c.ReadCString(r1, 16) // a string in a read-only region
		if err != nil {
			return 0, err
		}
		stack, err := c.Read(r2, 8) // the program's stack
		if err != nil {
			return 0, err
		}
		if err := c.Write(r2, []byte{9}); err != nil {
			return 0, err
		}
		if err := c.Write(r1, []byte{0}); err == nil {
			return 0, fmt.Errorf("wrote a read-only region")
		}
		ctx, err := c.Slice(r3, 4, true) // the ctx, aliased
		if err != nil {
			return 0, err
		}
		ctx[0] = 0xaa
		_, err = c.Read(r3, 5)
		got = append(got, string(s), fmt.Sprint(stack[0]), fmt.Sprint(err != nil), fmt.Sprint(c.PC()), fmt.Sprint(c.Mem() == as))
		return 0, nil
	}
	prog := load(t, interp.Linux, fmt.Sprintf(`
		mov %%r3, %%r1
		stdw [%%r10-8], 3
		lddw %%r1, %#x
		mov %%r2, %%r10
		add %%r2, -8
		call 1
		ldxdw %%r0, [%%r10-8]
		exit`, ro))
	ctx := make([]byte, 4)
	res, err := prog.Run(&interp.RunOptions{Mem: as, Ctx: ctx, Helpers: []interp.Helper{1: helper}})
	require.NoError(t, err)
	assert.EqualValues(t, 9, res.R0)
	assert.Equal(t, byte(0xaa), ctx[0])
	assert.Equal(t, []string{"fmt %d", "3", "true", "6", "true"}, got)
}
