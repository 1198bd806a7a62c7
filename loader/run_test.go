package loader

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/cilium/ebpf/asm"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/simfs/simfs/interp"
)

// iterRun is one call of an iter/cgroup program on simulated kernel memory
// laid out as l says.
type iterRun struct {
	obj    *Object
	prog   *Program
	l      layout
	mem    *interp.AddressSpace
	maps   map[string]uint64
	out    strings.Builder
	loaded *interp.Program
}

func newIterRun(t *testing.T, obj *Object, prog string, l layout, profile interp.Profile) *iterRun {
	t.Helper()
	r := &iterRun{obj: obj, prog: obj.Program(prog), l: l, mem: interp.NewAddressSpace(), maps: map[string]uint64{}}
	require.NotNil(t, r.prog)
	for _, m := range obj.Maps {
		if m.Def != DefData {
			continue
		}
		var flags interp.RegionFlags
		if m.ReadOnlyProg() {
			flags = interp.ReadOnly
		}
		base, err := r.mem.Map(m.Data(), flags)
		require.NoError(t, err)
		r.maps[m.Name] = base
	}
	insns, err := r.prog.Resolve(func(ref MapRef) (uint64, error) {
		base, ok := r.maps[ref.Map]
		if !ok {
			return 0, fmt.Errorf("map %s not simulated here", ref.Map)
		}
		return base + uint64(ref.Offset), nil
	})
	require.NoError(t, err)
	r.loaded, err = interp.Load(insns, interp.Options{
		Profile:        profile,
		AllowedHelpers: func(id int32) bool { return id == int32(asm.FnSeqPrintf) },
	})
	require.NoError(t, err)
	return r
}

func (r *iterRun) mapBytes(t *testing.T, b []byte) uint64 {
	addr, err := r.mem.Map(b, 0)
	require.NoError(t, err)
	return addr
}

// seqPrintf formats the few conversions the example uses.
func (r *iterRun) seqPrintf(c *interp.Call, _, fmtAddr, fmtLen, data, dataLen uint64) (uint64, error) {
	f, err := c.ReadCString(fmtAddr, int(fmtLen))
	if err != nil {
		return 0, err
	}
	var args []any
	if dataLen > 0 {
		raw, err := c.Read(data, int(dataLen))
		if err != nil {
			return 0, err
		}
		for i := 0; i+8 <= len(raw); i += 8 {
			args = append(args, binary.LittleEndian.Uint64(raw[i:]))
		}
	}
	r.out.WriteString(fmt.Sprintf(strings.ReplaceAll(string(f), "llu", "d"), args...))
	return 0, nil
}

// call runs the program once for a cgroup whose kernfs_node id is id (0 =
// the NULL cgroup of the final call), with meta->seq_num = seqNum.
func (r *iterRun) call(t *testing.T, id, seqNum uint64) (uint64, error) {
	l := r.l
	var cgAddr uint64
	if id != 0 {
		kn := make([]byte, 64)
		binary.LittleEndian.PutUint64(kn[l.kernfsID:], id)
		cg := make([]byte, 128)
		binary.LittleEndian.PutUint64(cg[l.cgroupKn:], r.mapBytes(t, kn))
		cgAddr = r.mapBytes(t, cg)
	}
	meta := make([]byte, 32)
	binary.LittleEndian.PutUint64(meta[0:], r.mapBytes(t, make([]byte, 8)))
	binary.LittleEndian.PutUint64(meta[l.seqNum:], seqNum)
	ctx := make([]byte, 16)
	binary.LittleEndian.PutUint64(ctx[0:], r.mapBytes(t, meta))
	binary.LittleEndian.PutUint64(ctx[8:], cgAddr)

	helpers := make([]interp.Helper, asm.FnSeqPrintf+1)
	helpers[asm.FnSeqPrintf] = r.seqPrintf
	res, err := r.loaded.Run(&interp.RunOptions{Mem: r.mem, Ctx: ctx, Helpers: helpers})
	return res.R0, err
}

// TestRunRelocated runs the relocated cgroup_iter selftest program in the
// interpreter on kernel memory laid out two different ways: the output is
// the selftest's, so the CO-RE offsets and global data references are right.
func TestRunRelocated(t *testing.T) {
	other := defaultLayout
	other.cgroupKn, other.kernfsID, other.seqNum = 64, 8, 16
	for name, l := range map[string]layout{"A": defaultLayout, "B": other} {
		t.Run(name, func(t *testing.T) {
			obj := loadObj(t, cgroupIter, l)
			r := newIterRun(t, obj, "cgroup_id_printer", l, interp.Linux)
			for i, id := range []uint64{7, 12, 1234} {
				r0, err := r.call(t, id, uint64(i))
				require.NoError(t, err)
				assert.Equal(t, uint64(0), r0)
			}
			r0, err := r.call(t, 0, 3)
			require.NoError(t, err)
			assert.Equal(t, uint64(0), r0)
			assert.Equal(t, "prologue\n       7\n      12\n    1234\nepilogue\n", r.out.String())

			// The globals, set before load, steer the return value.
			obj = loadObj(t, cgroupIter, l)
			require.NoError(t, obj.SetVariable("terminal_cgroup", le64(12)))
			r = newIterRun(t, obj, "cgroup_id_printer", l, interp.Linux)
			r0, err = r.call(t, 7, 0)
			require.NoError(t, err)
			assert.Equal(t, uint64(0), r0)
			r0, err = r.call(t, 12, 1)
			require.NoError(t, err)
			assert.Equal(t, uint64(1), r0, "terminal_cgroup stops the walk")

			obj = loadObj(t, cgroupIter, l)
			require.NoError(t, obj.SetVariable("terminate_early", le32(1)))
			r = newIterRun(t, obj, "cgroup_id_printer", l, interp.Linux)
			r0, err = r.call(t, 7, 0)
			require.NoError(t, err)
			assert.Equal(t, uint64(1), r0, "terminate_early stops after the first")
		})
	}
}

// A poisoned instruction traps when reached, and the loader's message for
// its slot names the field.
func TestRunPoisoned(t *testing.T) {
	l := defaultLayout
	l.cgroupKn = -1
	obj := loadObj(t, cgroupIter, l)
	// The ISA profile: interp's Linux profile refuses this program at load
	// ("R1 !read_ok"), because the poison call clobbers r1-r5 and the next
	// instruction reads r1, the register the poisoned load wrote. The
	// kernel verifier refuses it too, at the poisoned call itself ("invalid
	// func unknown#195896080"), because it is reachable.
	r := newIterRun(t, obj, "cgroup_id_printer", l, interp.ISA)
	l.cgroupKn = 24 // where the test's fake cgroup keeps its pointer

	r.l = l
	// The epilogue path does not reach the poisoned instructions.
	r0, err := r.call(t, 0, 0)
	require.NoError(t, err)
	assert.Equal(t, uint64(0), r0)
	assert.Equal(t, "epilogue\n", r.out.String())

	_, err = r.call(t, 7, 0)
	require.ErrorIs(t, err, interp.ErrCORERelocation)
	var re *interp.RunError
	require.True(t, errors.As(err, &re))
	msg, ok := r.prog.Poisoned[re.PC]
	require.True(t, ok, "pc %d", re.PC)
	assert.Contains(t, msg, "cgroup.kn")
	assert.Contains(t, msg, "has no field kn")
}
