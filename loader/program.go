package loader

import (
	"slices"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"
	"golang.org/x/sys/unix"
)

// Kind is a program's kind, from its section name.
type Kind string

const (
	// KindView is SEC("view/<target>"), the bpf_view RFC's program type
	// (TRACING with attach type BPF_TRACE_VIEW in the RFC's kernel).
	KindView Kind = "view"
	// KindIter is SEC("iter/<target>") or, sleepable, SEC("iter.s/<target>").
	KindIter Kind = "iter"
	// KindTPBTF is SEC("tp_btf/<tracepoint>"), a BTF-typed raw tracepoint.
	KindTPBTF Kind = "tp_btf"
	// KindRawTP is SEC("raw_tp/<tracepoint>") or SEC("raw_tracepoint/...").
	KindRawTP Kind = "raw_tp"
	// KindTracepoint is SEC("tracepoint/<category>/<name>") or SEC("tp/...").
	KindTracepoint Kind = "tracepoint"
	// KindOther is any other section; Program.Type is cilium/ebpf's reading
	// of it (UnspecifiedProgram if it knows none).
	KindOther Kind = "other"
)

var sectionKinds = []struct {
	prefix    string
	kind      Kind
	sleepable bool
}{
	{"view/", KindView, false},
	{"iter.s/", KindIter, true},
	{"iter/", KindIter, false},
	{"tp_btf/", KindTPBTF, false},
	{"raw_tp/", KindRawTP, false},
	{"raw_tracepoint/", KindRawTP, false},
	{"tracepoint/", KindTracepoint, false},
	{"tp/", KindTracepoint, false},
}

// Program is one program of the object, linked and relocated.
type Program struct {
	// Name is the program's function name.
	Name string
	// Section is the ELF section name, e.g. "view/cgroup".
	Section string
	Kind    Kind
	// AttachTo is the attach target the section names: "cgroup" for
	// iter/cgroup and view/cgroup, "sched_stat_wait" for
	// tp_btf/sched_stat_wait, "sched/sched_switch" for a tracepoint.
	AttachTo string
	// Sleepable: iter.s/ and the other ".s" sections (BPF_F_SLEEPABLE).
	Sleepable bool
	License   string
	// Type, AttachType and Flags are cilium/ebpf's reading of the section,
	// as libbpf's section table gives them: iter/cgroup is Tracing with
	// TraceIter, view/cgroup is UnspecifiedProgram with no attach type.
	Type       ebpf.ProgramType
	AttachType ebpf.AttachType
	Flags      uint32
	// Instructions: the program's function first, then every static and
	// global function it calls, directly or not (bpf-to-bpf calls are
	// "call -1" with Reference() naming the callee, resolved to relative
	// offsets when the instructions are marshalled). CO-RE relocations
	// are applied and their metadata removed; map references are
	// symbolic (see MapRefs).
	Instructions asm.Instructions
	// Functions are the entry points in Instructions, the program first.
	Functions []Function
	// Calls are the bpf-to-bpf calls in Instructions.
	Calls []Call
	// MapRefs are the lddw instructions that reference maps, in order.
	MapRefs []MapRef
	// CORE lists every CO-RE relocation applied, in instruction order.
	CORE []CORERelocation
	// Poisoned maps the raw slot of each instruction poisoned by a failed
	// CO-RE relocation to a message naming the relocation and field. Raw
	// slots are what interp.RunError.PC reports, so this map can be given
	// to bpf.ProgSpec.Poisoned as it is. Nil when nothing was poisoned.
	Poisoned map[int]string
}

// Function is a function in a program's instructions.
type Function struct {
	Name string
	// Index is the position in Program.Instructions; Slot the raw
	// instruction offset (lddw takes two slots).
	Index, Slot int
	// Global is true for global (non-static) functions, which the kernel
	// verifies on their own rather than in the caller's context.
	Global bool
}

// Call is a bpf-to-bpf call.
type Call struct {
	Index, Slot int
	Callee      string
}

// RefKind is what a map reference loads.
type RefKind uint8

const (
	// RefMap is lddw with src 1 (BPF_PSEUDO_MAP_FD): the map itself, as
	// helpers such as bpf_map_lookup_elem take it.
	RefMap RefKind = 1
	// RefMapValue is lddw with src 2 (BPF_PSEUDO_MAP_VALUE): the address of
	// byte Offset of the value of entry 0, how programs reach global data.
	RefMapValue RefKind = 2
)

func (k RefKind) String() string {
	switch k {
	case RefMap:
		return "map"
	case RefMapValue:
		return "map_value"
	}
	return "unknown"
}

// MapRef is one lddw that references a map.
type MapRef struct {
	// Index is the position in Program.Instructions; Slot the raw
	// instruction offset, which interp's ResolveImm64 gets.
	Index, Slot int
	// Map is the referenced map's name: Object.Map(Map).
	Map  string
	Kind RefKind
	// Offset is the byte offset into the value for RefMapValue (the upper
	// 32 bits of the instruction's Constant), 0 for RefMap.
	Offset uint32
}

// Resolve returns a copy of the program's instructions in which every map
// reference is a plain 64-bit constant load (lddw dst, value with src 0) of
// the value fn returns for it: typically the simulator's handle for the map
// for RefMap, and the address of the map's value plus ref.Offset for
// RefMapValue. Other metadata (function symbols, source lines) is kept.
func (p *Program) Resolve(fn func(ref MapRef) (uint64, error)) (asm.Instructions, error) {
	insns := slices.Clone(p.Instructions)
	for _, ref := range p.MapRefs {
		v, err := fn(ref)
		if err != nil {
			return nil, err
		}
		ins := insns[ref.Index].WithReference("")
		ins.Src = asm.R0
		ins.Constant = int64(v)
		insns[ref.Index] = ins
	}
	return insns, nil
}

func parseSection(ps *ebpf.ProgramSpec) (kind Kind, attachTo string, sleepable bool) {
	for _, sk := range sectionKinds {
		if target, ok := strings.CutPrefix(ps.SectionName, sk.prefix); ok {
			return sk.kind, target, sk.sleepable
		}
	}
	return KindOther, ps.AttachTo, ps.Flags&unix.BPF_F_SLEEPABLE != 0
}

func newProgram(obj *Object, ps *ebpf.ProgramSpec, opts Options) (*Program, error) {
	kind, attachTo, sleepable := parseSection(ps)
	if kind != KindOther && attachTo == "" {
		return nil, errorf(unix.EINVAL, nil, "program %s: section %q names no attach target", ps.Name, ps.SectionName)
	}
	p := &Program{
		Name:         ps.Name,
		Section:      ps.SectionName,
		Kind:         kind,
		AttachTo:     attachTo,
		Sleepable:    sleepable,
		License:      ps.License,
		Type:         ps.Type,
		AttachType:   ps.AttachType,
		Flags:        ps.Flags,
		Instructions: slices.Clone(ps.Instructions),
	}
	if err := p.relocate(obj, opts); err != nil {
		return nil, err
	}

	symbols := map[string]bool{}
	for it := p.Instructions.Iterate(); it.Next(); {
		if sym := it.Ins.Symbol(); sym != "" {
			f := Function{Name: sym, Index: it.Index, Slot: int(it.Offset)}
			if fn := btf.FuncMetadata(it.Ins); fn != nil {
				f.Global = fn.Linkage == btf.GlobalFunc
			}
			p.Functions = append(p.Functions, f)
			symbols[sym] = true
		}
	}
	for it := p.Instructions.Iterate(); it.Next(); {
		ins, i, slot := it.Ins, it.Index, int(it.Offset)
		switch {
		case ins.IsFunctionReference():
			callee := ins.Reference()
			if !symbols[callee] {
				return nil, errorf(unix.EINVAL, nil, "program %s: instruction %d refers to unknown function %q", p.Name, i, callee)
			}
			if ins.IsFunctionCall() {
				p.Calls = append(p.Calls, Call{Index: i, Slot: slot, Callee: callee})
			}
		case ins.IsLoadFromMap():
			name := ins.Reference()
			if name == "" {
				return nil, errorf(unix.EINVAL, nil, "program %s: instruction %d loads a map without a relocation naming it", p.Name, i)
			}
			if obj.Map(name) == nil {
				return nil, errorf(unix.EINVAL, nil, "program %s: instruction %d refers to unknown map %q", p.Name, i, name)
			}
			ref := MapRef{Index: i, Slot: slot, Map: name, Kind: RefMap}
			if ins.Src == asm.PseudoMapValue {
				ref.Kind, ref.Offset = RefMapValue, uint32(uint64(ins.Constant)>>32)
			}
			p.MapRefs = append(p.MapRefs, ref)
		}
	}
	return p, nil
}
