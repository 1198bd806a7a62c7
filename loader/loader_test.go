package loader

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

func TestPrograms(t *testing.T) {
	tests := []struct {
		obj, name, section string
		kind               Kind
		attachTo           string
		sleepable          bool
		license            string
		typ                ebpf.ProgramType
		attachType         ebpf.AttachType
	}{
		{pinningObj, "wait_record", "tp_btf/sched_stat_wait", KindTPBTF, "sched_stat_wait", false, "GPL", ebpf.Tracing, ebpf.AttachTraceRawTp},
		// cilium/ebpf (like libbpf 1.x) does not know view/: unspecified.
		{pinningObj, "wait_show", "view/cgroup", KindView, "cgroup", false, "GPL", ebpf.UnspecifiedProgram, ebpf.AttachNone},
		{cgroupIter, "cgroup_id_printer", "iter/cgroup", KindIter, "cgroup", false, "GPL", ebpf.Tracing, ebpf.AttachTraceIter},
		{featuresObj, "dump_cgroup", "iter/cgroup", KindIter, "cgroup", false, "Dual BSD/GPL", ebpf.Tracing, ebpf.AttachTraceIter},
		{featuresObj, "dump_cgroup_sleepable", "iter.s/cgroup", KindIter, "cgroup", true, "Dual BSD/GPL", ebpf.Tracing, ebpf.AttachTraceIter},
		{featuresObj, "show", "view/cgroup", KindView, "cgroup", false, "Dual BSD/GPL", ebpf.UnspecifiedProgram, ebpf.AttachNone},
		{featuresObj, "on_wait", "tp_btf/sched_stat_wait", KindTPBTF, "sched_stat_wait", false, "Dual BSD/GPL", ebpf.Tracing, ebpf.AttachTraceRawTp},
		{featuresObj, "on_switch", "raw_tp/sched_switch", KindRawTP, "sched_switch", false, "Dual BSD/GPL", ebpf.RawTracepoint, ebpf.AttachNone},
		{featuresObj, "on_exit", "tracepoint/sched/sched_process_exit", KindTracepoint, "sched/sched_process_exit", false, "Dual BSD/GPL", ebpf.TracePoint, ebpf.AttachNone},
	}
	objs := map[string]*Object{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			obj := objs[tt.obj]
			if obj == nil {
				obj = loadObj(t, tt.obj, defaultLayout)
				objs[tt.obj] = obj
			}
			p := obj.Program(tt.name)
			require.NotNil(t, p)
			assert.Equal(t, tt.section, p.Section)
			assert.Equal(t, tt.kind, p.Kind)
			assert.Equal(t, tt.attachTo, p.AttachTo)
			assert.Equal(t, tt.sleepable, p.Sleepable)
			assert.Equal(t, tt.license, p.License)
			assert.Equal(t, tt.license, obj.License)
			assert.Equal(t, tt.typ, p.Type)
			assert.Equal(t, tt.attachType, p.AttachType)
			assert.Equal(t, tt.sleepable, p.Flags&unix.BPF_F_SLEEPABLE != 0)
			require.NotEmpty(t, p.Functions)
			assert.Equal(t, tt.name, p.Functions[0].Name)
			assert.Equal(t, 0, p.Functions[0].Index)
			assert.True(t, p.Functions[0].Global)
			assert.Equal(t, asm.Exit.Op(asm.ImmSource), p.Instructions[len(p.Instructions)-1].OpCode)
		})
	}

	// Every program of each object, and nothing else (.text functions are
	// linked in, not programs of their own).
	names := func(o *Object) []string {
		var out []string
		for _, p := range o.Programs {
			out = append(out, p.Name)
		}
		return out
	}
	assert.Equal(t, []string{"wait_record", "wait_show"}, names(loadObj(t, pinningObj, defaultLayout)))
	assert.Equal(t, []string{"cgroup_id_printer"}, names(loadObj(t, cgroupIter, defaultLayout)))
	assert.Equal(t, []string{"dump_cgroup", "dump_cgroup_sleepable", "on_exit", "on_switch", "on_wait", "show"},
		names(loadObj(t, featuresObj, defaultLayout)))
}

func le64(v uint64) []byte { return binary.LittleEndian.AppendUint64(nil, v) }
func le32(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }

func TestMaps(t *testing.T) {
	const (
		rdonlyProg = unix.BPF_F_RDONLY_PROG
		mmapable   = unix.BPF_F_MMAPABLE
	)
	tests := []struct {
		obj, name  string
		def        Def
		section    string
		typ        ebpf.MapType
		key, value uint32
		max        uint32
		flags      uint32
		frozen     bool
		keyType    string // BTF type of the key, "" for none
		valueType  string
		data       []byte // global data: the section's bytes
	}{
		{pinningObj, "wait_map", DefBTF, ".maps", ebpf.Hash, 8, 8, 65532, 0, false, "__u64", "__u64", nil},
		{pinningObj, ".rodata", DefData, ".rodata", ebpf.Array, 4, 19, 1, rdonlyProg | mmapable, true, "", ".rodata",
			[]byte("%llu %llu\n\x00%llu 0\n\x00")},
		{cgroupIter, ".rodata", DefData, ".rodata", ebpf.Array, 4, 27, 1, rdonlyProg | mmapable, true, "", ".rodata",
			[]byte("epilogue\n\x00prologue\n\x00%8llu\n\x00")},
		// int terminate_early @0, u64 terminal_cgroup @8.
		{cgroupIter, ".bss", DefData, ".bss", ebpf.Array, 4, 16, 1, mmapable, false, "", ".bss", make([]byte, 16)},
		// The legacy struct bpf_map_def: no BTF for key and value.
		{featuresObj, "legacy_counts", DefLegacy, "maps", ebpf.Array, 4, 8, 4, 0, false, "", "", nil},
		{featuresObj, "seen", DefBTF, ".maps", ebpf.Hash, 8, 16, 128, unix.BPF_F_NO_PREALLOC, false, "__u64", "visit", nil},
		{featuresObj, ".rodata", DefData, ".rodata", ebpf.Array, 4, 41, 1, rdonlyProg | mmapable, true, "", ".rodata",
			append(le32(1), "%llu %d %llu %llx %s\n\x00%llu\n\x00%llu %d\n\x00"...)},
		{featuresObj, ".data", DefData, ".data", ebpf.Array, 4, 8, 1, mmapable, false, "", ".data", le64(0x1122334455667788)},
		{featuresObj, ".bss", DefData, ".bss", ebpf.Array, 4, 8, 1, mmapable, false, "", ".bss", make([]byte, 8)},
		{featuresObj, ".data.tuning", DefData, ".data.tuning", ebpf.Array, 4, 4, 1, mmapable, false, "", ".data.tuning", le32(7)},
		{featuresObj, ".rodata.banner", DefData, ".rodata.banner", ebpf.Array, 4, 8, 1, rdonlyProg | mmapable, true, "", ".rodata.banner",
			[]byte("simfs\x00\x00\x00")},
		// String literals: no BTF Datasec, only there because referenced.
		{featuresObj, ".rodata.str1.1", DefData, ".rodata.str1.1", ebpf.Array, 4, 5, 1, rdonlyProg | mmapable, true, "", "", []byte("end\n\x00")},
	}
	for _, tt := range tests {
		t.Run(tt.obj+":"+tt.name, func(t *testing.T) {
			m := loadObj(t, tt.obj, defaultLayout).Map(tt.name)
			require.NotNil(t, m)
			assert.Equal(t, tt.name, m.Name)
			assert.Equal(t, tt.def, m.Def)
			assert.Equal(t, tt.section, m.Section)
			assert.Equal(t, tt.typ, m.Type)
			assert.Equal(t, tt.key, m.KeySize)
			assert.Equal(t, tt.value, m.ValueSize)
			assert.Equal(t, tt.max, m.MaxEntries)
			assert.Equal(t, tt.flags, m.Flags, "flags %#x", m.Flags)
			assert.Equal(t, tt.flags&rdonlyProg != 0, m.ReadOnlyProg())
			assert.Equal(t, tt.frozen, m.Frozen)
			typeName := func(typ btf.Type) string {
				if typ == nil {
					return ""
				}
				return typ.TypeName()
			}
			assert.Equal(t, tt.valueType, typeName(m.Value))
			if tt.def == DefData {
				require.Len(t, m.Contents, 1)
				assert.Equal(t, le32(0), m.Contents[0].Key)
				assert.Equal(t, tt.data, m.Contents[0].Value)
				assert.Equal(t, tt.data, m.Data())
				if tt.valueType != "" {
					assert.IsType(t, &btf.Void{}, m.Key)
					assert.IsType(t, &btf.Datasec{}, m.Value)
				}
			} else {
				assert.Empty(t, m.Contents)
				assert.Nil(t, m.Data())
				assert.Equal(t, tt.keyType, typeName(m.Key))
			}
		})
	}

	assert.Len(t, loadObj(t, pinningObj, defaultLayout).Maps, 2)
	assert.Len(t, loadObj(t, cgroupIter, defaultLayout).Maps, 2)
	assert.Len(t, loadObj(t, featuresObj, defaultLayout).Maps, 8)
}

func TestVariables(t *testing.T) {
	obj := loadObj(t, cgroupIter, defaultLayout)
	type v struct {
		name, section string
		off, size     uint32
		typ           string
	}
	var got []v
	for _, x := range obj.Variables {
		got = append(got, v{x.Name, x.Section, x.Offset, x.Size, x.Type.TypeName()})
	}
	assert.Equal(t, []v{
		{"terminal_cgroup", ".bss", 8, 8, "u64"},
		{"terminate_early", ".bss", 0, 4, "int"},
	}, got)

	// Setting the globals, as the selftest does through skel->bss.
	require.NoError(t, obj.SetVariable("terminate_early", le32(1)))
	require.NoError(t, obj.SetVariable("terminal_cgroup", le64(0x1234)))
	assert.Equal(t, append(le64(1), le64(0x1234)...), obj.Map(".bss").Data())

	err := obj.SetVariable("terminal_cgroup", le32(1))
	assert.ErrorIs(t, err, unix.EINVAL)
	err = obj.SetVariable("nope", le32(1))
	assert.ErrorIs(t, err, unix.ENOENT)

	// A const volatile in .rodata can be set before load too (what
	// cilium's RewriteConstants does).
	f := loadObj(t, featuresObj, defaultLayout)
	require.NoError(t, f.SetVariable("min_level", le32(3)))
	assert.Equal(t, le32(3), f.Map(".rodata").Data()[:4])
	assert.Equal(t, []string{"banner@.rodata.banner", "magic@.data", "min_level@.rodata", "tuned@.data.tuning", "visits@.bss"}, func() []string {
		var n []string
		for _, x := range f.Variables {
			n = append(n, x.Name+"@"+x.Section)
		}
		return n
	}(), "variables")
}

func TestBPFToBPFCalls(t *testing.T) {
	obj := loadObj(t, featuresObj, defaultLayout)
	tests := []struct {
		prog  string
		funcs []Function
		calls []Call
	}{
		{"dump_cgroup",
			[]Function{{"dump_cgroup", 0, 0, true}, {"global_add", 66, 74, true}, {"twice", 69, 77, false}},
			[]Call{{44, 49, "global_add"}, {50, 55, "twice"}}},
		{"on_switch",
			[]Function{{"on_switch", 0, 0, true}, {"twice", 15, 16, false}},
			[]Call{{9, 10, "twice"}}},
		{"on_exit",
			[]Function{{"on_exit", 0, 0, true}, {"global_add", 8, 8, true}},
			[]Call{{3, 3, "global_add"}}},
		{"on_wait", []Function{{"on_wait", 0, 0, true}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.prog, func(t *testing.T) {
			p := obj.Program(tt.prog)
			require.NotNil(t, p)
			assert.Equal(t, tt.funcs, p.Functions)
			assert.Equal(t, tt.calls, p.Calls)
			for _, f := range tt.funcs {
				assert.Equal(t, f.Name, p.Instructions[f.Index].Symbol())
			}
			// Marshalling turns each call into a relative offset to the
			// callee's first slot, as the kernel expects.
			var buf bytes.Buffer
			require.NoError(t, p.Instructions.Marshal(&buf, binary.LittleEndian))
			raw := buf.Bytes()
			for _, c := range tt.calls {
				ins := raw[c.Slot*8:]
				assert.Equal(t, byte(0x85), ins[0], "call opcode")
				assert.Equal(t, byte(1)<<4, ins[1], "src_reg = BPF_PSEUDO_CALL")
				imm := int32(binary.LittleEndian.Uint32(ins[4:]))
				callee := -1
				for _, f := range tt.funcs {
					if f.Name == c.Callee {
						callee = f.Slot
					}
				}
				assert.Equal(t, callee, c.Slot+1+int(imm))
			}
		})
	}
}

func TestMapRefs(t *testing.T) {
	tests := []struct {
		obj, prog string
		refs      []MapRef
	}{
		{cgroupIter, "cgroup_id_printer", []MapRef{
			{8, 8, ".rodata", RefMapValue, 0},    // "epilogue\n"
			{19, 20, ".rodata", RefMapValue, 10}, // "prologue\n"
			{29, 31, ".rodata", RefMapValue, 20}, // "%8llu\n"
			{36, 39, ".bss", RefMapValue, 8},     // terminal_cgroup
			{39, 43, ".bss", RefMapValue, 0},     // terminate_early
		}},
		{pinningObj, "wait_record", []MapRef{
			{11, 11, "wait_map", RefMap, 0},
			{18, 19, "wait_map", RefMap, 0},
		}},
		{pinningObj, "wait_show", []MapRef{
			{7, 7, "wait_map", RefMap, 0},
			{17, 18, ".rodata", RefMapValue, 0},  // "%llu %llu\n"
			{26, 28, ".rodata", RefMapValue, 11}, // "%llu 0\n"
		}},
		{featuresObj, "on_switch", []MapRef{{4, 4, "legacy_counts", RefMap, 0}}},
		{featuresObj, "dump_cgroup", []MapRef{
			{7, 7, ".rodata.str1.1", RefMapValue, 0},
			{12, 13, ".rodata", RefMapValue, 0},
			{15, 17, ".bss", RefMapValue, 0},
			{24, 27, "seen", RefMap, 0},
			{37, 41, "seen", RefMap, 0},
			{52, 57, ".rodata.banner", RefMapValue, 0},
			{54, 60, ".data", RefMapValue, 0},
			{60, 67, ".rodata", RefMapValue, 4},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.prog, func(t *testing.T) {
			obj := loadObj(t, tt.obj, defaultLayout)
			p := obj.Program(tt.prog)
			require.NotNil(t, p)
			assert.Equal(t, tt.refs, p.MapRefs)

			// The instructions themselves carry the reference.
			for _, r := range tt.refs {
				ins := p.Instructions[r.Index]
				assert.True(t, ins.IsLoadFromMap())
				assert.Equal(t, r.Map, ins.Reference())
				assert.Equal(t, asm.Register(r.Kind), ins.Src)
				assert.Equal(t, r.Offset, uint32(uint64(ins.Constant)>>32))
				assert.NotNil(t, obj.Map(r.Map))
			}

			// Resolve turns them into plain constants the caller chose.
			bases := map[string]uint64{}
			for i, m := range obj.Maps {
				bases[m.Name] = uint64(i+1) << 32
			}
			insns, err := p.Resolve(func(r MapRef) (uint64, error) {
				return bases[r.Map] + uint64(r.Offset), nil
			})
			require.NoError(t, err)
			require.Len(t, insns, len(p.Instructions))
			changed := map[int]bool{}
			for _, r := range tt.refs {
				changed[r.Index] = true
				ins := insns[r.Index]
				assert.True(t, ins.IsConstantLoad(asm.DWord))
				assert.Equal(t, asm.R0, ins.Src)
				assert.Equal(t, p.Instructions[r.Index].Dst, ins.Dst)
				assert.Equal(t, int64(bases[r.Map]+uint64(r.Offset)), ins.Constant)
				assert.Empty(t, ins.Reference())
				// The program's own instructions are untouched.
				assert.True(t, p.Instructions[r.Index].IsLoadFromMap())
			}
			for i := range insns {
				if !changed[i] {
					assert.Equal(t, p.Instructions[i], insns[i], "instruction %d", i)
				}
			}

			boom := errors.New("boom")
			_, err = p.Resolve(func(MapRef) (uint64, error) { return 0, boom })
			assert.ErrorIs(t, err, boom)
		})
	}
}

func TestLoadFromReader(t *testing.T) {
	obj, err := Load(bytes.NewReader(readFile(t, cgroupIter)), targetBTF(t, defaultLayout))
	require.NoError(t, err)
	assert.NotNil(t, obj.Program("cgroup_id_printer"))
	assert.NotNil(t, obj.BTF)
	assert.Nil(t, obj.Program("nope"))
	assert.Nil(t, obj.Map("nope"))
	assert.Nil(t, obj.Variable("nope"))

	_, err = LoadFile("testdata/does-not-exist.o", nil)
	assert.ErrorIs(t, err, unix.ENOENT)
}
