package btfshow_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/cilium/ebpf/btf"
	"github.com/simfs/simfs/bpf/btfshow"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// mem is one readable region at base; everything else faults.
type mem struct {
	base uint64
	data []byte
}

func (m mem) Read(addr uint64, n int) ([]byte, error) {
	if n < 0 || addr < m.base || addr-m.base > uint64(len(m.data)) || uint64(n) > uint64(len(m.data))-(addr-m.base) {
		return nil, unix.EFAULT
	}
	off := addr - m.base
	return bytes.Clone(m.data[off : off+uint64(n)]), nil
}

const base = 0x10_0000_0000

// The test types, shaped like the ones the kernel's snprintf_btf selftest
// (tools/testing/selftests/bpf/progs/netif_receive_skb.c) prints.
var (
	intT   = &btf.Int{Name: "int", Size: 4, Encoding: btf.Signed}
	uintT  = &btf.Int{Name: "unsigned int", Size: 4}
	charT  = &btf.Int{Name: "char", Size: 1, Encoding: btf.Signed}
	ucharT = &btf.Int{Name: "unsigned char", Size: 1}
	shortT = &btf.Int{Name: "short", Size: 2, Encoding: btf.Signed}
	ullT   = &btf.Int{Name: "unsigned long long", Size: 8}
	i128T  = &btf.Int{Name: "__int128 unsigned", Size: 16}
	u64T   = &btf.Typedef{Name: "u64", Type: ullT}
	u32T   = &btf.Typedef{Name: "__u32", Type: uintT}
	s32T   = &btf.Typedef{Name: "__s32", Type: intT}
	u8T    = &btf.Typedef{Name: "__u8", Type: ucharT}
	s16T   = &btf.Typedef{Name: "__s16", Type: shortT}
	idxT   = &btf.Int{Name: "__ARRAY_SIZE_TYPE__", Size: 4}

	atomicT = &btf.Typedef{Name: "atomic_t", Type: &btf.Struct{Size: 4, Members: []btf.Member{
		{Name: "counter", Type: intT},
	}}}
	cmdT = &btf.Enum{Name: "bpf_cmd", Size: 4, Values: []btf.EnumValue{
		{Name: "BPF_MAP_CREATE", Value: 0}, {Name: "BPF_MAP_LOOKUP_ELEM", Value: 1},
	}}
	sEnumT = &btf.Enum{Name: "level", Size: 4, Signed: true, Values: []btf.EnumValue{
		{Name: "LOW", Value: 0}, {Name: "MINUS", Value: uint64(0xffffffffffffffff)},
	}}
	e64T = &btf.Enum{Name: "big", Size: 8, Values: []btf.EnumValue{
		{Name: "HUGE", Value: 1 << 40},
	}}
	btfEnumT = &btf.Struct{Name: "btf_enum", Size: 8, Members: []btf.Member{
		{Name: "name_off", Type: u32T, Offset: 0},
		{Name: "val", Type: s32T, Offset: 32},
	}}
	listHeadT = func() *btf.Struct {
		s := &btf.Struct{Name: "list_head", Size: 16}
		p := &btf.Pointer{Target: s}
		s.Members = []btf.Member{{Name: "next", Type: p}, {Name: "prev", Type: p, Offset: 64}}
		return s
	}()
	progInfoT = &btf.Struct{Name: "bpf_prog_info", Size: 20, Members: []btf.Member{
		{Name: "type", Type: u32T},
		{Name: "name", Type: &btf.Array{Index: idxT, Type: charT, Nelems: 16}, Offset: 32},
	}}
	skbT = &btf.Struct{Name: "__sk_buff", Size: 24, Members: []btf.Member{
		{Name: "len", Type: u32T},
		{Name: "cb", Type: &btf.Array{Index: idxT, Type: u32T, Nelems: 5}, Offset: 32},
	}}
	insnT = &btf.Struct{Name: "bpf_insn", Size: 8, Members: []btf.Member{
		{Name: "code", Type: u8T},
		{Name: "dst_reg", Type: u8T, Offset: 8, BitfieldSize: 4},
		{Name: "src_reg", Type: u8T, Offset: 12, BitfieldSize: 4},
		{Name: "off", Type: s16T, Offset: 16},
		{Name: "imm", Type: s32T, Offset: 32},
	}}
	unionT = &btf.Union{Name: "val", Size: 8, Members: []btf.Member{
		{Name: "u", Type: ullT}, {Name: "i", Type: intT},
	}}
	// struct outer { int a; struct { int x; int y; } in; union val v; void *p; const int c; };
	outerT = &btf.Struct{Name: "outer", Size: 40, Members: []btf.Member{
		{Name: "a", Type: intT},
		{Name: "in", Type: &btf.Struct{Size: 8, Members: []btf.Member{
			{Name: "x", Type: intT}, {Name: "y", Type: intT, Offset: 32},
		}}, Offset: 32},
		{Name: "v", Type: unionT, Offset: 128},
		{Name: "p", Type: &btf.Pointer{Target: &btf.Void{}}, Offset: 192},
		{Name: "c", Type: &btf.Const{Type: intT}, Offset: 256},
	}}
	ptrArrT = &btf.Struct{Name: "ptrs", Size: 24, Members: []btf.Member{
		{Name: "pp", Type: &btf.Array{Index: idxT, Type: &btf.Pointer{Target: listHeadT}, Nelems: 3}},
	}}
	structArrT = &btf.Array{Index: idxT, Type: btfEnumT, Nelems: 2}
	charArrT   = &btf.Array{Index: idxT, Type: charT, Nelems: 4}
	wideT      = &btf.Struct{Name: "wide", Size: 16, Members: []btf.Member{{Name: "w", Type: i128T}}}
	fwdT       = &btf.Fwd{Name: "opaque"}
)

type fixture struct {
	spec *btf.Spec
	ids  map[btf.Type]btf.TypeID
}

func newFixture(t *testing.T) fixture {
	t.Helper()
	b, err := btf.NewBuilder(nil, nil)
	require.NoError(t, err)
	ids := map[btf.Type]btf.TypeID{}
	for _, typ := range []btf.Type{intT, charT, u64T, atomicT, cmdT, sEnumT, e64T, btfEnumT, listHeadT,
		progInfoT, skbT, insnT, unionT, outerT, ptrArrT, structArrT, charArrT, wideT, fwdT, i128T} {
		id, err := b.Add(typ)
		require.NoError(t, err)
		ids[typ] = id
	}
	raw, err := b.Marshal(nil, &btf.MarshalOptions{Order: binary.LittleEndian})
	require.NoError(t, err)
	spec, err := btf.LoadSpecFromReader(bytes.NewReader(raw))
	require.NoError(t, err)
	return fixture{spec: spec, ids: ids}
}

func (f fixture) show(t *testing.T, typ btf.Type, flags uint64, data []byte) (string, unix.Errno) {
	t.Helper()
	id, ok := f.ids[typ]
	require.True(t, ok)
	return btfshow.Format(btfshow.Config{
		Types: f.spec, Mem: mem{base, data}, Flags: flags,
		Pointer: func(v uint64) string { return fmt.Sprintf("%016x", v^0xfeed) },
	}, id, base)
}

func le32(vs ...uint32) []byte {
	var b []byte
	for _, v := range vs {
		b = binary.LittleEndian.AppendUint32(b, v)
	}
	return b
}

func le64(vs ...uint64) []byte {
	var b []byte
	for _, v := range vs {
		b = binary.LittleEndian.AppendUint64(b, v)
	}
	return b
}

func cat(bs ...[]byte) []byte { return bytes.Join(bs, nil) }

const (
	C  = btfshow.FlagCompact
	N  = btfshow.FlagNoName
	R  = btfshow.FlagPtrRaw
	Z  = btfshow.FlagZero
	NZ = N | Z
)

// TestSelftest is the kernel selftest's table (netif_receive_skb.c, which
// always adds BTF_F_COMPACT): the strings are the kernel's own.
func TestSelftest(t *testing.T) {
	f := newFixture(t)
	info := func(name string) []byte {
		b := make([]byte, 20)
		copy(b[4:], name)
		return b
	}
	for _, tc := range []struct {
		typ   btf.Type
		flags uint64
		data  []byte
		want  string
	}{
		// simple int; zero value printed at top level
		{intT, 0, le32(1234), "(int)1234"},
		{intT, N, le32(1234), "1234"},
		{intT, 0, le32(0), "(int)0"},
		{intT, N, le32(0), "0"},
		{intT, Z, le32(0), "(int)0"},
		{intT, NZ, le32(0), "0"},
		{intT, 0, le32(uint32(0xffffee29)), "(int)-4567"},
		// simple char
		{charT, 0, []byte{100}, "(char)100"},
		{charT, N, []byte{100}, "100"},
		{charT, 0, []byte{0}, "(char)0"},
		{charT, NZ, []byte{0}, "0"},
		// simple typedef: the top-level type id keeps the typedef's name
		{u64T, 0, le64(100), "(u64)100"},
		{u64T, N, le64(1), "1"},
		{u64T, 0, le64(0), "(u64)0"},
		{u64T, Z, le64(0), "(u64)0"},
		// typedef struct
		{atomicT, 0, le32(1), "(atomic_t){.counter = (int)1,}"},
		{atomicT, N, le32(1), "{1,}"},
		{atomicT, 0, le32(0), "(atomic_t){}"},
		{atomicT, N, le32(0), "{}"},
		{atomicT, Z, le32(0), "(atomic_t){.counter = (int)0,}"},
		{atomicT, NZ, le32(0), "{0,}"},
		// enum value that does and does not exist
		{cmdT, 0, le32(0), "(enum bpf_cmd)BPF_MAP_CREATE"},
		{cmdT, N, le32(0), "BPF_MAP_CREATE"},
		{cmdT, NZ, le32(0), "BPF_MAP_CREATE"},
		{cmdT, Z, le32(0), "(enum bpf_cmd)BPF_MAP_CREATE"},
		{cmdT, 0, le32(2000), "(enum bpf_cmd)2000"},
		{cmdT, N, le32(2000), "2000"},
		// simple struct
		{btfEnumT, 0, le32(3, 0xffffffff), "(struct btf_enum){.name_off = (__u32)3,.val = (__s32)-1,}"},
		{btfEnumT, N, le32(3, 0xffffffff), "{3,-1,}"},
		{btfEnumT, N, le32(0, 0xffffffff), "{-1,}"},
		{btfEnumT, NZ, le32(0, 0xffffffff), "{0,-1,}"},
		// empty struct is printed
		{btfEnumT, 0, le32(0, 0), "(struct btf_enum){}"},
		{btfEnumT, N, le32(0, 0), "{}"},
		{btfEnumT, Z, le32(0, 0), "(struct btf_enum){.name_off = (__u32)0,.val = (__s32)0,}"},
		// struct with pointers; a NULL pointer is not displayed
		{listHeadT, R, le64(1, 0), "(struct list_head){.next = (struct list_head *)0x0000000000000001,}"},
		{listHeadT, R, le64(0, 0), "(struct list_head){}"},
		// struct with char array; a leading NUL shows nothing; unprintable bytes are numbers
		{progInfoT, 0, info("foo"), "(struct bpf_prog_info){.name = (char[])['f','o','o',],}"},
		{progInfoT, N, info("foo"), "{['f','o','o',],}"},
		{progInfoT, 0, info("\x00foo"), "(struct bpf_prog_info){}"},
		{progInfoT, 0, info("\x01\x02\x03"), "(struct bpf_prog_info){.name = (char[])[1,2,3,],}"},
		// struct with non-char array: non-zero values only
		{skbT, 0, le32(0, 1, 2, 3, 4, 5), "(struct __sk_buff){.cb = (__u32[])[1,2,3,4,5,],}"},
		{skbT, N, le32(0, 1, 2, 3, 4, 5), "{[1,2,3,4,5,],}"},
		{skbT, 0, le32(0, 0, 0, 1, 0, 0), "(struct __sk_buff){.cb = (__u32[])[1,],}"},
		// struct with bitfields: hexadecimal
		{insnT, 0, []byte{1, 0x32, 4, 0, 5, 0, 0, 0},
			"(struct bpf_insn){.code = (__u8)1,.dst_reg = (__u8)0x2,.src_reg = (__u8)0x3,.off = (__s16)4,.imm = (__s32)5,}"},
		{insnT, N, []byte{1, 0x32, 4, 0, 5, 0, 0, 0}, "{1,0x2,0x3,4,5,}"},
	} {
		got, st := f.show(t, tc.typ, tc.flags|C, tc.data)
		assert.Zero(t, st, tc.want)
		assert.Equal(t, tc.want, got)
	}
}

// TestLayout covers what the selftest does not: indentation and newlines
// (btf_show_indent, btf_show_newline), the union delimiter
// (btf_show_delim), nested and anonymous aggregates, void and const
// members (btf_show_name), hashed pointers (btf_ptr_show), the
// array-of-pointers and array-of-structs quirks (__btf_array_show,
// btf_show_name's array_member early return), enum64 and signed enums
// (btf_enum_show, btf_enum64_show), __int128 (btf_int128_print) and
// unsupported kinds (btf_df_show).
func TestLayout(t *testing.T) {
	f := newFixture(t)
	outer := cat(le32(7, 1, 0), le32(0), le64(0x1122334455667788), le64(0xabc), le32(9), le32(0))
	for _, tc := range []struct {
		name  string
		typ   btf.Type
		flags uint64
		data  []byte
		want  string
	}{
		{"int newline", intT, 0, le32(5), "(int)5\n"},
		{"struct indented", btfEnumT, 0, le32(3, 0xffffffff),
			"(struct btf_enum){\n .name_off = (__u32)3,\n .val = (__s32)-1,\n}\n"},
		{"nested", outerT, 0, outer,
			"(struct outer){\n" +
				" .a = (int)7,\n" +
				" .in = (struct){\n" +
				"  .x = (int)1,\n" +
				" },\n" +
				" .v = (union val){\n" +
				"  .u = (unsigned long long)1234605616436508552,\n" +
				"  .i = (int)1432778632,\n" +
				" },\n" +
				" .p = ( *)0x000000000000f451,\n" +
				" .c = ()9,\n" +
				"}\n"},
		{"nested compact hashed", outerT, C, outer,
			"(struct outer){.a = (int)7,.in = (struct){.x = (int)1,},.v = (union val){.u = (unsigned long long)1234605616436508552,.i = (int)1432778632,},.p = ( *)0x000000000000f451,.c = ()9,}"},
		{"nested noname zero", outerT, C | NZ, outer,
			"{7,{1,0,},{1234605616436508552,1432778632,},0x000000000000f451,9,}"},
		{"all zero nested omitted", outerT, C, make([]byte, 40), "(struct outer){}"},
		{"union top", unionT, C, le64(0), "(union val){}"},
		{"union top zero", unionT, C | Z, le64(0), "(union val){.u = (unsigned long long)0,.i = (int)0,}"},
		{"array of pointers: no [, first element repeated", ptrArrT, C | R, le64(0x10, 0x20, 0x30),
			"(struct ptrs){.pp = (struct list_head *[])0x0000000000000010,0x0000000000000010,0x0000000000000010,],}"},
		// An element's name (its "{" included) and its members' names are
		// "" while state.array_member is set; the "}" is still printed.
		{"array of structs: members unnamed", structArrT, C, le32(1, 2, 0, 4),
			"(struct btf_enum[])[1,2,},4,},]"},
		{"array of structs indented", structArrT, 0, le32(1, 2, 0, 0),
			"(struct btf_enum[])[\n \n  1,\n  2,\n },\n]\n"},
		{"char array top", charArrT, C, []byte("hi\x00x"), "(char[])['h','i',]"},
		{"char array full", charArrT, C, []byte("abcd"), "(char[])['a','b','c','d',]"},
		{"char array latin-1", charArrT, C, []byte{'a', 0xe9, 0x7f, 0}, "(char[])['a','\xe9',127,]"},
		{"char array indented", charArrT, 0, []byte("ok\x00\x00"), "(char[])[\n 'o',\n 'k',\n]\n"},
		{"signed enum", sEnumT, C, le32(0xffffffff), "(enum level)MINUS"},
		{"signed enum unknown", sEnumT, C, le32(0xfffffffe), "(enum level)-2"},
		{"enum64", e64T, C, le64(1 << 40), "(enum big)HUGE"},
		{"enum64 unknown", e64T, C | N, le64(3), "3"},
		{"int128 small", i128T, C, le64(255, 0), "(__int128 unsigned)0xff"},
		{"int128 big", i128T, C, le64(1, 2), "(__int128 unsigned)0x20000000000000001"},
		{"int128 member zero omitted", wideT, C, le64(0, 0), "(struct wide){}"},
		{"fwd", fwdT, C, nil, "<unsupported kind:7>"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, st := f.show(t, tc.typ, tc.flags, tc.data)
			assert.Zero(t, st)
			assert.Equal(t, tc.want, got)
		})
	}
}

// TestFlagCombinations runs every flag combination over one struct: the
// name, indentation, zero and pointer flags act independently.
func TestFlagCombinations(t *testing.T) {
	f := newFixture(t)
	data := le64(0, 0x40)
	want := map[uint64]string{
		0:             "(struct list_head){\n .prev = (struct list_head *)0x000000000000fead,\n}\n",
		C:             "(struct list_head){.prev = (struct list_head *)0x000000000000fead,}",
		N:             "{\n 0x000000000000fead,\n}\n",
		R:             "(struct list_head){\n .prev = (struct list_head *)0x0000000000000040,\n}\n",
		Z:             "(struct list_head){\n .next = (struct list_head *)0x0000000000000000,\n .prev = (struct list_head *)0x000000000000fead,\n}\n",
		C | N:         "{0x000000000000fead,}",
		C | R:         "(struct list_head){.prev = (struct list_head *)0x0000000000000040,}",
		C | Z:         "(struct list_head){.next = (struct list_head *)0x0000000000000000,.prev = (struct list_head *)0x000000000000fead,}",
		N | R:         "{\n 0x0000000000000040,\n}\n",
		N | Z:         "{\n 0x0000000000000000,\n 0x000000000000fead,\n}\n",
		R | Z:         "(struct list_head){\n .next = (struct list_head *)0x0000000000000000,\n .prev = (struct list_head *)0x0000000000000040,\n}\n",
		C | N | R:     "{0x0000000000000040,}",
		C | N | Z:     "{0x0000000000000000,0x000000000000fead,}",
		C | R | Z:     "(struct list_head){.next = (struct list_head *)0x0000000000000000,.prev = (struct list_head *)0x0000000000000040,}",
		N | R | Z:     "{\n 0x0000000000000000,\n 0x0000000000000040,\n}\n",
		C | N | R | Z: "{0x0000000000000000,0x0000000000000040,}",
	}
	require.Len(t, want, 16)
	for flags := uint64(0); flags < 16; flags++ {
		// The test's Pointer "hash" is v^0xfeed; the kernel's %p prints
		// NULL unhashed, the test's does not need to.
		got, st := f.show(t, listHeadT, flags, data)
		assert.Zero(t, st)
		w := want[flags]
		if flags&Z != 0 && flags&R == 0 {
			w = replaceFirst(w, "0x0000000000000000", "0x000000000000feed")
		}
		assert.Equal(t, w, got, "flags %#x", flags)
	}
}

func replaceFirst(s, old, repl string) string {
	i := bytes.Index([]byte(s), []byte(old))
	if i < 0 {
		return s
	}
	return s[:i] + repl + s[i+len(old):]
}

// TestFaults: the status is that of the last window read
// (btf_show_obj_safe); values whose window cannot be read disappear.
func TestFaults(t *testing.T) {
	f := newFixture(t)
	// Nothing readable: nothing shown, EFAULT.
	got, st := btfshow.Format(btfshow.Config{Types: f.spec, Mem: mem{base, nil}}, f.ids[intT], base+8)
	assert.Equal(t, unix.EFAULT, st)
	assert.Empty(t, got)

	// A 40-byte struct with 36 readable bytes: the first 32-byte window
	// reads; p (at 24) needs a new window, 24..40, which faults, and so
	// does c's: both disappear and the status is EFAULT.
	got, st = btfshow.Format(btfshow.Config{Types: f.spec, Mem: mem{base, make([]byte, 36)}, Flags: C | Z}, f.ids[outerT], base)
	assert.Equal(t, unix.EFAULT, st)
	assert.Equal(t, "(struct outer){.a = (int)0,.in = (struct){.x = (int)0,.y = (int)0,},"+
		".v = (union val){.u = (unsigned long long)0,.i = (int)0,},}", got)

	// An error that is an errno is passed through (the kernel's -ERANGE
	// for a user address).
	got, st = btfshow.Format(btfshow.Config{Types: f.spec, Mem: errMem{unix.ERANGE}}, f.ids[btfEnumT], 0)
	assert.Equal(t, unix.ERANGE, st)
	assert.Empty(t, got)

	// A type btf_resolve_size refuses: EINVAL.
	b, err := btf.NewBuilder(nil, nil)
	require.NoError(t, err)
	id, err := b.Add(&btf.Datasec{Name: ".data", Size: 4})
	require.NoError(t, err)
	spec, err := b.Spec()
	require.NoError(t, err)
	got, st = btfshow.Format(btfshow.Config{Types: spec, Mem: mem{base, make([]byte, 4)}}, id, base)
	assert.Equal(t, unix.EINVAL, st)
	assert.Empty(t, got)
}

type errMem struct{ e unix.Errno }

func (m errMem) Read(uint64, int) ([]byte, error) { return nil, m.e }

// TestCheck is bpf_btf_printf_prepare's argument checking.
func TestCheck(t *testing.T) {
	f := newFixture(t)
	id := uint32(f.ids[intT])
	for _, tc := range []struct {
		name  string
		id    uint32
		size  uint32
		flags uint64
		want  unix.Errno
	}{
		{"ok", id, 16, btfshow.FlagsAll, 0},
		{"unknown flag", id, 16, 1 << 4, unix.EINVAL},
		{"short btf_ptr", id, 8, 0, unix.EINVAL},
		{"long btf_ptr", id, 24, 0, unix.EINVAL},
		{"type id 0", 0, 16, 0, unix.EINVAL},
		{"type id past the end", 1 << 20, 16, 0, unix.ENOENT},
		{"type id negative as s32", 1 << 31, 16, 0, unix.ENOENT},
	} {
		_, e := btfshow.Check(f.spec, tc.id, tc.size, tc.flags)
		assert.Equal(t, tc.want, e, tc.name)
	}
	_, e := btfshow.Check(nil, id, 16, 0)
	assert.Equal(t, unix.EINVAL, e, "no vmlinux BTF")
	var none *btf.Spec
	_, e = btfshow.Check(none, id, 16, 0)
	assert.Equal(t, unix.EINVAL, e, "no vmlinux BTF")
	assert.Equal(t, unix.EINVAL, btfshow.Show(btfshow.Config{Types: none, Mem: mem{}}, 1, base))
}

// TestNameTruncated: state.name holds 79 bytes.
func TestNameTruncated(t *testing.T) {
	long := ""
	for len(long) < 100 {
		long += "abcdefghij"
	}
	st := &btf.Struct{Name: "s", Size: 4, Members: []btf.Member{{Name: long, Type: intT}}}
	b, err := btf.NewBuilder(nil, nil)
	require.NoError(t, err)
	id, err := b.Add(st)
	require.NoError(t, err)
	spec, err := b.Spec()
	require.NoError(t, err)
	got, e := btfshow.Format(btfshow.Config{Types: spec, Mem: mem{base, le32(1)}, Flags: C}, id, base)
	require.Zero(t, e)
	name := ("." + long + " = (int)")[:79]
	assert.Equal(t, "(struct s){"+name+"1,}", got)
}

// TestEmitStops: once Emit says the output is full the walk stops.
func TestEmitStops(t *testing.T) {
	f := newFixture(t)
	var pieces int
	st := btfshow.Show(btfshow.Config{Types: f.spec, Mem: mem{base, le32(1, 2, 3, 4, 5, 6)}, Flags: C,
		Emit: func([]byte) bool { pieces++; return false }}, f.ids[skbT], base)
	assert.Zero(t, st)
	assert.Equal(t, 1, pieces)
}
