package vmlinux

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"sort"

	"github.com/cilium/ebpf/btf"
)

// Errors returned by the lookup and encoding functions. They are wrapped
// with the struct and field concerned, so test them with errors.Is.
var (
	// ErrUnknownType: the layout has no struct, union or enum of that name.
	ErrUnknownType = errors.New("vmlinux: unknown type")
	// ErrUnknownField: the struct has no field at that path (or an array
	// index is out of bounds).
	ErrUnknownField = errors.New("vmlinux: unknown field")
	// ErrFieldKind: the field is not of the kind or size the accessor
	// needs (PutU64 on a 4-byte field, PutString on a pointer, ...).
	ErrFieldKind = errors.New("vmlinux: wrong field kind")
	// ErrShortBuffer: the buffer does not hold the whole field.
	ErrShortBuffer = errors.New("vmlinux: buffer too short for field")
	// ErrTooLong: a string does not fit its char array with its NUL.
	ErrTooLong = errors.New("vmlinux: string too long for field")
)

// A Layout is one complete description of the simulated kernel's types:
// every struct, union, enum and typedef that simulated BPF programs read,
// with the byte offset, size and C type of each field, and the BTF FUNC and
// TYPEDEF anchors that attach targets are resolved by.
//
// A Layout is immutable after construction and safe for concurrent use.
// Default and Alternate build a new one on every call.
type Layout struct {
	name    string
	decls   []btf.Type // every named type, in the order Header declares them
	anchors []btf.Type // attach anchors (FUNCs, tracepoint typedefs), after decls
	structs map[string]*Struct
	order   []*Struct
	enums   map[string]*btf.Enum
}

// Name is the layout's name: "default" or "alternate".
func (l *Layout) Name() string { return l.name }

// Struct returns the struct or union called name ("cgroup",
// "bpf_iter_meta", ...).
func (l *Layout) Struct(name string) (*Struct, error) {
	s, ok := l.structs[name]
	if !ok {
		return nil, fmt.Errorf("%w: no struct or union %q in the %s layout", ErrUnknownType, name, l.name)
	}
	return s, nil
}

// Structs returns every named struct and union of the layout, in
// declaration order.
func (l *Layout) Structs() []*Struct {
	return append([]*Struct(nil), l.order...)
}

// Field returns the field at path in the struct called structName. See
// (*Struct).Field for the path syntax.
func (l *Layout) Field(structName, path string) (Field, error) {
	s, err := l.Struct(structName)
	if err != nil {
		return Field{}, err
	}
	return s.Field(path)
}

// Offset returns the byte offset of the field at path in the struct called
// structName, e.g. Offset("cgroup", "kn") or Offset("task_group",
// "css.cgroup").
func (l *Layout) Offset(structName, path string) (uint32, error) {
	f, err := l.Field(structName, path)
	return f.Offset, err
}

// EnumValue returns the value of the enumerator called value in the enum
// called enum, e.g. EnumValue("bpf_cgroup_iter_order",
// "BPF_CGROUP_ITER_SELF_ONLY") or EnumValue("cgroup_subsys_id",
// "cpu_cgrp_id"), which differs between the layouts.
func (l *Layout) EnumValue(enum, value string) (uint64, error) {
	e, ok := l.enums[enum]
	if !ok {
		return 0, fmt.Errorf("%w: no enum %q in the %s layout", ErrUnknownType, enum, l.name)
	}
	for _, v := range e.Values {
		if v.Name == value {
			return v.Value, nil
		}
	}
	return 0, fmt.Errorf("%w: enum %s has no value %q", ErrUnknownField, enum, value)
}

func (l *Layout) builder() (*btf.Builder, error) {
	types := make([]btf.Type, 0, len(l.decls)+len(l.anchors))
	types = append(types, l.decls...)
	types = append(types, l.anchors...)
	return btf.NewBuilder(types, nil)
}

// Marshal encodes the layout as raw, little-endian BTF (the format of
// /sys/kernel/btf/vmlinux): every type the header declares, then the attach
// anchors.
func (l *Layout) Marshal() ([]byte, error) {
	b, err := l.builder()
	if err != nil {
		return nil, fmt.Errorf("vmlinux: %s layout: %w", l.name, err)
	}
	raw, err := b.Marshal(nil, &btf.MarshalOptions{Order: binary.LittleEndian})
	if err != nil {
		return nil, fmt.Errorf("vmlinux: %s layout: marshal BTF: %w", l.name, err)
	}
	return raw, nil
}

// Spec returns the layout's BTF as a *btf.Spec, the simulator's stand-in
// for btf.LoadKernelSpec(): the target of btf.CORERelocate (with
// binary.LittleEndian) and what attach targets are looked up in. Each call
// returns a new Spec that shares nothing with the layout or other calls.
func (l *Layout) Spec() (*btf.Spec, error) {
	raw, err := l.Marshal()
	if err != nil {
		return nil, err
	}
	spec, err := btf.LoadSpecFromReader(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("vmlinux: %s layout: load BTF: %w", l.name, err)
	}
	return spec, nil
}

// A Struct is one struct or union of a layout: its size, its fields, and
// an index of every field path in it, nested ones included.
type Struct struct {
	name   string
	union  bool
	size   uint32
	align  uint32
	typ    btf.Type // *btf.Struct or *btf.Union
	fields []Field  // the direct members; an anonymous one has Path ""
	paths  map[string]Field
	flex   *Field // the flexible array member, if any
}

// Name is the struct's C name, without "struct ".
func (s *Struct) Name() string { return s.name }

// IsUnion reports whether this is a union rather than a struct.
func (s *Struct) IsUnion() bool { return s.union }

// Size is sizeof(struct name): the bytes New allocates. A flexible array
// member adds nothing to it.
func (s *Struct) Size() uint32 { return s.size }

// Align is the struct's alignment, the largest alignment of its members.
func (s *Struct) Align() uint32 { return s.align }

// Type is the struct's BTF type (a *btf.Struct or *btf.Union). It is
// shared with the layout: treat it as read-only.
func (s *Struct) Type() btf.Type { return s.typ }

// Fields returns the struct's direct members in offset order. An anonymous
// member (the unions of __bpf_md_ptr, kernfs_node's parent union) has
// Path "" and its own members are reachable by name through Field.
func (s *Struct) Fields() []Field { return append([]Field(nil), s.fields...) }

// Paths returns every field path Field accepts without an array index,
// sorted.
func (s *Struct) Paths() []string {
	out := make([]string, 0, len(s.paths))
	for p := range s.paths {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

// Flexible returns the flexible array member (struct cgroup's ancestors),
// if the struct ends with one.
func (s *Struct) Flexible() (Field, bool) {
	if s.flex == nil {
		return Field{}, false
	}
	return *s.flex, true
}

// A Field is a member of a struct, possibly nested, located relative to
// the start of the outermost struct.
type Field struct {
	// Path names the field from the outermost struct: "kn",
	// "self.cgroup", "count.counter", "ancestors[2]". Members of anonymous
	// unions are named directly ("seq", not "(anon).seq").
	Path string
	// Offset is the byte offset from the start of the outermost struct.
	Offset uint32
	// Size is the field's size in bytes (0 for a flexible array member).
	Size uint32
	// Type is the field's declared C type, typedefs included (pid_t, u64,
	// atomic_t). It is shared with the layout: treat it as read-only.
	Type btf.Type

	kind   scalarKind
	signed bool
}

type scalarKind uint8

const (
	notScalar scalarKind = iota
	intScalar            // integer, bool or enum
	ptrScalar            // pointer
)

// CType renders the field's type as C ("struct kernfs_node *", "u64",
// "char [16]").
func (f Field) CType() string {
	return cdecl(f.Type, "", 0)
}

// newStruct indexes a struct or union whose btf type is complete.
func newStruct(typ btf.Type) *Struct {
	s := &Struct{typ: typ, paths: map[string]Field{}}
	var members []btf.Member
	switch t := typ.(type) {
	case *btf.Struct:
		s.name, s.size, members = t.Name, t.Size, t.Members
	case *btf.Union:
		s.name, s.size, s.union, members = t.Name, t.Size, true, t.Members
	default:
		panic(fmt.Sprintf("vmlinux: newStruct(%T)", typ))
	}
	s.align = alignof(typ)
	for i, m := range members {
		f := makeField(m.Name, uint32(m.Offset/8), m.Type)
		s.fields = append(s.fields, f)
		if i == len(members)-1 && !s.union {
			if a, ok := btf.UnderlyingType(m.Type).(*btf.Array); ok && a.Nelems == 0 {
				flex := f
				s.flex = &flex
			}
		}
	}
	s.index(members, "", 0)
	return s
}

func makeField(path string, off uint32, typ btf.Type) Field {
	f := Field{Path: path, Offset: off, Type: typ, Size: sizeof(typ)}
	switch u := btf.UnderlyingType(typ).(type) {
	case *btf.Int:
		f.kind, f.signed = intScalar, u.Encoding&btf.Signed != 0
	case *btf.Enum:
		f.kind, f.signed = intScalar, u.Signed
	case *btf.Pointer:
		f.kind = ptrScalar
	}
	return f
}

// index records every named member under its dotted path; members of
// anonymous members are promoted, as in C.
func (s *Struct) index(members []btf.Member, prefix string, base uint32) {
	for _, m := range members {
		off := base + uint32(m.Offset/8)
		inner, composite := compositeMembers(m.Type)
		if m.Name == "" {
			if composite {
				s.index(inner, prefix, off)
			}
			continue
		}
		path := prefix + m.Name
		s.paths[path] = makeField(path, off, m.Type)
		if composite {
			s.index(inner, path+".", off)
		}
	}
}

func compositeMembers(t btf.Type) ([]btf.Member, bool) {
	switch u := btf.UnderlyingType(t).(type) {
	case *btf.Struct:
		return u.Members, true
	case *btf.Union:
		return u.Members, true
	}
	return nil, false
}

// sizeof is the C sizeof of a complete type; 0 for void, functions,
// forward declarations and flexible arrays.
func sizeof(t btf.Type) uint32 {
	switch u := btf.UnderlyingType(t).(type) {
	case *btf.Int:
		return u.Size
	case *btf.Enum:
		return u.Size
	case *btf.Pointer:
		return 8
	case *btf.Struct:
		return u.Size
	case *btf.Union:
		return u.Size
	case *btf.Array:
		return u.Nelems * sizeof(u.Type)
	}
	return 0
}

// alignof is the C alignment of a type on the BPF target (and x86-64): an
// integer's or pointer's size, an array's element alignment, a composite's
// largest member alignment.
func alignof(t btf.Type) uint32 {
	switch u := btf.UnderlyingType(t).(type) {
	case *btf.Int:
		return u.Size
	case *btf.Enum:
		return u.Size
	case *btf.Pointer:
		return 8
	case *btf.Array:
		return alignof(u.Type)
	case *btf.Struct:
		return maxAlign(u.Members)
	case *btf.Union:
		return maxAlign(u.Members)
	}
	return 1
}

func maxAlign(ms []btf.Member) uint32 {
	a := uint32(1)
	for _, m := range ms {
		a = max(a, alignof(m.Type))
	}
	return a
}

func roundUp(n, a uint32) uint32 { return (n + a - 1) / a * a }
