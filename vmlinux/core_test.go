package vmlinux

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"testing"

	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// CO-RE relocation kinds (enum bpf_core_relo_kind).
const (
	fieldByteOffset = 0
	fieldByteSize   = 1
	fieldExists     = 2
	typeSize        = 9
	enumvalValue    = 11
)

// A coreRecord is one bpf_core_relo record of .BTF.ext: the local type,
// the access string ("0:1" is member 1 of element 0) and the kind.
type coreRecord struct {
	typ    btf.Type
	access string
	kind   uint32
}

// coreObject is an ELF relocatable object holding just what
// btf.LoadSpecAndExtInfosFromReader needs to produce CORERelocations, the
// way clang's output carries them: .BTF with the program's local types
// (and the access strings in its string table) and .BTF.ext with one
// CO-RE record per instruction of section sec. cilium/ebpf has no
// exported constructor for btf.CORERelocation, so this is how a test
// without clang gets real ones.
func coreObject(t *testing.T, sec string, local []btf.Type, recs []coreRecord) []byte {
	t.Helper()
	le := binary.LittleEndian
	b, err := btf.NewBuilder(local, nil)
	require.NoError(t, err)
	// Only explicitly added types have stable IDs: add the relocated
	// ones before marshalling.
	ids := make([]btf.TypeID, len(recs))
	for i, r := range recs {
		ids[i], err = b.Add(r.typ)
		require.NoError(t, err)
	}
	raw, err := b.Marshal(nil, &btf.MarshalOptions{Order: le})
	require.NoError(t, err)

	// Append the section name and access strings to the string section,
	// which clang's and cilium's encoders put last.
	hdrLen, strOff, strLen := le.Uint32(raw[4:]), le.Uint32(raw[16:]), le.Uint32(raw[20:])
	require.Equal(t, len(raw), int(hdrLen+strOff+strLen), "string section is last")
	addString := func(s string) uint32 {
		off := le.Uint32(raw[20:])
		raw = append(raw, s...)
		raw = append(raw, 0)
		le.PutUint32(raw[20:], off+uint32(len(s))+1)
		return off
	}
	secOff := addString(sec)

	// .BTF.ext: header (with the CO-RE part), empty func_info and
	// line_info (just their record sizes), then the CO-RE records.
	var core bytes.Buffer
	w := func(v ...uint32) {
		for _, x := range v {
			_ = binary.Write(&core, le, x)
		}
	}
	w(16, secOff, uint32(len(recs))) // record size, section, count
	for i, r := range recs {
		w(uint32(i*asm.InstructionSize), uint32(ids[i]), addString(r.access), r.kind)
	}
	var ext bytes.Buffer
	_ = binary.Write(&ext, le, struct {
		Magic                    uint16
		Version, Flags           uint8
		HdrLen                   uint32
		FuncOff, FuncLen         uint32
		LineOff, LineLen         uint32
		COREReloOff, COREReloLen uint32
	}{0xeb9f, 1, 0, 32, 0, 4, 4, 4, 8, uint32(core.Len())})
	_ = binary.Write(&ext, le, [2]uint32{8, 16}) // func_info and line_info record sizes
	ext.Write(core.Bytes())

	insns := make([]byte, len(recs)*asm.InstructionSize)
	return elfObject(t, map[string][]byte{".BTF": raw, ".BTF.ext": ext.Bytes(), sec: insns})
}

// elfObject writes a little-endian ELF64 relocatable for the BPF machine
// with the given PROGBITS sections, an empty symbol table and a string
// table serving as both section and symbol names.
func elfObject(t *testing.T, sections map[string][]byte) []byte {
	t.Helper()
	le := binary.LittleEndian
	names := []string{".BTF", ".BTF.ext"}
	for n := range sections {
		if n != ".BTF" && n != ".BTF.ext" {
			names = append(names, n)
		}
	}
	strtab := []byte("\x00.strtab\x00.symtab\x00")
	nameOff := map[string]uint32{".strtab": 1, ".symtab": 9}
	for _, n := range names {
		nameOff[n] = uint32(len(strtab))
		strtab = append(append(strtab, n...), 0)
	}

	var body bytes.Buffer
	body.Write(make([]byte, 64)) // the ELF header, written last
	headers := []elf.Section64{{}}
	add := func(name string, typ elf.SectionType, flags elf.SectionFlag, data []byte, link, info uint32, entsize uint64) {
		for body.Len()%8 != 0 {
			body.WriteByte(0)
		}
		headers = append(headers, elf.Section64{
			Name: nameOff[name], Type: uint32(typ), Flags: uint64(flags),
			Off: uint64(body.Len()), Size: uint64(len(data)),
			Link: link, Info: info, Addralign: 8, Entsize: entsize,
		})
		body.Write(data)
	}
	add(".strtab", elf.SHT_STRTAB, 0, strtab, 0, 0, 0)
	add(".symtab", elf.SHT_SYMTAB, 0, make([]byte, 24), 1, 1, 24) // the null symbol
	for _, n := range names {
		flags := elf.SHF_ALLOC
		if n != ".BTF" && n != ".BTF.ext" {
			flags |= elf.SHF_EXECINSTR
		}
		add(n, elf.SHT_PROGBITS, flags, sections[n], 0, 0, 0)
	}
	for body.Len()%8 != 0 {
		body.WriteByte(0)
	}
	shoff := body.Len()
	for _, h := range headers {
		_ = binary.Write(&body, le, h)
	}
	out := body.Bytes()
	var hdr bytes.Buffer
	_ = binary.Write(&hdr, le, elf.Header64{
		Ident:     [16]byte{0x7f, 'E', 'L', 'F', byte(elf.ELFCLASS64), byte(elf.ELFDATA2LSB), byte(elf.EV_CURRENT)},
		Type:      uint16(elf.ET_REL),
		Machine:   uint16(elf.EM_BPF),
		Version:   uint32(elf.EV_CURRENT),
		Shoff:     uint64(shoff),
		Ehsize:    64,
		Shentsize: 64,
		Shnum:     uint16(len(headers)),
		Shstrndx:  1,
	})
	copy(out, hdr.Bytes())
	return out
}

// relocate loads the object's CO-RE relocations for sec and computes
// their fixups against target, as the loader does.
func relocate(t *testing.T, obj []byte, sec string, target *Layout) []btf.COREFixup {
	t.Helper()
	spec, ext, err := btf.LoadSpecAndExtInfosFromReader(bytes.NewReader(obj))
	require.NoError(t, err)
	_, _, offs := ext.Section(sec)
	var relos []*btf.CORERelocation
	for _, o := range offs {
		relos = append(relos, o.Relo)
	}
	tspec, err := target.Spec()
	require.NoError(t, err)
	fixups, err := btf.CORERelocate(relos, []*btf.Spec{tspec}, binary.LittleEndian, spec.TypeID)
	require.NoError(t, err)
	return fixups
}

// programView is a program's own, compile-time idea of the kernel types,
// written for a real kernel (Linux 6.18 offsets, as a vmlinux.h from
// there would have them) and listing only what the program uses, as
// CO-RE programs do.
func programView() (types []btf.Type, recs []coreRecord, cases []coreCase) {
	var (
		sint = &btf.Int{Name: "int", Size: 4, Encoding: btf.Signed}
		u64  = &btf.Typedef{Name: "u64", Type: &btf.Int{Name: "long long unsigned int", Size: 8}}
		kn   = &btf.Struct{Name: "kernfs_node", Size: 136}
		cg   = &btf.Struct{Name: "cgroup", Size: 2240}
		css  = &btf.Struct{Name: "cgroup_subsys_state", Size: 208, Members: []btf.Member{
			{Name: "cgroup", Type: &btf.Pointer{Target: cg}, Offset: 0},
		}}
		tg = &btf.Struct{Name: "task_group", Size: 704, Members: []btf.Member{
			{Name: "css", Type: css, Offset: 0},
		}}
		task = &btf.Struct{Name: "task_struct", Size: 3264, Members: []btf.Member{
			{Name: "sched_task_group", Type: &btf.Pointer{Target: tg}, Offset: 712 * 8},
			{Name: "pid", Type: sint, Offset: 1264 * 8},
		}}
		meta = &btf.Struct{Name: "bpf_iter_meta", Size: 24, Members: []btf.Member{
			{Name: "", Type: &btf.Union{Size: 8, Members: []btf.Member{{Name: "seq", Type: &btf.Pointer{Target: &btf.Void{}}}}}},
			{Name: "session_id", Type: u64, Offset: 64},
			{Name: "seq_num", Type: u64, Offset: 128},
		}}
		iterCtx = &btf.Struct{Name: "bpf_iter__cgroup", Size: 16, Members: []btf.Member{
			{Name: "", Type: &btf.Union{Size: 8, Members: []btf.Member{{Name: "meta", Type: &btf.Pointer{Target: meta}}}}},
			{Name: "", Type: &btf.Union{Size: 8, Members: []btf.Member{{Name: "cgroup", Type: &btf.Pointer{Target: cg}}}}, Offset: 64},
		}}
		// A flavor (libbpf's "___suffix") with a field no kernel has.
		future = &btf.Struct{Name: "cgroup___future", Size: 8, Members: []btf.Member{
			{Name: "no_such_field", Type: sint},
		}}
		// Older kernels' name for kernfs_node's parent, and the newer one.
		knOld = &btf.Struct{Name: "kernfs_node___old", Size: 16, Members: []btf.Member{
			{Name: "parent", Type: &btf.Pointer{Target: kn}, Offset: 64},
		}}
		subsysID = &btf.Enum{Name: "cgroup_subsys_id", Size: 4, Values: []btf.EnumValue{
			{Name: "cpu_cgrp_id", Value: 1}, {Name: "memory_cgrp_id", Value: 4}, {Name: "pids_cgrp_id", Value: 11},
		}}
	)
	kn.Members = []btf.Member{
		{Name: "__parent", Type: &btf.Pointer{Target: kn}, Offset: 8 * 8},
		{Name: "id", Type: u64, Offset: 96 * 8},
	}
	cg.Members = []btf.Member{
		{Name: "self", Type: css, Offset: 0},
		{Name: "level", Type: sint, Offset: 216 * 8},
		{Name: "kn", Type: &btf.Pointer{Target: kn}, Offset: 256 * 8},
		{Name: "subsys", Type: &btf.Array{Index: sint, Type: &btf.Pointer{Target: css}, Nelems: 12}, Offset: 552 * 8},
		{Name: "ancestors", Type: &btf.Array{Index: sint, Type: &btf.Pointer{Target: cg}}, Offset: 2224 * 8},
	}
	types = []btf.Type{iterCtx, task, future, knOld, subsysID}
	add := func(name string, typ btf.Type, access string, kind uint32, def, alt string) {
		recs = append(recs, coreRecord{typ, access, kind})
		cases = append(cases, coreCase{name, [2]string{def, alt}})
	}
	add("ctx->meta", iterCtx, "0:0:0", fieldByteOffset, "byte_off=0->0", "byte_off=0->0")
	add("ctx->cgroup", iterCtx, "0:1:0", fieldByteOffset, "byte_off=8->8", "byte_off=8->8")
	add("meta->seq_num", meta, "0:2", fieldByteOffset, "byte_off=16->16", "byte_off=16->16")
	add("cgrp->level", cg, "0:1", fieldByteOffset, "byte_off=216->56", "byte_off=216->216")
	add("cgrp->kn", cg, "0:2", fieldByteOffset, "byte_off=256->48", "byte_off=256->256")
	add("kn->id", kn, "0:1", fieldByteOffset, "byte_off=96->0", "byte_off=96->96")
	add("kn->__parent", kn, "0:0", fieldByteOffset, "byte_off=8->8", "byte_off=8->8")
	add("kn->parent (old name)", knOld, "0:0", fieldByteOffset, "byte_off=8->8", "byte_off=8->8")
	add("cgrp->self.cgroup", cg, "0:0:0", fieldByteOffset, "byte_off=0->0", "byte_off=0->0")
	add("cgrp->ancestors[2]", cg, "0:4:2", fieldByteOffset, "byte_off=2240->168", "byte_off=2240->2240")
	add("cgrp->subsys[1]", cg, "0:3:1", fieldByteOffset, "byte_off=560->136", "byte_off=560->560")
	add("task->sched_task_group", task, "0:0", fieldByteOffset, "byte_off=712->56", "byte_off=712->712")
	add("task->pid", task, "0:1", fieldByteOffset, "byte_off=1264->0", "byte_off=1264->1264")
	add("tg->css.cgroup", tg, "0:0:0", fieldByteOffset, "byte_off=0->8", "byte_off=0->0")
	add("sizeof cgrp->subsys", cg, "0:3", fieldByteSize, "byte_sz=96->24", "byte_sz=96->96")
	add("sizeof cgrp->level", cg, "0:1", fieldByteSize, "byte_sz=4->4", "byte_sz=4->4")
	add("exists cgrp->kn", cg, "0:2", fieldExists, "field_exists=1->1", "field_exists=1->1")
	add("sizeof(struct cgroup)", cg, "0", typeSize, "type_size=2240->152", "type_size=2240->2224")
	add("memory_cgrp_id", subsysID, "1", enumvalValue, "enumval_value=4->1", "enumval_value=4->4")
	add("pids_cgrp_id", subsysID, "2", enumvalValue, "enumval_value=11->2", "enumval_value=11->11")
	add("exists future->no_such_field", future, "0:0", fieldExists, "field_exists=1->0", "field_exists=1->0")
	add("future->no_such_field", future, "0:0", fieldByteOffset, "byte_off=poison", "byte_off=poison")
	return types, recs, cases
}

// A coreCase names a relocation and gives its fixup against Default and
// Alternate as COREFixup.String() prints it ("kind=local->target").
type coreCase struct {
	name string
	want [2]string
}

// TestCORERelocateProgramView relocates a program written against the real
// kernel's types (its own partial view, with real offsets) against both
// layouts, through the same btf.CORERelocate the loader uses, and checks
// every fixup: offsets, sizes, existence and enum values follow the
// target layout by field name; a field the simulator lacks is poisoned.
func TestCORERelocateProgramView(t *testing.T) {
	types, recs, cases := programView()
	obj := coreObject(t, "iter/cgroup", types, recs)
	for li, l := range []*Layout{Default(), Alternate()} {
		fixups := relocate(t, obj, "iter/cgroup", l)
		require.Len(t, fixups, len(recs))
		for i, f := range fixups {
			assert.Equal(t, cases[i].want[li], f.String(), "%s against %s", cases[i].name, l.Name())
		}
	}
}

// TestCOREFixupApply applies fixups to instructions: a load's offset is
// rewritten to the target layout's, and a poisoned one becomes the call
// to 0xbad2310 that the interpreter must trap on.
func TestCOREFixupApply(t *testing.T) {
	types, recs, cases := programView()
	obj := coreObject(t, "iter/cgroup", types, recs)
	index := func(name string) int {
		for i, c := range cases {
			if c.name == name {
				return i
			}
		}
		t.Fatalf("no relocation %q", name)
		return -1
	}
	for _, c := range []struct {
		l          *Layout
		level, kn  int16
		sizeofCgrp int64
	}{{Default(), 56, 48, 152}, {Alternate(), 216, 256, 2224}} {
		fixups := relocate(t, obj, "iter/cgroup", c.l)

		ins := asm.LoadMem(asm.R0, asm.R1, 216, asm.Word) // r0 = cgrp->level
		require.NoError(t, fixups[index("cgrp->level")].Apply(&ins))
		assert.Equal(t, c.level, ins.Offset, c.l.Name())

		ins = asm.LoadMem(asm.R1, asm.R1, 256, asm.DWord) // r1 = cgrp->kn
		require.NoError(t, fixups[index("cgrp->kn")].Apply(&ins))
		assert.Equal(t, c.kn, ins.Offset, c.l.Name())

		ins = asm.Mov.Imm(asm.R2, 2240) // r2 = bpf_core_type_size(struct cgroup)
		require.NoError(t, fixups[index("sizeof(struct cgroup)")].Apply(&ins))
		assert.Equal(t, c.sizeofCgrp, ins.Constant, c.l.Name())

		ins = asm.LoadMem(asm.R0, asm.R1, 0, asm.Word) // r0 = future->no_such_field
		require.NoError(t, fixups[index("future->no_such_field")].Apply(&ins))
		assert.True(t, ins.IsBuiltinCall())
		assert.Equal(t, int64(btf.COREBadRelocationSentinel), ins.Constant, "poisoned: call 0xbad2310")
	}
}

// A program whose view of a struct lacks nothing but whose field types
// disagree with the simulator's is refused, as by libbpf: CO-RE checks
// that the field kinds are compatible, not just the names.
func TestCORERelocateIncompatibleField(t *testing.T) {
	kn := &btf.Struct{Name: "kernfs_node", Size: 16, Members: []btf.Member{
		// id as a pointer: incompatible with the simulator's u64.
		{Name: "id", Type: &btf.Pointer{Target: &btf.Void{}}, Offset: 64},
	}}
	obj := coreObject(t, "view/cgroup", []btf.Type{kn}, []coreRecord{{kn, "0:0", fieldByteOffset}})
	for _, l := range layouts() {
		fixups := relocate(t, obj, "view/cgroup", l)
		require.Len(t, fixups, 1)
		assert.Equal(t, "byte_off=poison", fixups[0].String(), l.Name())
	}
}
