package bprintf

import (
	"strconv"
)

// The part of lib/vsprintf.c that bstr_printf reaches for formats that
// bpf_bprintf_prepare accepts.

// printf_spec flags.
const (
	fSign    = 1  // unsigned/signed
	fLeft    = 2  // left justified
	fPlus    = 4  // show plus
	fSpace   = 8  // space if plus
	fZeropad = 16 // pad with zero, must be 16 == '0' - ' '
	fSmall   = 32 // use lowercase in hex (must be 32 == 0x20)
	fSpecial = 64 // prefix hex with "0x", octal with "0"
)

const hexUpper = "0123456789ABCDEF"

// fieldWidthMax is FIELD_WIDTH_MAX.
const fieldWidthMax = 1<<23 - 1

// spec is struct printf_spec (v6.14+ layout: an int field width).
type spec struct {
	flags      uint8
	base       uint8
	precision  int32 // a short in the kernel; -1 when absent
	fieldWidth int32 // a C int: arithmetic wraps as the kernel's does
}

// writer is the kernel's str/end pair: pos is str - buf (it keeps counting
// past the end), size is end - buf. dst holds the bytes stored so far: either
// a fixed buffer (trace_printk's per-CPU buf) or a slice grown on demand up to
// size, so that huge field widths cost time and memory bounded by size.
type writer struct {
	dst   []byte
	fixed bool
	size  int64
	pos   int64
}

// ensure makes dst hold at least min(n, size) bytes.
func (w *writer) ensure(n int64) {
	if w.fixed {
		return
	}
	n = min(n, w.size)
	if grow := n - int64(len(w.dst)); grow > 0 {
		w.dst = append(w.dst, make([]byte, grow)...)
	}
}

func (w *writer) store(at int64, c byte) {
	if at < 0 || at >= w.size {
		return
	}
	w.ensure(at + 1)
	w.dst[at] = c
}

// put is "if (str < end) *str = c; ++str;".
func (w *writer) put(c byte) {
	if w.pos < w.size {
		w.store(w.pos, c)
	}
	w.pos++
}

// pad puts c n times, storing only what fits.
func (w *writer) pad(c byte, n int64) {
	if n <= 0 {
		return
	}
	if fit := min(n, max(w.size-w.pos, 0)); fit > 0 {
		w.ensure(w.pos + fit)
		for k := w.pos; k < w.pos+fit; k++ {
			w.dst[k] = c
		}
	}
	w.pos += n
}

// terminate is bstr_printf's epilogue: NUL at str, or at end[-1] when full.
func (w *writer) terminate() {
	if w.size <= 0 {
		return
	}
	if w.pos < w.size {
		w.store(w.pos, 0)
	} else {
		w.store(w.size-1, 0)
	}
}

// decLoop returns how often "while (--x >= 0) body;" runs the body for a C
// int x, and x afterwards.
func decLoop(x int32) (int64, int32) {
	x--
	if x < 0 {
		return 0, x
	}
	return int64(x) + 1, -1
}

// decLoopGT0 is decLoop for "while (--x > 0) body;".
func decLoopGT0(x int32) (int64, int32) {
	x--
	if x <= 0 {
		return 0, x
	}
	return int64(x), 0
}

// number is lib/vsprintf.c's number().
func (w *writer) number(num uint64, sp spec) {
	var tmp [66]byte
	needPfx := sp.flags&fSpecial != 0 && sp.base != 10
	isZero := num == 0
	fw := sp.fieldWidth
	precision := sp.precision
	locase := sp.flags & fSmall
	if sp.flags&fLeft != 0 {
		sp.flags &^= fZeropad
	}
	var sign byte
	if sp.flags&fSign != 0 {
		switch {
		case int64(num) < 0:
			sign = '-'
			num = uint64(-int64(num))
			fw--
		case sp.flags&fPlus != 0:
			sign = '+'
			fw--
		case sp.flags&fSpace != 0:
			sign = ' '
			fw--
		}
	}
	if needPfx {
		if sp.base == 16 {
			fw -= 2
		} else if !isZero {
			fw--
		}
	}

	// The digits, most significant first (the kernel builds them reversed).
	var digits []byte
	switch {
	case num < uint64(sp.base):
		tmp[0] = hexUpper[num] | locase
		digits = tmp[:1]
	case sp.base != 10:
		s := strconv.AppendUint(tmp[:0], num, int(sp.base))
		for k := range s {
			if s[k] >= 'a' {
				s[k] = (s[k] - 'a' + 'A') | locase
			}
		}
		digits = s
	default:
		digits = strconv.AppendUint(tmp[:0], num, 10)
	}
	i := int32(len(digits))

	if i > precision {
		precision = i
	}
	fw -= precision
	var n int64
	if sp.flags&(fZeropad|fLeft) == 0 {
		n, fw = decLoop(fw)
		w.pad(' ', n)
	}
	if sign != 0 {
		w.put(sign)
	}
	if needPfx {
		if sp.base == 16 || !isZero {
			w.put('0')
		}
		if sp.base == 16 {
			w.put('X' | locase)
		}
	}
	if sp.flags&fLeft == 0 {
		c := ' ' + sp.flags&fZeropad
		n, fw = decLoop(fw)
		w.pad(c, n)
	}
	for {
		precision--
		if i > precision {
			break
		}
		w.put('0')
	}
	for _, d := range digits {
		w.put(d)
	}
	n, _ = decLoop(fw)
	w.pad(' ', n)
}

// stringNocheck is string_nocheck() with no precision (bpf formats have
// none): it copies src(0), src(1), ... up to the first NUL, then widens.
// src reads live so that trace_printk's aliasing of output and arguments is
// reproduced.
func (w *writer) stringNocheck(src func(int) byte, sp spec) {
	var n int32
	for k := 0; ; k++ {
		c := src(k)
		if c == 0 {
			break
		}
		w.put(c)
		n++
	}
	w.widenString(n, sp)
}

func (w *writer) stringText(s string, sp spec) {
	w.stringNocheck(func(k int) byte {
		if k < len(s) {
			return s[k]
		}
		return 0
	}, sp)
}

// widenString is widen_string(): right alignment is done by moving the n
// bytes just written to the right.
func (w *writer) widenString(n int32, sp spec) {
	if n >= sp.fieldWidth {
		return
	}
	spaces := int64(uint32(sp.fieldWidth - n))
	if sp.flags&fLeft == 0 {
		start := w.pos - int64(n)
		w.ensure(w.pos + spaces)
		w.moveRight(start, int64(n), spaces)
		w.pos += spaces
		return
	}
	w.pad(' ', spaces)
}

// moveRight is move_right().
func (w *writer) moveRight(start, n, spaces int64) {
	if start >= w.size {
		return
	}
	size := w.size - start
	if size <= spaces {
		for k := int64(0); k < size; k++ {
			w.store(start+k, ' ')
		}
		return
	}
	if n > 0 {
		n = min(n, size-spaces)
		for k := n - 1; k >= 0; k-- {
			w.store(start+spaces+k, w.dst[start+k])
		}
	}
	for k := int64(0); k < spaces; k++ {
		w.store(start+k, ' ')
	}
}

// pointerString is pointer_string(): 16 zero-padded lowercase hex digits
// unless a width was given.
func (w *writer) pointerString(ptr uint64, sp spec) {
	sp.base = 16
	sp.flags |= fSmall
	if sp.fieldWidth == -1 {
		sp.fieldWidth = 16
		sp.flags |= fZeropad
	}
	w.number(ptr, sp)
}

// isErrOrNull is IS_ERR_OR_NULL for a 64-bit pointer.
func isErrOrNull(ptr uint64) bool {
	return ptr == 0 || ptr >= uint64(1<<64-4095)
}

// defaultPointer is default_pointer()/ptr_to_id(): NULL and error pointers
// print as they are, others as the low 32 bits of siphash(ptr, ptr_key).
func (p Printer) defaultPointer(w *writer, ptr uint64, sp spec) {
	if p.NoHashPointers || isErrOrNull(ptr) {
		w.pointerString(ptr, sp)
		return
	}
	w.pointerString(siphash1u64(ptr, p.PtrKey)&0xffffffff, sp)
}

// pointer is pointer() for the forms bstr_printf formats itself: %pK, %px,
// %ps, %pS and %p followed by a non-alphanumeric character.
func (p Printer) pointer(w *writer, kind byte, ptr uint64, sp spec) {
	switch kind {
	case 'S', 's':
		w.stringText(symbolText(ptr), sp)
	case 'x':
		w.pointerString(ptr, sp)
	case 'K':
		switch p.KptrRestrict {
		case 0:
			p.defaultPointer(w, ptr, sp)
			return
		case 1:
			// Iterator and trace programs run in task context here, so
			// the kernel's "pK-error" (IRQ context) does not arise.
			if !p.CapSyslog {
				ptr = 0
			}
		default:
			ptr = 0
		}
		w.pointerString(ptr, sp)
	default:
		p.defaultPointer(w, ptr, sp)
	}
}

// symbolText is what sprint_symbol and friends print for an address that
// kallsyms does not know ("0x%lx"): this package has no symbol table.
func symbolText(addr uint64) string {
	return "0x" + strconv.FormatUint(addr, 16)
}

// ipText is the snprintf("%pI4"/"%pi4"/"%pI6"/"%pi6") that
// bpf_bprintf_prepare runs on the 4 or 16 bytes it read.
func ipText(kind, ver byte, ip []byte) string {
	var b []byte
	if ver == '4' {
		for k := 0; k < 4; k++ {
			d := strconv.Itoa(int(ip[k]))
			if kind == 'i' {
				for len(d) < 3 {
					d = "0" + d
				}
			}
			b = append(b, d...)
			if k < 3 {
				b = append(b, '.')
			}
		}
		return string(b)
	}
	const hexLower = "0123456789abcdef"
	for k := 0; k < 8; k++ {
		for _, c := range ip[2*k : 2*k+2] {
			b = append(b, hexLower[c>>4], hexLower[c&15])
		}
		if kind == 'I' && k != 7 {
			b = append(b, ':')
		}
	}
	return string(b)
}

// bstrPrintf is bstr_printf(buf, size, fmt, bin_args) with the output going
// to w and the arguments read from st.region.
func (st *prepared) bstrPrintf(p Printer, w *writer) {
	f := st.fmt
	at := func(i int) byte {
		if i < len(f) {
			return f[i]
		}
		return 0
	}
	args := 0 // offset of the next argument in st.region
	align := func(a int) { args = (args + a - 1) &^ (a - 1) }
	getU32 := func() uint32 {
		align(4)
		v := uint32(st.get(args)) | uint32(st.get(args+1))<<8 |
			uint32(st.get(args+2))<<16 | uint32(st.get(args+3))<<24
		args += 4
		return v
	}
	getU64 := func() uint64 {
		lo := uint64(getU32())
		return lo | uint64(getU32())<<32
	}

	i := 0
	for i < len(f) {
		// FORMAT_STATE_NONE: literal text up to the next '%'.
		if f[i] != '%' {
			for i < len(f) && f[i] != '%' {
				w.put(f[i])
				i++
			}
			continue
		}
		sp := spec{fieldWidth: -1, precision: -1, base: 10}
		for {
			i++
			switch at(i) {
			case '-':
				sp.flags |= fLeft
				continue
			case '+':
				sp.flags |= fPlus
				continue
			case ' ':
				sp.flags |= fSpace
				continue
			case '#':
				sp.flags |= fSpecial
				continue
			case '0':
				sp.flags |= fZeropad
				continue
			}
			break
		}
		if isdigit(at(i)) {
			// skip_atoi into a C int (it wraps), then clamped to
			// ±FIELD_WIDTH_MAX as set_field_width does (with a WARN):
			// measured on 6.18, "%16777217d" pads to 8388607 columns and
			// "%2147483648d" (INT_MIN) does not pad at all.
			var v int32
			for isdigit(at(i)) {
				v = v*10 + int32(at(i)-'0')
				i++
			}
			sp.fieldWidth = min(max(v, -fieldWidthMax), fieldWidthMax)
		}
		if at(i) == '*' || at(i) == '.' {
			// bpf_bprintf_prepare rejects '*' and precision; stop as
			// vsprintf does on a format it cannot follow.
			break
		}
		size := 4
		switch at(i) {
		case 'l':
			size = 8
			i++
			if at(i) == 'l' {
				i++
			}
		case 'L', 'z', 't':
			size = 8
			i++
		case 'h':
			size = 2
			i++
			if at(i) == 'h' {
				size = 1
				i++
			}
		case 'H':
			size = 1
			i++
		}
		conv := at(i)
		i++
		switch conv {
		case 'c':
			var n int64
			if sp.flags&fLeft == 0 {
				n, sp.fieldWidth = decLoopGT0(sp.fieldWidth)
				w.pad(' ', n)
			}
			c := st.get(args) // get_arg(char): byte aligned
			args++
			w.put(c)
			n, sp.fieldWidth = decLoopGT0(sp.fieldWidth)
			w.pad(' ', n)
		case 's':
			start := args
			args += st.strlen(start) + 1
			w.stringNocheck(func(k int) byte { return st.get(start + k) }, sp)
		case 'p':
			kind := at(i)
			switch {
			case kind == 'S' || kind == 's' || kind == 'x' || kind == 'K' || kind == 'e' || !isalnum(kind):
				p.pointer(w, kind, getU64(), sp)
			default:
				// Pre-formatted by bpf_bprintf_prepare (%pks, %pus,
				// %pI4, %pB, ...): copied as is, without width or
				// flags. The kernel advances past the string only
				// while the output still fits.
				if w.pos < w.size {
					l := st.strlen(args)
					cp := min(int64(l), w.size-w.pos)
					for k := int64(0); k < cp; k++ {
						w.store(w.pos+k, st.get(args+int(k)))
					}
					w.pos += int64(l)
					args += l + 1
				}
			}
			for isalnum(at(i)) {
				i++
			}
		case '%':
			w.put('%')
		case 'o', 'x', 'X', 'd', 'i', 'u':
			switch conv {
			case 'o':
				sp.base = 8
			case 'x':
				sp.flags |= fSmall
				sp.base = 16
			case 'X':
				sp.base = 16
			case 'd', 'i':
				sp.flags |= fSign
			}
			var num uint64
			if size > 4 {
				num = getU64()
			} else {
				v := getU32()
				shift := uint(32 - size*8)
				v <<= shift
				if sp.flags&fSign != 0 {
					num = uint64(int64(int32(v) >> shift))
				} else {
					num = uint64(v >> shift)
				}
			}
			w.number(num, sp)
		default:
			// FORMAT_STATE_INVALID: vsprintf stops here.
			return
		}
	}
}

// siphash1u64 is the kernel's siphash_1u64 (SipHash-2-4 of one u64).
func siphash1u64(first uint64, key [2]uint64) uint64 {
	v0 := uint64(0x736f6d6570736575) ^ key[0]
	v1 := uint64(0x646f72616e646f6d) ^ key[1]
	v2 := uint64(0x6c7967656e657261) ^ key[0]
	v3 := uint64(0x7465646279746573) ^ key[1]
	round := func() {
		v0 += v1
		v1 = v1<<13 | v1>>51
		v1 ^= v0
		v0 = v0<<32 | v0>>32
		v2 += v3
		v3 = v3<<16 | v3>>48
		v3 ^= v2
		v0 += v3
		v3 = v3<<21 | v3>>43
		v3 ^= v0
		v2 += v1
		v1 = v1<<17 | v1>>47
		v1 ^= v2
		v2 = v2<<32 | v2>>32
	}
	b := uint64(8) << 56
	v3 ^= first
	round()
	round()
	v0 ^= first
	v3 ^= b
	round()
	round()
	v0 ^= b
	v2 ^= 0xff
	round()
	round()
	round()
	round()
	return v0 ^ v1 ^ v2 ^ v3
}
