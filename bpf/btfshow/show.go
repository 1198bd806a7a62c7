package btfshow

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/cilium/ebpf/btf"
	"golang.org/x/sys/unix"
)

// Flags of bpf_seq_printf_btf and bpf_snprintf_btf (include/uapi/linux/bpf.h).
const (
	FlagCompact uint64 = 1 << 0 // BTF_F_COMPACT: no indentation or newlines
	FlagNoName  uint64 = 1 << 1 // BTF_F_NONAME: no member names or types
	FlagPtrRaw  uint64 = 1 << 2 // BTF_F_PTR_RAW: pointers as %px
	FlagZero    uint64 = 1 << 3 // BTF_F_ZERO: show zero values
	// FlagsAll is BTF_F_ALL, every flag a program may pass.
	FlagsAll = FlagCompact | FlagNoName | FlagPtrRaw | FlagZero
)

// BTFPtrSize is sizeof(struct btf_ptr): void *ptr; __u32 type_id; __u32 flags.
const BTFPtrSize = 16

const (
	objSafeSize  = 32 // BTF_SHOW_OBJ_SAFE_SIZE
	baseTypeSize = 16 // BTF_SHOW_OBJ_BASE_TYPE_SIZE
	nameSize     = 80 // BTF_SHOW_NAME_SIZE
	maxIter      = 10 // BTF_SHOW_MAX_ITER
	resolveDepth = 32 // MAX_RESOLVE_DEPTH
	maxDepth     = 64 // nesting bound (the kernel's is the BTF verifier's)

	// DefaultMaxSteps bounds the values one Show visits.
	DefaultMaxSteps = 1 << 20
)

// Types looks BTF types up by id (a *btf.Spec does).
type Types interface {
	TypeByID(btf.TypeID) (btf.Type, error)
}

// Memory reads the shown object. An error that wraps a unix.Errno gives
// the status (the kernel's copy_from_kernel_nofault returns -ERANGE for a
// user address, -EFAULT for a fault); any other error means EFAULT.
type Memory interface {
	Read(addr uint64, n int) ([]byte, error)
}

// Config is one show operation.
type Config struct {
	Types Types
	Mem   Memory
	// Flags are the BTF_F_* flags.
	Flags uint64
	// Emit receives the output piece by piece, one btf_show() call each
	// (a seq_file applies seq_vprintf's all-or-overflow rule per piece).
	// It returns false once the output is full and the walk may stop.
	Emit func(p []byte) bool
	// Pointer formats a pointer for "0x%p" (hashed): the 16 digits after
	// "0x". Nil prints the address.
	Pointer func(v uint64) string
	// MaxSteps bounds the number of values visited (0: DefaultMaxSteps).
	MaxSteps int
}

// Check is bpf_btf_printf_prepare: the flags, the size of struct btf_ptr
// and the type id, as a helper checks them before showing anything. Flags
// outside FlagsAll, a ptr_size other than 16, no BTF at all or type id 0
// are EINVAL; a type id the BTF does not have (or one that is negative as
// the kernel's s32 btf_id) is ENOENT.
func Check(types Types, typeID uint32, ptrSize uint32, flags uint64) (btf.Type, unix.Errno) {
	if flags&^FlagsAll != 0 {
		return nil, unix.EINVAL
	}
	if ptrSize != BTFPtrSize {
		return nil, unix.EINVAL
	}
	if noTypes(types) {
		return nil, unix.EINVAL // no vmlinux BTF
	}
	if typeID == 0 {
		return nil, unix.EINVAL
	}
	if int32(typeID) <= 0 {
		return nil, unix.ENOENT // the id does not fit the s32 btf_id
	}
	t, err := types.TypeByID(btf.TypeID(typeID))
	if err != nil || t == nil {
		return nil, unix.ENOENT
	}
	return t, 0
}

// noTypes reports a nil Types, or a nil *btf.Spec in one.
func noTypes(types Types) bool {
	if types == nil {
		return true
	}
	s, ok := types.(*btf.Spec)
	return ok && s == nil
}

// Show is btf_type_seq_show_flags / btf_type_show: it shows the object of
// type typeID at addr and returns the kernel's show->state.status: the
// result of the last window read or size resolution (so 0 when the last
// one succeeded, even if an earlier one failed). Output that overflows is
// not an error: Emit deals with it, as the seq file does in the kernel.
func Show(cfg Config, typeID btf.TypeID, addr uint64) unix.Errno {
	if noTypes(cfg.Types) || cfg.Mem == nil {
		return unix.EINVAL
	}
	t, err := cfg.Types.TypeByID(typeID)
	if err != nil || t == nil {
		return unix.ENOENT
	}
	s := &shower{cfg: cfg, steps: cfg.MaxSteps}
	if s.steps <= 0 {
		s.steps = DefaultMaxSteps
	}
	s.show(t, t, addr, 0)
	return s.status
}

// Format runs Show into a string (no size limit beyond MaxSteps), for
// tests and tools.
func Format(cfg Config, typeID btf.TypeID, addr uint64) (string, unix.Errno) {
	var b strings.Builder
	cfg.Emit = func(p []byte) bool { b.Write(p); return true }
	st := Show(cfg, typeID, addr)
	return b.String(), st
}

// shower is struct btf_show.
type shower struct {
	cfg   Config
	steps int
	stop  bool

	// state
	depth           int
	depthToShow     int
	depthCheck      int
	arrayMember     bool
	arrayTerminated bool
	arrayChar       bool     // array_encoding == BTF_INT_CHAR
	typ             btf.Type // state.type
	typeRef         btf.Type // the type state.type_id names
	member          *btf.Member
	status          unix.Errno

	// obj
	objSize uint32
	objHead uint64
	objData uint64
	// safe is obj.safe, with zero padding so that reads past the copied
	// window (an enum read as an int, a bitfield's bytes) stay in bounds.
	safe [objSafeSize + 2*baseTypeSize]byte
}

// emit is btf_show: output unless in the zero-check pass.
func (s *shower) emit(str string) {
	if s.depthCheck != 0 || s.stop {
		return
	}
	if s.cfg.Emit != nil && !s.cfg.Emit([]byte(str)) {
		s.stop = true
	}
}

func (s *shower) indent() string {
	if s.cfg.Flags&FlagCompact != 0 {
		return ""
	}
	return strings.Repeat(" ", min(s.depth, 32))
}

func (s *shower) newline() string {
	if s.cfg.Flags&FlagCompact != 0 {
		return ""
	}
	return "\n"
}

func (s *shower) delim() string {
	if s.depth == 0 {
		return ""
	}
	if s.cfg.Flags&FlagCompact != 0 {
		if _, ok := s.typ.(*btf.Union); ok {
			return "|"
		}
	}
	return ","
}

// value is btf_show_type_value: shown when non-zero, with FlagZero, or at
// the top level.
func (s *shower) value(str string, nonZero bool) {
	if nonZero || s.cfg.Flags&FlagZero != 0 || s.depth == 0 {
		s.values(str)
	}
}

// values is btf_show_type_values: always shown.
func (s *shower) values(str string) {
	s.emit(s.indent() + s.name() + str + s.delim() + s.newline())
	if s.depth > s.depthToShow {
		s.depthToShow = s.depth
	}
}

// name is btf_show_name: "[.member = ](type)" and the opening parenthesis.
func (s *shower) name() string {
	if s.arrayMember {
		return ""
	}
	t := s.typeRef
	member, showMember := "", false
	if s.member != nil {
		member = s.member.Name
		showMember = member != ""
		t = s.member.Type
	}
	if t == nil {
		return ""
	}
	var name *string
	prefix, parens := "", ""
	arrays, ptrs := 0, 0
	var typedef, array, ptr bool
	i := 0
	for ; i < maxIter; i++ {
		var next btf.Type
		switch v := t.(type) {
		case *btf.Typedef:
			if name == nil {
				n := v.Name
				name = &n
			}
			typedef = true
			next = v.Type
		case *btf.Array:
			array = true
			parens = "["
			arrays = min(arrays+1, maxIter)
			next = v.Type
		case *btf.Pointer:
			ptr = true
			ptrs = min(ptrs+1, maxIter)
			next = v.Target
		}
		if next == nil {
			break
		}
		if _, void := next.(*btf.Void); void {
			break // id 0 ends the walk; t stays where it is
		}
		t = skipQualifiers(next)
	}
	if i == maxIter {
		return ""
	}
	if name == nil {
		n := typeName(t)
		name = &n
	}
	switch t.(type) {
	case *btf.Struct:
		prefix = "struct"
		if !array {
			parens = "{"
		}
	case *btf.Union:
		prefix = "union"
		if !array {
			parens = "{"
		}
	case *btf.Enum:
		prefix = "enum"
	}
	if ptr {
		parens = ""
	}
	if typedef {
		prefix = ""
	}
	var out string
	if s.cfg.Flags&FlagNoName != 0 {
		out = parens
	} else {
		var b strings.Builder
		if showMember {
			b.WriteString("." + member + " = ")
		}
		b.WriteString("(" + prefix)
		if prefix != "" && *name != "" {
			b.WriteString(" ")
		}
		b.WriteString(*name)
		if ptrs > 0 {
			b.WriteString(" " + strings.Repeat("*", ptrs))
		}
		b.WriteString(strings.Repeat("[]", arrays))
		b.WriteString(")" + parens)
		out = b.String()
	}
	if len(out) > nameSize-1 {
		out = out[:nameSize-1]
	}
	return out
}

// typeName is btf_name_by_offset(t->name_off) ("" for anonymous types).
func typeName(t btf.Type) string {
	switch v := t.(type) {
	case *btf.Void, *btf.Pointer, *btf.Array, *btf.Const, *btf.Volatile, *btf.Restrict, *btf.FuncProto, nil:
		return ""
	case *btf.TypeTag:
		return v.Value
	default:
		return t.TypeName()
	}
}

// qualified returns the type a const, volatile, restrict or type tag
// qualifies; false for any other type.
func qualified(t btf.Type) (btf.Type, bool) {
	switch v := t.(type) {
	case *btf.Const:
		return v.Type, true
	case *btf.Volatile:
		return v.Type, true
	case *btf.Restrict:
		return v.Type, true
	case *btf.TypeTag:
		return v.Type, true
	}
	return t, false
}

// skipQualifiers is btf_type_skip_qualifiers: const, volatile, restrict and
// type tags, not typedefs.
func skipQualifiers(t btf.Type) btf.Type {
	for i := 0; i < resolveDepth; i++ {
		inner, ok := qualified(t)
		if !ok {
			return t
		}
		t = inner
	}
	return t
}

// skipModifiers is btf_type_skip_modifiers: qualifiers and typedefs.
func skipModifiers(t btf.Type) (btf.Type, bool) {
	for i := 0; i < resolveDepth; i++ {
		if td, ok := t.(*btf.Typedef); ok {
			t = td.Type
			continue
		}
		inner, ok := qualified(t)
		if !ok {
			return t, t != nil
		}
		t = inner
	}
	return t, false
}

// resolveSize is btf_resolve_size: the size of t, arrays multiplied out.
func resolveSize(t btf.Type) (uint32, bool) {
	nelems := uint64(1)
	for i := 0; i < resolveDepth; i++ {
		var size uint64
		switch v := t.(type) {
		case *btf.Int:
			size = uint64(v.Size)
		case *btf.Struct:
			size = uint64(v.Size)
		case *btf.Union:
			size = uint64(v.Size)
		case *btf.Enum:
			size = uint64(v.Size)
		case *btf.Float:
			size = uint64(v.Size)
		case *btf.Pointer:
			size = 8
		case *btf.Typedef:
			t = v.Type
			continue
		case *btf.Const:
			t = v.Type
			continue
		case *btf.Volatile:
			t = v.Type
			continue
		case *btf.Restrict:
			t = v.Type
			continue
		case *btf.TypeTag:
			t = v.Type
			continue
		case *btf.Array:
			nelems *= uint64(v.Nelems)
			if nelems > 1<<32-1 {
				return 0, false
			}
			t = v.Type
			continue
		default:
			return 0, false
		}
		if nelems != 0 && size > (1<<32-1)/nelems {
			return 0, false
		}
		return uint32(size * nelems), true
	}
	return 0, false
}

// objSafe is btf_show_obj_safe: the bytes at data, from the safe window,
// copying a new window when data is outside the current one. nil means
// the data could not be read (status set).
func (s *shower) objSafe(t btf.Type, data uint64) []byte {
	size, ok := resolveSize(t)
	if !ok {
		s.status = unix.EINVAL
		return nil
	}
	var safe []byte
	if s.depth == 0 {
		s.objSize = size
		s.objHead = data
	} else {
		n := uint64(min(size, baseTypeSize))
		// btf_show_obj_is_safe: data >= obj.data && data+size < obj.data+32
		if data >= s.objData && data-s.objData < objSafeSize && data-s.objData+n < objSafeSize {
			safe = s.safe[data-s.objData:]
		}
	}
	if safe == nil {
		left := int64(s.objHead) + int64(s.objSize) - int64(data)
		left = max(0, min(left, objSafeSize))
		var b []byte
		var err error
		if left > 0 {
			b, err = s.cfg.Mem.Read(data, int(left))
			if err == nil && len(b) < int(left) {
				err = unix.EFAULT
			}
		}
		if err != nil {
			s.status = errnoOf(err)
			return nil
		}
		s.status = 0
		copy(s.safe[:], b)
		s.objData = data
		safe = s.safe[:]
	}
	return safe
}

func errnoOf(err error) unix.Errno {
	var e unix.Errno
	if errors.As(err, &e) && e != 0 {
		return e
	}
	return unix.EFAULT
}

// startType is btf_show_start_type.
func (s *shower) startType(t, ref btf.Type, data uint64) []byte {
	s.typ = t
	s.typeRef = ref
	return s.objSafe(t, data)
}

// endType is btf_show_end_type.
func (s *shower) endType() {
	s.typ = nil
	s.typeRef = nil
}

// startAggr is btf_show_start_aggr_type.
func (s *shower) startAggr(t, ref btf.Type, data uint64) bool {
	if s.startType(t, ref, data) == nil {
		return false
	}
	s.emit(s.indent() + s.name() + s.newline())
	s.depth++
	return true
}

// endAggr is btf_show_end_aggr_type.
func (s *shower) endAggr(suffix string) {
	s.depth--
	s.emit(s.indent() + suffix + s.delim() + s.newline())
	s.endType()
}

// show dispatches on the kind, as btf_type_ops(t)->show. ref is the type
// the kernel's type_id names (the typedef for a typedef'd value).
func (s *shower) show(t, ref btf.Type, data uint64, bitsOffset uint8) {
	if s.stop {
		return
	}
	if s.steps--; s.steps < 0 || s.depth > maxDepth {
		s.stop = true
		return
	}
	switch v := t.(type) {
	case *btf.Typedef, *btf.Const, *btf.Volatile, *btf.Restrict, *btf.TypeTag:
		// btf_modifier_show: skip the modifiers, keep the type id.
		rt, ok := skipModifiers(v)
		if !ok {
			s.unsupported(rt)
			return
		}
		s.show(rt, ref, data, bitsOffset)
	case *btf.Var:
		s.show(v.Type, v.Type, data, bitsOffset)
	case *btf.Int:
		s.showInt(v, ref, data, bitsOffset)
	case *btf.Pointer:
		s.showPtr(v, ref, data)
	case *btf.Array:
		s.showAggr(func() { s.showArray(v, ref, data, bitsOffset) })
	case *btf.Struct:
		s.showAggr(func() { s.showStruct(v, v.Members, ref, data) })
	case *btf.Union:
		s.showAggr(func() { s.showStruct(v, v.Members, ref, data) })
	case *btf.Enum:
		s.showEnum(v, ref, data)
	case *btf.Datasec:
		// btf_resolve_size refuses DATASEC: nothing is shown.
		s.startType(v, ref, data)
	default:
		s.unsupported(t)
	}
}

// unsupported is btf_df_show.
func (s *shower) unsupported(t btf.Type) {
	s.emit(fmt.Sprintf("<unsupported kind:%d>", kindOf(t)))
}

func kindOf(t btf.Type) int {
	switch t.(type) {
	case *btf.Fwd:
		return 7
	case *btf.Func:
		return 12
	case *btf.FuncProto:
		return 13
	case *btf.Float:
		return 16
	case *btf.Var:
		return 14
	case *btf.Datasec:
		return 15
	}
	if t != nil && fmt.Sprintf("%T", t) == "*btf.declTag" {
		return 17
	}
	return 0
}

// showAggr is the zero check of btf_struct_show and btf_array_show: below
// the top level and without FlagZero, walk once silently and show only if
// something non-zero was found.
func (s *shower) showAggr(walk func()) {
	m := s.member
	if s.depth > 0 && s.cfg.Flags&FlagZero == 0 {
		if s.depthCheck == 0 {
			s.depthCheck = s.depth + 1
			s.depthToShow = 0
		}
		walk()
		s.member = m
		if s.depthCheck != s.depth+1 {
			return
		}
		s.depthCheck = 0
		if s.depthToShow <= s.depth {
			return
		}
	}
	walk()
}

// showStruct is __btf_struct_show.
func (s *shower) showStruct(t btf.Type, members []btf.Member, ref btf.Type, data uint64) {
	if !s.startAggr(t, ref, data) {
		return
	}
	for i := range members {
		if s.stop {
			break
		}
		m := &members[i]
		s.member = m
		off := uint64(m.Offset)
		bytesOff, bits8 := off/8, uint8(off%8)
		if m.BitfieldSize != 0 {
			safe := s.startType(m.Type, m.Type, data+bytesOff)
			if safe != nil {
				s.bitfield(safe, bits8, uint32(m.BitfieldSize))
			}
			s.endType()
		} else {
			s.show(m.Type, m.Type, data+bytesOff, bits8)
		}
		s.member = nil
	}
	s.endAggr("}")
}

// showArray is __btf_array_show.
func (s *shower) showArray(t *btf.Array, ref btf.Type, data uint64, bitsOffset uint8) {
	elem, ok := skipModifiers(t.Type)
	var elemSize uint64
	charArray := false
	if ok {
		switch v := elem.(type) {
		case *btf.Int:
			elemSize = uint64(v.Size)
			charArray = v.Size == 1
		case *btf.Struct:
			elemSize = uint64(v.Size)
		case *btf.Union:
			elemSize = uint64(v.Size)
		case *btf.Enum:
			elemSize = uint64(v.Size)
		case *btf.Float:
			elemSize = uint64(v.Size)
		case *btf.Datasec:
			elemSize = uint64(v.Size)
		}
	}
	// btf_show_start_array_type
	s.arrayChar = charArray
	s.arrayTerminated = false
	if !s.startAggr(t, ref, data) {
		return
	}
	if ok {
		for i := uint32(0); i < t.Nelems && !s.stop; i++ {
			s.arrayMember = true
			s.member = nil
			s.show(elem, t.Type, data, bitsOffset)
			data += elemSize
			s.arrayMember = false
			s.member = nil
			if s.arrayTerminated {
				break
			}
		}
	}
	// btf_show_end_array_type
	s.arrayChar = false
	s.arrayTerminated = false
	s.endAggr("]")
}

// showInt is btf_int_show.
func (s *shower) showInt(t *btf.Int, ref btf.Type, data uint64, bitsOffset uint8) {
	safe := s.startType(t, ref, data)
	if safe == nil {
		return
	}
	defer s.endType()
	nrBits := t.Size * 8
	if bitsOffset != 0 || nrBits > 128 {
		s.bitfield(safe, bitsOffset, min(nrBits, 128))
		return
	}
	sign := t.Encoding&btf.Signed != 0
	le := binary.LittleEndian
	switch nrBits {
	case 128:
		s.int128(le.Uint64(safe[0:]), le.Uint64(safe[8:]))
	case 64:
		v := le.Uint64(safe)
		if sign {
			s.value(strconv.FormatInt(int64(v), 10), v != 0)
		} else {
			s.value(strconv.FormatUint(v, 10), v != 0)
		}
	case 32:
		v := le.Uint32(safe)
		if sign {
			s.value(strconv.FormatInt(int64(int32(v)), 10), v != 0)
		} else {
			s.value(strconv.FormatUint(uint64(v), 10), v != 0)
		}
	case 16:
		v := le.Uint16(safe)
		if sign {
			s.value(strconv.FormatInt(int64(int16(v)), 10), v != 0)
		} else {
			s.value(strconv.FormatUint(uint64(v), 10), v != 0)
		}
	case 8:
		v := safe[0]
		if s.arrayChar {
			if s.arrayTerminated {
				return
			}
			if v == 0 {
				s.arrayTerminated = true
				return
			}
			if isprint(v) {
				s.value("'"+string([]byte{v})+"'", true)
				return
			}
		}
		if sign {
			s.value(strconv.FormatInt(int64(int8(v)), 10), v != 0)
		} else {
			s.value(strconv.FormatUint(uint64(v), 10), v != 0)
		}
	default:
		s.bitfield(safe, bitsOffset, nrBits)
	}
}

// isprint is the kernel's lib/ctype.c isprint: ASCII 32-126 and Latin-1
// 160-255.
func isprint(c byte) bool {
	return (c >= 32 && c <= 126) || c >= 160
}

// bitfield is btf_bitfield_show: nrBits bits at bitsOffset in data, as hex.
func (s *shower) bitfield(data []byte, bitsOffset uint8, nrBits uint32) {
	copyBits := uint32(bitsOffset) + nrBits
	if copyBits > 128 || nrBits == 0 {
		// The BTF verifier refuses these; show the value as 0.
		s.int128(0, 0)
		return
	}
	var b [16]byte
	copy(b[:], data[:min(len(data), int((copyBits+7)/8))])
	lo := binary.LittleEndian.Uint64(b[0:])
	hi := binary.LittleEndian.Uint64(b[8:])
	// btf_int128_shift: left by 128-copyBits, right by 128-nrBits.
	left, right := 128-copyBits, 128-nrBits
	if left >= 64 {
		hi, lo = lo<<(left-64), 0
	} else if left > 0 {
		hi, lo = hi<<left|lo>>(64-left), lo<<left
	}
	if right >= 64 {
		lo, hi = hi>>(right-64), 0
	} else if right > 0 {
		lo, hi = lo>>right|hi<<(64-right), hi>>right
	}
	s.int128(lo, hi)
}

// int128 is btf_int128_print.
func (s *shower) int128(lo, hi uint64) {
	if hi == 0 {
		s.value("0x"+strconv.FormatUint(lo, 16), lo != 0)
		return
	}
	s.values(fmt.Sprintf("0x%x%016x", hi, lo))
}

// showPtr is btf_ptr_show.
func (s *shower) showPtr(t *btf.Pointer, ref btf.Type, data uint64) {
	safe := s.startType(t, ref, data)
	if safe == nil {
		return
	}
	v := binary.LittleEndian.Uint64(safe)
	var digits string
	if s.cfg.Flags&FlagPtrRaw != 0 || s.cfg.Pointer == nil {
		digits = fmt.Sprintf("%016x", v)
	} else {
		digits = s.cfg.Pointer(v)
	}
	s.value("0x"+digits, v != 0)
	s.endType()
}

// showEnum is btf_enum_show and btf_enum64_show.
func (s *shower) showEnum(t *btf.Enum, ref btf.Type, data uint64) {
	safe := s.startType(t, ref, data)
	if safe == nil {
		return
	}
	defer s.endType()
	if t.Size == 8 {
		v := binary.LittleEndian.Uint64(safe)
		for _, e := range t.Values {
			if e.Value == v {
				s.value(e.Name, true)
				return
			}
		}
		if t.Signed {
			s.value(strconv.FormatInt(int64(v), 10), v != 0)
		} else {
			s.value(strconv.FormatUint(v, 10), v != 0)
		}
		return
	}
	v := binary.LittleEndian.Uint32(safe)
	for _, e := range t.Values {
		if uint32(e.Value) == v {
			s.value(e.Name, true)
			return
		}
	}
	if t.Signed {
		s.value(strconv.FormatInt(int64(int32(v)), 10), v != 0)
	} else {
		s.value(strconv.FormatUint(uint64(v), 10), v != 0)
	}
}
