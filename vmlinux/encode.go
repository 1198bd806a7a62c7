package vmlinux

import (
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/cilium/ebpf/btf"
)

// Field returns the field at path. A path is a chain of member names
// separated by dots, each optionally followed by array indices:
//
//	"kn"              struct cgroup's kn
//	"self.serial_nr"  a member of an embedded struct
//	"count.counter"   through a typedef'd struct (atomic_t)
//	"seq"             a member of an anonymous union (__bpf_md_ptr)
//	"subsys[1]"       an array element
//	"ancestors[3]"    an element of the flexible array member
//
// Indices into fixed-size arrays are bounds-checked here; indices into a
// flexible array are checked against the buffer by the accessors. An
// unknown member or an out-of-bounds index is ErrUnknownField.
func (s *Struct) Field(path string) (Field, error) {
	if f, ok := s.paths[path]; ok {
		return f, nil
	}
	if strings.IndexByte(path, '[') < 0 {
		return Field{}, s.unknown(path, "")
	}
	return s.resolve(path)
}

// Offset returns the byte offset of the field at path.
func (s *Struct) Offset(path string) (uint32, error) {
	f, err := s.Field(path)
	return f.Offset, err
}

func (s *Struct) unknown(path, why string) error {
	kind := "struct"
	if s.union {
		kind = "union"
	}
	if why != "" {
		why = ": " + why
	}
	return fmt.Errorf("%w: %s %s has no field %q%s", ErrUnknownField, kind, s.name, path, why)
}

// resolve walks a path with array indices.
func (s *Struct) resolve(path string) (Field, error) {
	var (
		typ = s.typ
		off uint64
	)
	rest := path
	for first := true; ; first = false {
		// One component: a name and any number of [index] suffixes.
		comp := rest
		if i := strings.IndexByte(rest, '.'); i >= 0 {
			comp, rest = rest[:i], rest[i+1:]
		} else {
			rest = ""
		}
		name, idx, _ := strings.Cut(comp, "[")
		var (
			m    btf.Member
			moff uint32
			ok   bool
		)
		if first {
			// The index has every top-level and nested name.
			var f Field
			if f, ok = s.paths[name]; ok {
				m.Type, moff = f.Type, f.Offset
			}
		} else if name != "" {
			m, moff, ok = findMember(typ, name)
		}
		if !ok {
			return Field{}, s.unknown(path, "")
		}
		typ, off = m.Type, off+uint64(moff)
		flexOK := first && s.flex != nil && off == uint64(s.flex.Offset) && typ == s.flex.Type
		for idx != "" {
			num, after, ok := strings.Cut(idx, "]")
			if !ok || (after != "" && after[0] != '[') {
				return Field{}, s.unknown(path, "malformed index")
			}
			n, err := strconv.ParseUint(num, 10, 32)
			if err != nil {
				return Field{}, s.unknown(path, "malformed index")
			}
			arr, ok := btf.UnderlyingType(typ).(*btf.Array)
			if !ok {
				return Field{}, s.unknown(path, name+" is not an array")
			}
			if arr.Nelems == 0 && !flexOK {
				return Field{}, s.unknown(path, name+" is a zero-length array")
			}
			if arr.Nelems != 0 && n >= uint64(arr.Nelems) {
				return Field{}, s.unknown(path, fmt.Sprintf("index %d out of bounds [0,%d)", n, arr.Nelems))
			}
			typ, off = arr.Type, off+n*uint64(sizeof(arr.Type))
			flexOK = false
			idx = strings.TrimPrefix(after, "[")
		}
		if off+uint64(sizeof(typ)) > math.MaxUint32 {
			return Field{}, s.unknown(path, "offset overflows")
		}
		if rest == "" {
			return makeField(path, uint32(off), typ), nil
		}
	}
}

// Index returns element i of the field, which must be an array: bounds
// are checked for fixed-size arrays; elements of a flexible array member
// (Flexible) are checked against the buffer by the accessors. It fills
// struct cgroup's ancestors without formatting "ancestors[i]" paths.
func (f Field) Index(i int) (Field, error) {
	arr, ok := btf.UnderlyingType(f.Type).(*btf.Array)
	if !ok {
		return Field{}, fmt.Errorf("%w: %s is %s, not an array", ErrFieldKind, f.Path, f.CType())
	}
	elem := uint64(sizeof(arr.Type))
	off := uint64(f.Offset) + uint64(i)*elem
	if i < 0 || (arr.Nelems != 0 && uint64(i) >= uint64(arr.Nelems)) || off+elem > math.MaxUint32 {
		return Field{}, fmt.Errorf("%w: %s has no element %d", ErrUnknownField, f.Path, i)
	}
	return makeField(f.Path+"["+strconv.Itoa(i)+"]", uint32(off), arr.Type), nil
}

// findMember finds a named member of a composite type, looking into
// anonymous members as C does; the offset is in bytes.
func findMember(t btf.Type, name string) (btf.Member, uint32, bool) {
	members, ok := compositeMembers(t)
	if !ok {
		return btf.Member{}, 0, false
	}
	for _, m := range members {
		if m.Name == name {
			return m, uint32(m.Offset / 8), true
		}
		if m.Name == "" {
			if inner, off, ok := findMember(m.Type, name); ok {
				return inner, uint32(m.Offset/8) + off, true
			}
		}
	}
	return btf.Member{}, 0, false
}

// New allocates the struct's zeroed bytes (sizeof(struct name)).
func (s *Struct) New() []byte { return make([]byte, s.size) }

// NewFlex allocates the struct with n elements in its flexible array
// member, as the kernel's kzalloc(struct_size(p, member, n)) does:
// Size() + n*sizeof(element) bytes. struct cgroup is allocated with
// level+1 ancestors.
func (s *Struct) NewFlex(n int) ([]byte, error) {
	if s.flex == nil {
		return nil, fmt.Errorf("%w: struct %s has no flexible array member", ErrFieldKind, s.name)
	}
	elem := uint64(sizeof(s.flex.Type.(*btf.Array).Type))
	if n < 0 || uint64(n)*elem > math.MaxInt32 {
		return nil, fmt.Errorf("vmlinux: struct %s: %d flexible array elements", s.name, n)
	}
	return make([]byte, uint64(s.size)+uint64(n)*elem), nil
}

// PutU8 stores v in the 1-byte integer field at path.
func (s *Struct) PutU8(buf []byte, path string, v uint8) error {
	f, err := s.Field(path)
	if err != nil {
		return err
	}
	return f.PutU8(buf, v)
}

// PutU16 stores v in the 2-byte integer field at path.
func (s *Struct) PutU16(buf []byte, path string, v uint16) error {
	f, err := s.Field(path)
	if err != nil {
		return err
	}
	return f.PutU16(buf, v)
}

// PutU32 stores v in the 4-byte integer or enum field at path (a signed
// int takes uint32(int32(x))).
func (s *Struct) PutU32(buf []byte, path string, v uint32) error {
	f, err := s.Field(path)
	if err != nil {
		return err
	}
	return f.PutU32(buf, v)
}

// PutU64 stores v in the 8-byte integer or pointer field at path, e.g.
// PutU64(buf, "kn", addr).
func (s *Struct) PutU64(buf []byte, path string, v uint64) error {
	f, err := s.Field(path)
	if err != nil {
		return err
	}
	return f.PutU64(buf, v)
}

// PutString stores str NUL-terminated and zero-padded in the char array
// field at path (task_struct's comm); ErrTooLong if it does not fit with
// its NUL.
func (s *Struct) PutString(buf []byte, path, str string) error {
	f, err := s.Field(path)
	if err != nil {
		return err
	}
	return f.PutString(buf, str)
}

// Uint reads the integer, enum or pointer field at path, zero-extended.
func (s *Struct) Uint(buf []byte, path string) (uint64, error) {
	f, err := s.Field(path)
	if err != nil {
		return 0, err
	}
	return f.Uint(buf)
}

// Int reads the integer, enum or pointer field at path, sign-extended if
// its type is signed.
func (s *Struct) Int(buf []byte, path string) (int64, error) {
	f, err := s.Field(path)
	if err != nil {
		return 0, err
	}
	return f.Int(buf)
}

// Bytes returns the bytes of the field at path, aliasing buf.
func (s *Struct) Bytes(buf []byte, path string) ([]byte, error) {
	f, err := s.Field(path)
	if err != nil {
		return nil, err
	}
	return f.Bytes(buf)
}

// Bytes returns the field's bytes in buf, the outermost struct's bytes,
// aliasing buf.
func (f Field) Bytes(buf []byte) ([]byte, error) {
	if uint64(f.Offset)+uint64(f.Size) > uint64(len(buf)) {
		return nil, f.short(buf)
	}
	return buf[f.Offset : f.Offset+f.Size : f.Offset+f.Size], nil
}

func (f Field) short(buf []byte) error {
	return fmt.Errorf("%w: %s needs bytes [%d,%d), buffer has %d", ErrShortBuffer, f.Path, f.Offset, f.Offset+f.Size, len(buf))
}

func (f Field) scalar(buf []byte, size uint32) ([]byte, error) {
	if f.kind == notScalar || f.Size != size {
		return nil, fmt.Errorf("%w: %s is %s (%d bytes), not a %d-byte integer or pointer", ErrFieldKind, f.Path, f.CType(), f.Size, size)
	}
	if uint64(f.Offset)+uint64(size) > uint64(len(buf)) {
		return nil, f.short(buf)
	}
	return buf[f.Offset : f.Offset+size], nil
}

// PutU8 stores v in the field, which must be a 1-byte integer.
func (f Field) PutU8(buf []byte, v uint8) error {
	b, err := f.scalar(buf, 1)
	if err != nil {
		return err
	}
	b[0] = v
	return nil
}

// PutU16 stores v in the field, which must be a 2-byte integer.
func (f Field) PutU16(buf []byte, v uint16) error {
	b, err := f.scalar(buf, 2)
	if err != nil {
		return err
	}
	binary.LittleEndian.PutUint16(b, v)
	return nil
}

// PutU32 stores v in the field, which must be a 4-byte integer or enum.
func (f Field) PutU32(buf []byte, v uint32) error {
	b, err := f.scalar(buf, 4)
	if err != nil {
		return err
	}
	binary.LittleEndian.PutUint32(b, v)
	return nil
}

// PutU64 stores v in the field, which must be an 8-byte integer or a
// pointer.
func (f Field) PutU64(buf []byte, v uint64) error {
	b, err := f.scalar(buf, 8)
	if err != nil {
		return err
	}
	binary.LittleEndian.PutUint64(b, v)
	return nil
}

// PutString stores str NUL-terminated and zero-padded in the field, which
// must be an array of 1-byte integers (char comm[16]).
func (f Field) PutString(buf []byte, str string) error {
	arr, ok := btf.UnderlyingType(f.Type).(*btf.Array)
	if !ok || sizeof(arr.Type) != 1 || f.Size == 0 {
		return fmt.Errorf("%w: %s is %s, not a char array", ErrFieldKind, f.Path, f.CType())
	}
	if len(str) >= int(f.Size) {
		return fmt.Errorf("%w: %q needs %d bytes with its NUL, %s has %d", ErrTooLong, str, len(str)+1, f.Path, f.Size)
	}
	b, err := f.Bytes(buf)
	if err != nil {
		return err
	}
	clear(b[copy(b, str):])
	return nil
}

// Uint reads the field, an integer, enum or pointer, zero-extended.
func (f Field) Uint(buf []byte) (uint64, error) {
	if f.kind == notScalar {
		return 0, fmt.Errorf("%w: %s is %s, not an integer or pointer", ErrFieldKind, f.Path, f.CType())
	}
	b, err := f.Bytes(buf)
	if err != nil {
		return 0, err
	}
	switch len(b) {
	case 1:
		return uint64(b[0]), nil
	case 2:
		return uint64(binary.LittleEndian.Uint16(b)), nil
	case 4:
		return uint64(binary.LittleEndian.Uint32(b)), nil
	case 8:
		return binary.LittleEndian.Uint64(b), nil
	}
	return 0, fmt.Errorf("%w: %s has size %d", ErrFieldKind, f.Path, f.Size)
}

// Int reads the field, an integer, enum or pointer, sign-extended if its
// type is signed.
func (f Field) Int(buf []byte) (int64, error) {
	u, err := f.Uint(buf)
	if err != nil || !f.signed {
		return int64(u), err
	}
	shift := 64 - 8*f.Size
	return int64(u<<shift) >> shift, nil
}
