package bpf

import (
	"encoding/binary"
	"testing"

	"github.com/cilium/ebpf/asm"
	"github.com/simfs/simfs/events"
	"github.com/simfs/simfs/interp/bpfasm"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

func newSys(t *testing.T) (*Subsystem, *events.Recorder) {
	bus := events.NewBus(nil)
	rec := bus.Record()
	return New(Config{Bus: bus}), rec
}

func TestMapErrnos(t *testing.T) {
	s, _ := newSys(t)
	_, err := s.CreateMap(MapSpec{Type: MapArray, KeySize: 8, ValueSize: 8, MaxEntries: 1})
	require.ErrorIs(t, err, unix.EINVAL, "array key size must be 4")
	_, err = s.CreateMap(MapSpec{Type: MapHash, KeySize: 8, ValueSize: 8})
	require.ErrorIs(t, err, unix.EINVAL, "max_entries 0")
	_, err = s.CreateMap(MapSpec{Type: 99, KeySize: 4, ValueSize: 4, MaxEntries: 1})
	require.ErrorIs(t, err, unix.EINVAL)

	h, err := s.CreateMap(MapSpec{Type: MapHash, KeySize: 8, ValueSize: 8, MaxEntries: 2})
	require.NoError(t, err)
	k := func(v uint64) []byte { return binary.LittleEndian.AppendUint64(nil, v) }
	_, err = h.Lookup(k(1))
	require.ErrorIs(t, err, unix.ENOENT)
	require.ErrorIs(t, h.Update(k(1), k(10), UpdateExist), unix.ENOENT)
	require.NoError(t, h.Update(k(1), k(10), UpdateNoExist))
	require.ErrorIs(t, h.Update(k(1), k(11), UpdateNoExist), unix.EEXIST)
	require.NoError(t, h.Update(k(2), k(20), UpdateAny))
	require.ErrorIs(t, h.Update(k(3), k(30), UpdateAny), unix.E2BIG)
	require.ErrorIs(t, h.Update(k(1), k(1), 7), unix.EINVAL)
	require.ErrorIs(t, h.Update(k(1), []byte{1}, UpdateAny), unix.EINVAL)
	nk, err := h.NextKey(nil)
	require.NoError(t, err)
	require.Equal(t, k(1), nk)
	nk, err = h.NextKey(k(1))
	require.NoError(t, err)
	require.Equal(t, k(2), nk)
	_, err = h.NextKey(k(2))
	require.ErrorIs(t, err, unix.ENOENT)
	require.NoError(t, h.Delete(k(1)))
	require.ErrorIs(t, h.Delete(k(1)), unix.ENOENT)

	a, err := s.CreateMap(MapSpec{Type: MapArray, KeySize: 4, ValueSize: 4, MaxEntries: 2})
	require.NoError(t, err)
	require.ErrorIs(t, a.Update(put32(2), []byte{1, 2, 3, 4}, UpdateAny), unix.E2BIG)
	require.ErrorIs(t, a.Update(put32(1), []byte{1, 2, 3, 4}, UpdateNoExist), unix.EEXIST)
	require.ErrorIs(t, a.Delete(put32(0)), unix.EINVAL)
	v, err := a.Lookup(put32(1))
	require.NoError(t, err)
	require.Equal(t, []byte{0, 0, 0, 0}, v)
	require.NoError(t, a.Freeze())
	require.ErrorIs(t, a.Update(put32(1), []byte{1, 2, 3, 4}, UpdateAny), unix.EPERM)
	require.ErrorIs(t, a.Freeze(), unix.EBUSY)

	pc, err := s.CreateMap(MapSpec{Type: MapPercpuArray, KeySize: 4, ValueSize: 4, MaxEntries: 1})
	require.NoError(t, err)
	require.Equal(t, 8, pc.SyscallValueSize())
}

// A syscall program that counts its runs in an array map: exercises map
// resolution, the lookup helper, in-place value updates and references.
func TestProgMapAndLifetime(t *testing.T) {
	s, rec := newSys(t)
	m, err := s.CreateMap(MapSpec{Type: MapArray, KeySize: 4, ValueSize: 8, MaxEntries: 1, Name: "counter"})
	require.NoError(t, err)

	insns := asm.Instructions{
		asm.StoreImm(asm.RFP, -4, 0, asm.Word),
		asm.LoadMapPtr(asm.R1, 0).WithReference("counter"),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, -4),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, "out"),
		asm.LoadMem(asm.R1, asm.R0, 0, asm.DWord),
		asm.Add.Imm(asm.R1, 1),
		asm.StoreMem(asm.R0, 0, asm.R1, asm.DWord),
		asm.Mov.Reg(asm.R0, asm.R1),
		asm.Return(),
		asm.Mov.Imm(asm.R0, 0).WithSymbol("out"),
		asm.Return(),
	}
	p, _, err := s.LoadProg(ProgSpec{Section: "syscall", Name: "count", License: "GPL", Insns: insns,
		ResolveMap: func(int, asm.Instruction) (*Map, error) { return m, nil }})
	require.NoError(t, err)
	require.Equal(t, int64(2), m.Refs(), "the program holds the map")
	for want := uint64(1); want <= 3; want++ {
		ret, _, _, err := p.TestRun(nil, 1)
		require.NoError(t, err)
		require.Equal(t, want, ret)
	}
	v, err := m.Lookup(put32(0))
	require.NoError(t, err)
	require.Equal(t, uint64(3), binary.LittleEndian.Uint64(v))

	m.Put()
	require.False(t, m.Freed(), "still used by the program")
	p.Put()
	require.True(t, p.Freed())
	require.True(t, m.Freed())
	_, err = s.MapByID(m.ID())
	require.ErrorIs(t, err, unix.ENOENT)
	kinds := rec.Kinds()
	require.Equal(t, []events.Kind{events.MapCreated, events.ProgLoaded, events.ObjectFreed, events.ObjectFreed}, kinds)
}

func TestLoadRejects(t *testing.T) {
	s, _ := newSys(t)
	_, _, err := s.LoadProg(ProgSpec{Section: "nosuch/type", Raw: mustAsm(t, "mov %r0, 0\nexit")})
	require.ErrorIs(t, err, unix.EINVAL)
	_, log, err := s.LoadProg(ProgSpec{Section: "syscall", Raw: mustAsm(t, "exit")})
	require.Error(t, err, "r0 is never set")
	require.NotEmpty(t, log)
	// A GPL-only helper from a non-GPL program.
	_, _, err = s.LoadProg(ProgSpec{Section: "syscall", License: "Proprietary", Raw: mustAsm(t, "call 6\nmov %r0, 0\nexit")})
	require.ErrorIs(t, err, unix.EINVAL)
}

func mustAsm(t *testing.T, src string) []byte {
	b, err := bpfasm.Assemble(src)
	require.NoError(t, err)
	return b
}

func TestTracepointLink(t *testing.T) {
	s, _ := newSys(t)
	tp := s.RegisterTracepoint("sched_stat_wait", "struct task_struct *p", "u64 delta")
	m, err := s.CreateMap(MapSpec{Type: MapArray, KeySize: 4, ValueSize: 8, MaxEntries: 1, Name: "last"})
	require.NoError(t, err)
	// Store ctx[1] (delta) into the map.
	insns := asm.Instructions{
		asm.LoadMem(asm.R6, asm.R1, 8, asm.DWord),
		asm.StoreImm(asm.RFP, -4, 0, asm.Word),
		asm.LoadMapPtr(asm.R1, 0),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, -4),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, "out"),
		asm.StoreMem(asm.R0, 0, asm.R6, asm.DWord),
		asm.Mov.Imm(asm.R0, 0).WithSymbol("out"),
		asm.Return(),
	}
	_, _, err = s.LoadProg(ProgSpec{Section: "tp_btf/nosuch", License: "GPL", Insns: insns})
	require.ErrorIs(t, err, unix.EINVAL)
	p, _, err := s.LoadProg(ProgSpec{Section: "tp_btf/sched_stat_wait", License: "GPL", Insns: insns,
		ResolveMap: func(int, asm.Instruction) (*Map, error) { return m, nil }})
	require.NoError(t, err)
	require.NoError(t, tp.Fire(nil, 0, 1234), "nothing attached yet")
	l, err := s.CreateLink(p, LinkAttr{})
	require.NoError(t, err)
	require.Equal(t, 1, tp.Attached())
	require.NoError(t, tp.Fire(nil, 0, 1234))
	v, err := m.Lookup(put32(0))
	require.NoError(t, err)
	require.Equal(t, uint64(1234), binary.LittleEndian.Uint64(v))
	p.Put()
	require.False(t, p.Freed(), "the link holds the program")
	l.Put()
	require.True(t, p.Freed())
	require.Equal(t, 0, tp.Attached())
}

// A CO-RE-poisoned read loads (the flow analysis does not count the trap
// as clobbering registers) and traps naming the relocation when reached.
func TestPoisonedInstructionNamesField(t *testing.T) {
	s, _ := newSys(t)
	insns := asm.Instructions{
		asm.Mov.Imm(asm.R0, 0),
		asm.JEq.Imm(asm.R1, 0, "skip"),
		asm.BuiltinFunc(0xbad2310).Call(), // what btf.COREFixup.Apply writes
		asm.LoadMem(asm.R0, asm.R1, 0, asm.DWord),
		asm.Return().WithSymbol("skip"),
	}
	p, log, err := s.LoadProg(ProgSpec{Section: "syscall", License: "GPL", Insns: insns,
		Poisoned: map[int]string{2: "CO-RE byte_off relocation of cgroup.kn: the target's struct cgroup has no field kn"}})
	require.NoError(t, err, log)
	_, err = p.Run(&RunContext{Ctx: make([]byte, 8)})
	require.ErrorContains(t, err, "has no field kn")
	require.ErrorIs(t, err, unix.EINVAL)
}
