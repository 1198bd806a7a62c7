package bpf

import (
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"
	"github.com/simfs/simfs/bpf/btfshow"
	"github.com/simfs/simfs/vmlinux"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// layoutKernel is a Kernel with vmlinux types and no tasks.
type layoutKernel struct{ l *vmlinux.Layout }

func (k layoutKernel) CurrentTask(any) (TaskInfo, bool) { return TaskInfo{}, false }
func (k layoutKernel) Layout() *vmlinux.Layout          { return k.l }

type noLayoutKernel struct{}

func (noLayoutKernel) CurrentTask(any) (TaskInfo, bool) { return TaskInfo{}, false }

// seqBuf is a seq_file of size bytes.
type seqBuf struct {
	buf       []byte
	size      int
	overflows int
}

func (b *seqBuf) Room() int       { return b.size - len(b.buf) }
func (b *seqBuf) Append(p []byte) { b.buf = append(b.buf, p...) }
func (b *seqBuf) SetOverflow() {
	b.overflows++
	for len(b.buf) < b.size {
		b.buf = append(b.buf, 0)
	}
}

// The test program's ctx: seq @0, struct btf_ptr @8 (ptr, type_id,
// flags), the helper's flags @24 and ptr_size @32. It returns what
// bpf_seq_printf_btf returned.
const btfCtxSize = 40

var btfProg = asm.Instructions{
	asm.Mov.Reg(asm.R6, asm.R1),
	asm.LoadMem(asm.R1, asm.R6, 0, asm.DWord),
	asm.Mov.Reg(asm.R2, asm.R6),
	asm.Add.Imm(asm.R2, 8),
	asm.LoadMem(asm.R3, asm.R6, 32, asm.DWord),
	asm.LoadMem(asm.R4, asm.R6, 24, asm.DWord),
	asm.FnSeqPrintfBtf.Call(),
	asm.Return(),
}

type btfFixture struct {
	s      *Subsystem
	prog   *Prog
	layout *vmlinux.Layout
	spec   *btf.Spec
	seq    uint64 // a struct seq_file
}

func newBTFFixture(t *testing.T, k Kernel) btfFixture {
	t.Helper()
	s := New(Config{Kernel: k})
	s.RegisterProgType(&ProgType{Name: "test/seq", CtxSize: btfCtxSize, Helpers: SeqHelpers(), RetMin: 1, RetMax: 0})
	p, log, err := s.LoadProg(ProgSpec{Section: "test/seq", License: "GPL", Insns: btfProg})
	require.NoError(t, err, log)
	l := vmlinux.Default()
	spec, err := l.Spec()
	require.NoError(t, err)
	seq, err := s.Memory().Map(make([]byte, 120), 0)
	require.NoError(t, err)
	return btfFixture{s: s, prog: p, layout: l, spec: spec, seq: seq}
}

func (f btfFixture) typeID(t *testing.T, name string) uint32 {
	t.Helper()
	typ, err := f.spec.AnyTypeByName(name)
	require.NoError(t, err)
	id, err := f.spec.TypeID(typ)
	require.NoError(t, err)
	return uint32(id)
}

func (f btfFixture) run(t *testing.T, seq *seqBuf, seqAddr, obj uint64, typeID uint32, flags, size uint64) int64 {
	t.Helper()
	ctx := make([]byte, btfCtxSize)
	binary.LittleEndian.PutUint64(ctx[0:], seqAddr)
	binary.LittleEndian.PutUint64(ctx[8:], obj)
	binary.LittleEndian.PutUint32(ctx[16:], typeID)
	binary.LittleEndian.PutUint64(ctx[24:], flags)
	binary.LittleEndian.PutUint64(ctx[32:], size)
	ret, err := f.prog.Run(&RunContext{Ctx: ctx, Seq: seq, SeqAddr: f.seq})
	require.NoError(t, err)
	return int64(ret)
}

// kernfsNode maps a struct kernfs_node with id 42, a parent, a name, a
// count of 1, flags 2 and mode 040755.
func (f btfFixture) kernfsNode(t *testing.T) (addr, parent, name uint64) {
	t.Helper()
	st, err := f.layout.Struct("kernfs_node")
	require.NoError(t, err)
	b := st.New()
	name, err = f.s.Memory().Map([]byte("kn\x00"), 0)
	require.NoError(t, err)
	parent, err = f.s.Memory().Map(st.New(), 0)
	require.NoError(t, err)
	for path, v := range map[string]uint64{"id": 42, "parent": parent, "name": name, "count.counter": 1, "flags": 2, "mode": 040755} {
		fd, err := st.Field(path)
		require.NoError(t, err)
		switch fd.Size {
		case 8:
			require.NoError(t, fd.PutU64(b, v))
		case 4:
			require.NoError(t, fd.PutU32(b, uint32(v)))
		case 2:
			require.NoError(t, fd.PutU16(b, uint16(v)))
		}
	}
	addr, err = f.s.Memory().Map(b, 0)
	require.NoError(t, err)
	return addr, parent, name
}

// TestSeqPrintfBtf runs bpf_seq_printf_btf on a struct kernfs_node in
// simulated kernel memory: the output is btf_show's (see package
// btfshow), the type id is the machine's BTF id.
func TestSeqPrintfBtf(t *testing.T) {
	f := newBTFFixture(t, layoutKernel{vmlinux.Default()})
	kn, parent, name := f.kernfsNode(t)
	id := f.typeID(t, "kernfs_node")

	seq := &seqBuf{size: 4096}
	require.Zero(t, f.run(t, seq, f.seq, kn, id, btfshow.FlagCompact|btfshow.FlagPtrRaw, 16))
	want := fmt.Sprintf("(struct kernfs_node){.id = (u64)42,"+
		"(union){.parent = (struct kernfs_node *)0x%016x,.__parent = (struct kernfs_node *)0x%016x,},"+
		".name = (char *)0x%016x,.count = (atomic_t){.counter = (int)1,},"+
		".flags = (short unsigned int)2,.mode = (umode_t)16877,}", parent, parent, name)
	assert.Equal(t, want, string(seq.buf))

	// Without BTF_F_PTR_RAW pointers are hashed as bpf_seq_printf's %p.
	seq = &seqBuf{size: 4096}
	require.Zero(t, f.run(t, seq, f.seq, kn, id, btfshow.FlagCompact|btfshow.FlagNoName, 16))
	assert.Equal(t, fmt.Sprintf("{42,{0x%[1]s,0x%[1]s,},0x%[2]s,{1,},2,16877,}",
		hashPointer(nil, parent), hashPointer(nil, name)), string(seq.buf))
	assert.NotContains(t, string(seq.buf), fmt.Sprintf("%x", parent))

	// Indented, zero values included.
	seq = &seqBuf{size: 4096}
	require.Zero(t, f.run(t, seq, f.seq, parent, id, btfshow.FlagZero|btfshow.FlagPtrRaw, 16))
	assert.Equal(t, "(struct kernfs_node){\n"+
		" .id = (u64)0,\n"+
		" (union){\n"+
		"  .parent = (struct kernfs_node *)0x0000000000000000,\n"+
		"  .__parent = (struct kernfs_node *)0x0000000000000000,\n"+
		" },\n"+
		" .name = (char *)0x0000000000000000,\n"+
		" .priv = ( *)0x0000000000000000,\n"+
		// A forward declaration has no "struct" prefix (btf_show_name).
		" .iattr = (kernfs_iattrs *)0x0000000000000000,\n"+
		" .ns = ( *)0x0000000000000000,\n"+
		" .count = (atomic_t){\n"+
		"  .counter = (int)0,\n"+
		" },\n"+
		" .active = (atomic_t){\n"+
		"  .counter = (int)0,\n"+
		" },\n"+
		" .hash = (unsigned int)0,\n"+
		" .flags = (short unsigned int)0,\n"+
		" .mode = (umode_t)0,\n"+
		"}\n", string(seq.buf))
}

// TestSeqPrintfBtfErrors: bpf_btf_printf_prepare's errors, the show's
// read errors, and a seq file that is not the run's.
func TestSeqPrintfBtfErrors(t *testing.T) {
	f := newBTFFixture(t, layoutKernel{vmlinux.Default()})
	kn, _, _ := f.kernfsNode(t)
	id := f.typeID(t, "kernfs_node")
	neg := func(e unix.Errno) int64 { return -int64(e) }
	for _, tc := range []struct {
		name   string
		seq    uint64
		obj    uint64
		id     uint32
		flags  uint64
		size   uint64
		want   int64
		output bool
	}{
		{"ok", f.seq, kn, id, 0, 16, 0, true},
		{"size is a u32", f.seq, kn, id, 0, 1<<32 | 16, 0, true},
		{"not the run's seq_file", f.seq + 8, kn, id, 0, 16, neg(unix.EINVAL), false},
		{"unknown flag", f.seq, kn, id, 1 << 4, 16, neg(unix.EINVAL), false},
		{"short btf_ptr", f.seq, kn, id, 0, 12, neg(unix.EINVAL), false},
		{"type id 0", f.seq, kn, 0, 0, 16, neg(unix.EINVAL), false},
		{"no such type", f.seq, kn, 1 << 24, 0, 16, neg(unix.ENOENT), false},
		{"NULL object", f.seq, 0, id, 0, 16, neg(unix.ERANGE), false},
		{"unmapped object", f.seq, 0x7fff_0000_0000, id, 0, 16, neg(unix.EFAULT), false},
	} {
		seq := &seqBuf{size: 4096}
		assert.Equal(t, tc.want, f.run(t, seq, tc.seq, tc.obj, tc.id, tc.flags, tc.size), tc.name)
		assert.Equal(t, tc.output, len(seq.buf) > 0, tc.name)
	}

	// A machine without vmlinux BTF.
	g := newBTFFixture(t, noLayoutKernel{})
	assert.Equal(t, neg(unix.EINVAL), g.run(t, &seqBuf{size: 4096}, g.seq, kn, id, 0, 16))
}

// TestSeqPrintfBtfOverflow: output that does not fit overflows the seq
// file as seq_vprintf does, piece by piece, and the helper still returns
// 0 (btf_type_seq_show_flags returns only its read status).
func TestSeqPrintfBtfOverflow(t *testing.T) {
	f := newBTFFixture(t, layoutKernel{vmlinux.Default()})
	kn, _, _ := f.kernfsNode(t)
	id := f.typeID(t, "kernfs_node")
	seq := &seqBuf{size: 40}
	require.Zero(t, f.run(t, seq, f.seq, kn, id, btfshow.FlagPtrRaw, 16))
	assert.Equal(t, 1, seq.overflows)
	// The first pieces fit: "(struct kernfs_node){\n" and " .id = (u64)42,\n".
	assert.Equal(t, "(struct kernfs_node){\n .id = (u64)42,\n\x00\x00", string(seq.buf))
}
