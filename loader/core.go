package loader

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"
	"golang.org/x/sys/unix"
)

// CORERelocation is one CO-RE relocation as applied to a program.
type CORERelocation struct {
	// Index and Slot locate the relocated instruction in
	// Program.Instructions.
	Index, Slot int
	// Kind is libbpf's name for the relocation kind: "byte_off",
	// "byte_sz", "field_exists", "signed", "lshift_u64", "rshift_u64",
	// "local_type_id", "target_type_id", "type_exists", "type_size",
	// "enumval_exists", "enumval_value", "type_matches".
	Kind string
	// Type is the local (compile-time) type, e.g. "struct cgroup".
	Type string
	// Accessor is the raw access string, e.g. "0:12" (member 12 of
	// element 0).
	Accessor string
	// Field names what is relocated: a field path for field relocations
	// ("cgroup.kn", "task_group.css.cgroup"), "enum e::VALUE" for enum value
	// relocations, the type for type relocations.
	Field string
	// Local is the compile-time value (an offset, size, id, ...) and Target
	// the value for the target; both 0 when Poisoned.
	Local, Target uint64
	// Poisoned: the target cannot satisfy the relocation, and the
	// instruction was replaced by "call 0xbad2310" (or
	// "lddw r10, 0xbad2310").
	Poisoned bool
	// Message says why, when Poisoned.
	Message string
}

func (r CORERelocation) String() string {
	if r.Poisoned {
		return fmt.Sprintf("%s %s: poisoned: %s", r.Kind, r.Field, r.Message)
	}
	return fmt.Sprintf("%s %s: %d->%d", r.Kind, r.Field, r.Local, r.Target)
}

// poisonMessage is what Program.Poisoned and strict-mode errors say.
func (r CORERelocation) poisonMessage(prog string) string {
	return fmt.Sprintf("program %s instruction %d: CO-RE %s relocation of %s (%s, accessor %s) cannot be satisfied: %s",
		prog, r.Index, r.Kind, r.Field, r.Type, r.Accessor, r.Message)
}

// relocate applies every CO-RE relocation in p.Instructions against
// opts.Target, as libbpf's bpf_object__relocate_core does, and records them.
func (p *Program) relocate(obj *Object, opts Options) error {
	var (
		relos []*btf.CORERelocation
		at    []int // index of each relocated instruction
		slots []int
	)
	for it := p.Instructions.Iterate(); it.Next(); {
		if r := btf.CORERelocationMetadata(it.Ins); r != nil {
			relos = append(relos, r)
			at = append(at, it.Index)
			slots = append(slots, int(it.Offset))
		}
	}
	if len(relos) == 0 {
		return nil
	}
	if opts.Target == nil {
		return errorf(unix.EINVAL, nil, "program %s has %d CO-RE relocations (the first: %s) and no target BTF to relocate them against",
			p.Name, len(relos), describe(obj.BTF, relos[0]).Field)
	}
	localID := func(t btf.Type) (btf.TypeID, error) {
		if obj.BTF == nil {
			return 0, errors.New("object has no BTF")
		}
		return obj.BTF.TypeID(t)
	}
	fixups, err := btf.CORERelocate(relos, []*btf.Spec{opts.Target}, binary.LittleEndian, localID)
	if err != nil {
		return errorf(unix.EINVAL, err, "program %s: CO-RE relocation", p.Name)
	}
	for i, f := range fixups {
		rec := describe(obj.BTF, relos[i])
		rec.Index, rec.Slot = at[i], slots[i]
		fs := f.String()
		if strings.HasSuffix(fs, "=poison") {
			rec.Poisoned = true
			rec.Message = whyPoisoned(obj.BTF, opts.Target, relos[i])
			msg := rec.poisonMessage(p.Name)
			if opts.Strict {
				return errorf(unix.EINVAL, nil, "%s", msg)
			}
			if p.Poisoned == nil {
				p.Poisoned = map[int]string{}
			}
			p.Poisoned[rec.Slot] = msg
		} else if _, vals, ok := strings.Cut(fs, "="); ok {
			l, t, _ := strings.Cut(vals, "->")
			rec.Local, _ = strconv.ParseUint(l, 10, 64)
			rec.Target, _ = strconv.ParseUint(t, 10, 64)
		}
		ins := &p.Instructions[at[i]]
		if err := f.Apply(ins); err != nil {
			return errorf(unix.EINVAL, err, "program %s instruction %d: CO-RE %s relocation of %s", p.Name, at[i], rec.Kind, rec.Field)
		}
		*ins = btf.WithCORERelocationMetadata(*ins, nil)
		p.CORE = append(p.CORE, rec)
	}
	return nil
}

// reloParts splits cilium/ebpf's CORERelocation.String(),
// "CORERelocation(<kind>, <type>[<accessor>], local_id=<id>)": the kind,
// accessor and local type id are not exported otherwise.
func reloParts(r *btf.CORERelocation) (kind, typ, accessor string, id btf.TypeID) {
	s := strings.TrimSuffix(strings.TrimPrefix(r.String(), "CORERelocation("), ")")
	kind, rest, _ := strings.Cut(s, ", ")
	end := strings.LastIndex(rest, "], local_id=")
	if end < 0 {
		return kind, rest, "", 0
	}
	n, _ := strconv.ParseUint(rest[end+len("], local_id="):], 10, 32)
	start := strings.LastIndex(rest[:end], "[")
	if start < 0 {
		return kind, rest[:end], "", btf.TypeID(n)
	}
	return kind, rest[:start], rest[start+1 : end], btf.TypeID(n)
}

func parseAccessor(s string) []int {
	var acc []int
	for _, f := range strings.Split(s, ":") {
		n, err := strconv.Atoi(f)
		if err != nil || n < 0 {
			return nil
		}
		acc = append(acc, n)
	}
	return acc
}

func isFieldKind(kind string) bool {
	switch kind {
	case "byte_off", "byte_sz", "field_exists", "signed", "lshift_u64", "rshift_u64":
		return true
	}
	return false
}

// localType is the relocation's local type, stripped of typedefs and
// qualifiers as cilium/ebpf strips it.
func localType(spec *btf.Spec, id btf.TypeID) btf.Type {
	if spec == nil {
		return nil
	}
	t, err := spec.TypeByID(id)
	if err != nil {
		return nil
	}
	return btf.UnderlyingType(t)
}

// describe names a relocation: its kind, local type and the field path its
// accessor selects.
func describe(spec *btf.Spec, r *btf.CORERelocation) CORERelocation {
	kind, typ, accessor, id := reloParts(r)
	rec := CORERelocation{Kind: kind, Type: typ, Accessor: accessor, Field: typ + "[" + accessor + "]"}
	t := localType(spec, id)
	acc := parseAccessor(accessor)
	if t == nil || len(acc) == 0 {
		return rec
	}
	rec.Type = cName(t)
	switch {
	case isFieldKind(kind):
		if path, ok := fieldPath(t, acc); ok {
			rec.Field = strings.Join(path, "")
		}
	case kind == "enumval_exists" || kind == "enumval_value":
		if e, ok := t.(*btf.Enum); ok && acc[0] < len(e.Values) {
			rec.Field = cName(t) + "::" + e.Values[acc[0]].Name
		}
	default:
		rec.Field = cName(t)
	}
	return rec
}

// fieldPath turns a field accessor into path elements: the type's name,
// then ".member" for each named member (anonymous struct and union members
// are skipped, as C spells the access) and "[i]" for array elements.
func fieldPath(t btf.Type, acc []int) ([]string, bool) {
	path := []string{t.TypeName()}
	if acc[0] != 0 {
		path = append(path, "["+strconv.Itoa(acc[0])+"]")
	}
	for _, i := range acc[1:] {
		switch v := btf.UnderlyingType(t).(type) {
		case *btf.Struct, *btf.Union:
			members := compositeMembers(v)
			if i >= len(members) {
				return path, false
			}
			if members[i].Name != "" {
				path = append(path, "."+members[i].Name)
			}
			t = members[i].Type
		case *btf.Array:
			path = append(path, "["+strconv.Itoa(i)+"]")
			t = v.Type
		default:
			return path, false
		}
	}
	return path, true
}

func compositeMembers(t btf.Type) []btf.Member {
	switch v := t.(type) {
	case *btf.Struct:
		return v.Members
	case *btf.Union:
		return v.Members
	}
	return nil
}

// findMember looks a member up by name, also inside anonymous struct and
// union members, as CO-RE matching does.
func findMember(t btf.Type, name string) (btf.Member, bool) {
	for _, m := range compositeMembers(btf.UnderlyingType(t)) {
		if m.Name == name {
			return m, true
		}
		if m.Name == "" {
			if inner, ok := findMember(m.Type, name); ok {
				return inner, true
			}
		}
	}
	return btf.Member{}, false
}

// cName spells a type as C does: "struct cgroup", "enum e", "int".
func cName(t btf.Type) string {
	name := t.TypeName()
	if name == "" {
		name = "(anon)"
	}
	switch t.(type) {
	case *btf.Struct:
		return "struct " + name
	case *btf.Union:
		return "union " + name
	case *btf.Enum:
		return "enum " + name
	case *btf.Fwd:
		return "fwd " + name
	}
	return name
}

// essential strips a CO-RE flavour suffix: "cgroup___v2" → "cgroup".
func essential(name string) string {
	if i := strings.LastIndex(name, "___"); i > 0 {
		return name[:i]
	}
	return name
}

// whyPoisoned explains a relocation that the target cannot satisfy, naming
// the first piece the target lacks.
func whyPoisoned(local *btf.Spec, target *btf.Spec, r *btf.CORERelocation) string {
	kind, _, accessor, id := reloParts(r)
	t := localType(local, id)
	acc := parseAccessor(accessor)
	if t == nil || len(acc) == 0 {
		return "no compatible type in the target"
	}
	var cands []btf.Type
	if ts, err := target.AnyTypesByName(essential(t.TypeName())); err == nil {
		for _, c := range ts {
			if sameKind(t, btf.UnderlyingType(c)) {
				cands = append(cands, btf.UnderlyingType(c))
			}
		}
	}
	want := cName(t)
	if e := essential(t.TypeName()); e != t.TypeName() {
		want = strings.Replace(want, t.TypeName(), e, 1)
	}
	if len(cands) == 0 {
		return "the target has no " + want
	}
	switch {
	case isFieldKind(kind):
		path, _ := fieldPath(t, acc)
		for _, c := range cands {
			cur := c
			for _, elem := range path[1:] {
				if strings.HasPrefix(elem, "[") {
					arr, ok := btf.UnderlyingType(cur).(*btf.Array)
					if !ok {
						return fmt.Sprintf("in the target, %s is not an array", cName(btf.UnderlyingType(cur)))
					}
					cur = arr.Type
					continue
				}
				name := elem[1:]
				m, ok := findMember(cur, name)
				if !ok {
					return fmt.Sprintf("the target's %s has no field %s", cName(btf.UnderlyingType(cur)), name)
				}
				cur = m.Type
			}
		}
		return "the target's " + strings.Join(path, "") + " has an incompatible type"
	case kind == "enumval_exists" || kind == "enumval_value":
		if e, ok := t.(*btf.Enum); ok && acc[0] < len(e.Values) {
			return fmt.Sprintf("the target's %s has no value %s", want, e.Values[acc[0]].Name)
		}
	}
	return "the target's " + want + " is not compatible"
}

func sameKind(a, b btf.Type) bool {
	switch a.(type) {
	case *btf.Struct:
		_, ok := b.(*btf.Struct)
		return ok
	case *btf.Union:
		_, ok := b.(*btf.Union)
		return ok
	case *btf.Enum:
		_, ok := b.(*btf.Enum)
		return ok
	}
	return true
}

// IsPoisoned reports whether ins is an instruction that CO-RE poisoned:
// "call 0xbad2310" or "lddw r10, 0xbad2310".
func IsPoisoned(ins asm.Instruction) bool {
	if ins.IsBuiltinCall() && ins.Constant == btf.COREBadRelocationSentinel {
		return true
	}
	return ins.OpCode.IsDWordLoad() && ins.Dst == asm.R10 && ins.Src == asm.R0 && ins.Constant == btf.COREBadRelocationSentinel
}
