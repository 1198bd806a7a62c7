// Package bpfasm is a text assembler and disassembler for eBPF bytecode in the
// syntax of the bpf_conformance suite (the one its .data files are written in):
//
//	mov %r0, 1                 # ALU64; "mov32" is the ALU (32-bit) form
//	ldxdw %r1, [%r1+8]         # loads, stores, sign-extending loads (ldxsb ...)
//	lock fetch add [%r10-8], %r1
//	jne %r0, 15, fail          # labels, or relative targets such as +1 / -3
//	call local f               # bpf-to-bpf call; "call 5" is helper 5,
//	                           # "call runtime 7" a call by BTF id, "call %r2" callx
//	lddw %r1, 0x1122334455667788
//	ja32 L1                    # also movsx1632, sdiv32, be16, le32, bswap64 ...
//
// It stands for no kernel file: the kernel has no assembler. It follows the
// suite's reference assembler (lib/src/bpf_assembler.cc) byte for byte,
// including the implicit label "exit" that names the first exit instruction
// and the fake registers %r11..%r15 that negative tests use, and is stricter in
// one way: a number must be a whole token ("5abc" is an error, not 5).
//
// Two extensions make every byte sequence printable: ".insn 0x<64-bit word>"
// emits one raw instruction slot (the word is little-endian, opcode in the low
// byte, as in the suite's "-- raw" sections), and operands may be separated by
// commas without spaces. Disassemble uses ".insn" for anything the syntax
// cannot express (unknown opcodes, non-zero unused fields, lddw with a pseudo
// source), so Assemble(Disassemble(b)) == b for every b whose length is a
// multiple of 8.
//
// The package works on raw bytes only and imports nothing from the
// interpreter; interp uses it for logs and traces.
package bpfasm

import (
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// InsnSize is the size of one instruction slot in bytes.
const InsnSize = 8

// SyntaxError reports a line that does not assemble.
type SyntaxError struct {
	Line int    // 1-based source line; 0 when the error is not tied to a line
	Msg  string // what is wrong, in the reference assembler's words where it has any
}

func (e *SyntaxError) Error() string {
	if e.Line == 0 {
		return e.Msg
	}
	return fmt.Sprintf("line %d: %s", e.Line, e.Msg)
}

// Opcode bytes and fields used by both directions.
const (
	clsLD    = 0x00
	clsLDX   = 0x01
	clsST    = 0x02
	clsSTX   = 0x03
	clsALU   = 0x04
	clsJMP   = 0x05
	clsJMP32 = 0x06
	clsALU64 = 0x07

	srcX = 0x08

	opLDDW   = 0x18
	opCall   = 0x85
	opCallX  = 0x8d
	opExit   = 0x95
	opJA     = 0x05
	opJA32   = 0x06
	opLE     = 0xd4
	opBE     = 0xdc
	opBSwap  = 0xd7
	opAtom32 = 0xc3
	opAtom64 = 0xdb

	atomicFetch   = 0x01
	atomicXchg    = 0xe0 | atomicFetch
	atomicCmpXchg = 0xf0 | atomicFetch
)

// raw is one instruction slot being assembled or disassembled.
type raw struct {
	op  uint8
	dst uint8
	src uint8
	off int16
	imm int32
}

func (r raw) put(b []byte) {
	b[0] = r.op
	b[1] = r.dst&0xf | r.src<<4
	binary.LittleEndian.PutUint16(b[2:], uint16(r.off))
	binary.LittleEndian.PutUint32(b[4:], uint32(r.imm))
}

func getRaw(b []byte) raw {
	return raw{
		op:  b[0],
		dst: b[1] & 0xf,
		src: b[1] >> 4,
		off: int16(binary.LittleEndian.Uint16(b[2:])),
		imm: int32(binary.LittleEndian.Uint32(b[4:])),
	}
}

var aluOps = map[string]uint8{
	"add": 0x0, "sub": 0x1, "mul": 0x2, "div": 0x3, "sdiv": 0x3, "or": 0x4, "and": 0x5,
	"lsh": 0x6, "rsh": 0x7, "neg": 0x8, "mod": 0x9, "smod": 0x9, "xor": 0xa, "mov": 0xb,
	"arsh": 0xc,
}

var jmpOps = map[string]uint8{
	"jeq": 0x1, "jgt": 0x2, "jge": 0x3, "jset": 0x4, "jne": 0x5, "jsgt": 0x6, "jsge": 0x7,
	"jlt": 0xa, "jle": 0xb, "jslt": 0xc, "jsle": 0xd,
}

var atomicOps = map[string]int32{"add": 0x00, "or": 0x40, "and": 0x50, "xor": 0xa0}

var ldxOps = map[string]uint8{
	"ldxw": 0x61, "ldxh": 0x69, "ldxb": 0x71, "ldxdw": 0x79,
	"ldxsw": 0x81, "ldxsh": 0x89, "ldxsb": 0x91,
}

var stOps = map[string]uint8{"stw": 0x62, "sth": 0x6a, "stb": 0x72, "stdw": 0x7a}

var stxOps = map[string]uint8{"stxw": 0x63, "stxh": 0x6b, "stxb": 0x73, "stxdw": 0x7b}

// fixup is a pending label reference.
type fixup struct {
	slot  int
	label string
	imm   bool // the target goes into imm (call local, ja32) rather than offset
	line  int
}

type assembler struct {
	out     []raw
	labels  map[string]int
	fixups  []fixup
	sawExit bool
	line    int
}

func (a *assembler) errf(format string, args ...any) error {
	return &SyntaxError{Line: a.line, Msg: fmt.Sprintf(format, args...)}
}

// Assemble translates source text into bytecode, 8 bytes per instruction slot.
func Assemble(src string) ([]byte, error) {
	a := &assembler{labels: map[string]int{}}
	for n, line := range strings.Split(src, "\n") {
		a.line = n + 1
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		fields := splitFields(line)
		if len(fields) == 0 {
			continue
		}
		if err := a.statement(fields[0], fields[1:]); err != nil {
			return nil, err
		}
	}
	for _, f := range a.fixups {
		target, ok := a.labels[f.label]
		if !ok {
			return nil, &SyntaxError{Line: f.line, Msg: "Invalid label: " + f.label}
		}
		rel := target - f.slot - 1
		if f.imm {
			a.out[f.slot].imm = int32(rel)
		} else {
			if rel < math.MinInt16 || rel > math.MaxInt16 {
				return nil, &SyntaxError{Line: f.line, Msg: fmt.Sprintf("jump to %s out of 16-bit range", f.label)}
			}
			a.out[f.slot].off = int16(rel)
		}
	}
	b := make([]byte, len(a.out)*InsnSize)
	for i, r := range a.out {
		r.put(b[i*InsnSize:])
	}
	return b, nil
}

// splitFields splits a line into whitespace/comma separated tokens, keeping a
// bracketed memory operand together.
func splitFields(line string) []string {
	var out []string
	cur := strings.Builder{}
	depth := 0
	flush := func() {
		if cur.Len() > 0 {
			out = append(out, cur.String())
			cur.Reset()
		}
	}
	for _, c := range line {
		switch {
		case c == '[':
			depth++
			cur.WriteRune(c)
		case c == ']':
			depth--
			cur.WriteRune(c)
		case depth <= 0 && (c == ' ' || c == '\t' || c == '\r' || c == ','):
			flush()
		case depth > 0 && (c == ' ' || c == '\t'):
			// "[%r1 + 8]" is read as "[%r1+8]".
		default:
			cur.WriteRune(c)
		}
	}
	flush()
	return out
}

func (a *assembler) emit(r raw) { a.out = append(a.out, r) }

func (a *assembler) statement(mn string, ops []string) error {
	if strings.HasSuffix(mn, ":") {
		if len(ops) != 0 {
			return a.errf("unexpected text after label %s", mn)
		}
		label := strings.TrimSuffix(mn, ":")
		if label == "" {
			return a.errf("empty label")
		}
		if prev, dup := a.labels[label]; dup {
			return a.errf("Duplicate label (%s) detected at instruction %d (previous declaration at instruction %d)", label, len(a.out), prev)
		}
		a.labels[label] = len(a.out)
		return nil
	}
	if mn == "exit" && !a.sawExit {
		// The reference assembler names the first exit "exit" (overwriting
		// nothing it has not seen yet), so "ja exit" works.
		a.labels["exit"] = len(a.out)
		a.sawExit = true
	}
	switch {
	case mn == ".insn":
		if len(ops) != 1 {
			return a.errf("Invalid number of operands for mnemonic: .insn")
		}
		v, err := parseUint64(ops[0])
		if err != nil {
			return a.errf("invalid .insn word %q", ops[0])
		}
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], v)
		a.emit(getRaw(b[:]))
		return nil
	case mn == "lock":
		return a.lock(ops)
	case mn == "lddw":
		if len(ops) != 2 {
			return a.errf("Invalid number of operands for mnemonic: lddw")
		}
		dst, err := a.reg(ops[0])
		if err != nil {
			return err
		}
		v, err := parseImm64(ops[1])
		if err != nil {
			return a.errf("%v", err)
		}
		a.emit(raw{op: opLDDW, dst: dst, imm: int32(uint32(v))})
		a.emit(raw{imm: int32(uint32(v >> 32))})
		return nil
	case ldxOps[mn] != 0:
		if len(ops) != 2 {
			return a.errf("Invalid number of operands for mnemonic: %s", mn)
		}
		dst, err := a.reg(ops[0])
		if err != nil {
			return err
		}
		src, off, err := a.mem(ops[1])
		if err != nil {
			return err
		}
		a.emit(raw{op: ldxOps[mn], dst: dst, src: src, off: off})
		return nil
	case stOps[mn] != 0:
		if len(ops) != 2 {
			return a.errf("Invalid number of operands for mnemonic: %s", mn)
		}
		dst, off, err := a.mem(ops[0])
		if err != nil {
			return err
		}
		imm, err := a.imm32(ops[1])
		if err != nil {
			return err
		}
		a.emit(raw{op: stOps[mn], dst: dst, off: off, imm: imm})
		return nil
	case stxOps[mn] != 0:
		if len(ops) != 2 {
			return a.errf("Invalid number of operands for mnemonic: %s", mn)
		}
		dst, off, err := a.mem(ops[0])
		if err != nil {
			return err
		}
		src, err := a.reg(ops[1])
		if err != nil {
			return err
		}
		a.emit(raw{op: stxOps[mn], dst: dst, src: src, off: off})
		return nil
	case mn == "exit":
		if len(ops) != 0 {
			return a.errf("Invalid number of operands for mnemonic: exit")
		}
		a.emit(raw{op: opExit})
		return nil
	case mn == "ja" || mn == "ja32":
		if len(ops) != 1 {
			return a.errf("Invalid number of operands for mnemonic: %s", mn)
		}
		if mn == "ja" {
			off, err := a.target(ops[0], false)
			if err != nil {
				return err
			}
			a.emit(raw{op: opJA, off: int16(off)})
		} else {
			off, err := a.target(ops[0], true)
			if err != nil {
				return err
			}
			a.emit(raw{op: opJA32, imm: off})
		}
		return nil
	case mn == "call":
		return a.call(ops)
	}
	if r, ok, err := a.jump(mn, ops); ok || err != nil {
		if err == nil {
			a.emit(r)
		}
		return err
	}
	if r, ok, err := a.alu(mn, ops); ok || err != nil {
		if err == nil {
			a.emit(r)
		}
		return err
	}
	return a.errf("Invalid mnemonic: %s", mn)
}

func (a *assembler) call(ops []string) error {
	if len(ops) == 1 {
		ops = []string{"helper", ops[0]}
	}
	if len(ops) != 2 {
		return a.errf("Invalid number of operands for mnemonic: call")
	}
	switch ops[0] {
	case "helper":
		if strings.HasPrefix(ops[1], "%") {
			r, err := a.reg(ops[1])
			if err != nil {
				return err
			}
			a.emit(raw{op: opCallX, dst: r})
			return nil
		}
		imm, err := a.imm32(ops[1])
		if err != nil {
			return err
		}
		a.emit(raw{op: opCall, imm: imm})
	case "local":
		imm, err := a.target(ops[1], true)
		if err != nil {
			return err
		}
		a.emit(raw{op: opCall, src: 1, imm: imm})
	case "runtime":
		imm, err := a.imm32(ops[1])
		if err != nil {
			return err
		}
		a.emit(raw{op: opCall, src: 2, imm: imm})
	default:
		return a.errf("Invalid call mode")
	}
	return nil
}

func (a *assembler) lock(ops []string) error {
	if len(ops) == 0 {
		return a.errf("Invalid number of operands for lock")
	}
	fetch := false
	if ops[0] == "fetch" {
		fetch = true
		ops = ops[1:]
	}
	if len(ops) != 3 {
		return a.errf("Invalid number of operands for lock")
	}
	name := ops[0]
	op := uint8(opAtom64)
	if strings.HasSuffix(name, "32") {
		op = opAtom32
		name = strings.TrimSuffix(name, "32")
	}
	var imm int32
	switch name {
	case "xchg":
		imm = atomicXchg
	case "cmpxchg":
		imm = atomicCmpXchg
	default:
		v, ok := atomicOps[name]
		if !ok {
			return a.errf("Invalid mnemonic: lock %s", ops[0])
		}
		imm = v
		if fetch {
			imm |= atomicFetch
		}
	}
	dst, off, err := a.mem(ops[1])
	if err != nil {
		return err
	}
	src, err := a.reg(ops[2])
	if err != nil {
		return err
	}
	a.emit(raw{op: op, dst: dst, src: src, off: off, imm: imm})
	return nil
}

func (a *assembler) jump(mn string, ops []string) (raw, bool, error) {
	name, cls := mn, uint8(clsJMP)
	if strings.HasSuffix(mn, "32") {
		name, cls = strings.TrimSuffix(mn, "32"), clsJMP32
	}
	code, ok := jmpOps[name]
	if !ok {
		return raw{}, false, nil
	}
	if len(ops) != 3 {
		return raw{}, true, a.errf("Invalid number of operands for mnemonic: %s", mn)
	}
	r := raw{op: cls | code<<4}
	var err error
	if r.dst, err = a.reg(ops[0]); err != nil {
		return raw{}, true, err
	}
	if strings.HasPrefix(ops[1], "%") {
		r.op |= srcX
		if r.src, err = a.reg(ops[1]); err != nil {
			return raw{}, true, err
		}
	} else if r.imm, err = a.imm32(ops[1]); err != nil {
		return raw{}, true, err
	}
	off, err := a.target(ops[2], false)
	if err != nil {
		return raw{}, true, err
	}
	r.off = int16(off)
	return r, true, nil
}

func (a *assembler) alu(mn string, ops []string) (raw, bool, error) {
	for _, e := range []struct {
		prefix string
		op     uint8
	}{{"bswap", opBSwap}, {"swap", opBSwap}, {"be", opBE}, {"le", opLE}} {
		width, ok := strings.CutPrefix(mn, e.prefix)
		if !ok || (width != "16" && width != "32" && width != "64") {
			continue
		}
		if len(ops) != 1 {
			return raw{}, true, a.errf("Invalid number of operands for mnemonic: %s", mn)
		}
		dst, err := a.reg(ops[0])
		if err != nil {
			return raw{}, true, err
		}
		w, _ := strconv.Atoi(width)
		return raw{op: e.op, dst: dst, imm: int32(w)}, true, nil
	}
	name, cls := mn, uint8(clsALU64)
	if n, ok := strings.CutSuffix(mn, "32"); ok {
		name, cls = n, clsALU
	} else if n, ok := strings.CutSuffix(mn, "64"); ok && strings.HasPrefix(n, "movsx") {
		name = n
	} else if strings.HasPrefix(mn, "movsx") {
		return raw{}, false, nil // movsx needs its width suffix: movsx864, movsx1632 ...
	}
	var r raw
	if strings.HasPrefix(name, "movsx") {
		switch w := strings.TrimPrefix(name, "movsx"); w {
		case "8", "16", "32":
			v, _ := strconv.Atoi(w)
			r.off = int16(v)
			if cls == clsALU && v == 32 {
				return raw{}, false, nil // no movsx3232
			}
		default:
			return raw{}, false, nil
		}
		name = "mov"
	} else if name == "sdiv" || name == "smod" {
		r.off = 1
	}
	code, ok := aluOps[name]
	if !ok {
		return raw{}, false, nil
	}
	want := 2
	if name == "neg" {
		want = 1
	}
	if len(ops) != want {
		return raw{}, true, a.errf("Invalid number of operands for mnemonic: %s", mn)
	}
	r.op = cls | code<<4
	var err error
	if r.dst, err = a.reg(ops[0]); err != nil {
		return raw{}, true, err
	}
	if want == 2 {
		if strings.HasPrefix(ops[1], "%") {
			r.op |= srcX
			if r.src, err = a.reg(ops[1]); err != nil {
				return raw{}, true, err
			}
		} else if r.imm, err = a.imm32(ops[1]); err != nil {
			return raw{}, true, err
		}
	}
	return r, true, nil
}

func (a *assembler) reg(s string) (uint8, error) {
	if n, ok := strings.CutPrefix(s, "%r"); ok && n != "" && (len(n) == 1 || n[0] != '0') {
		if v, err := strconv.Atoi(n); err == nil && v >= 0 && v <= 15 {
			return uint8(v), nil
		}
	}
	return 0, a.errf("Invalid register: %s", s)
}

// mem parses "[%rN]", "[%rN+off]" or "[%rN-off]".
func (a *assembler) mem(s string) (uint8, int16, error) {
	inner, ok := strings.CutPrefix(s, "[")
	if ok {
		inner, ok = strings.CutSuffix(inner, "]")
	}
	if !ok {
		return 0, 0, a.errf("Failed to decode register and offset: %s", s)
	}
	i := strings.IndexAny(inner, "+-")
	if i < 0 {
		r, err := a.reg(inner)
		return r, 0, err
	}
	r, err := a.reg(inner[:i])
	if err != nil {
		return 0, 0, err
	}
	off, err := parseOffset(inner[i:])
	if err != nil {
		return 0, 0, a.errf("%v", err)
	}
	return r, off, nil
}

// target parses a jump target: a label (resolved later) or a relative +N/-N.
func (a *assembler) target(s string, wide bool) (int32, error) {
	if strings.HasPrefix(s, "+") || strings.HasPrefix(s, "-") {
		if wide {
			v, err := parseSigned(s, math.MinInt32, math.MaxInt32)
			if err != nil {
				return 0, a.errf("Offset out of 32-bit range: %s", s)
			}
			return int32(v), nil
		}
		off, err := parseOffset(s)
		if err != nil {
			return 0, a.errf("%v", err)
		}
		return int32(off), nil
	}
	if s == "" {
		return 0, a.errf("empty jump target")
	}
	a.fixups = append(a.fixups, fixup{slot: len(a.out), label: s, imm: wide, line: a.line})
	return 0, nil
}

func (a *assembler) imm32(s string) (int32, error) {
	v, err := parseImm32(s)
	if err != nil {
		return 0, a.errf("%v", err)
	}
	return v, nil
}

// splitSign separates an optional sign and reports whether the rest is hex.
func splitSign(s string) (neg bool, digits string, hex bool) {
	switch {
	case strings.HasPrefix(s, "-"):
		neg, s = true, s[1:]
	case strings.HasPrefix(s, "+"):
		s = s[1:]
	}
	if d, ok := strings.CutPrefix(s, "0x"); ok {
		return neg, d, true
	}
	if d, ok := strings.CutPrefix(s, "0X"); ok {
		return neg, d, true
	}
	return neg, s, false
}

// parseMagnitude parses unsigned digits strictly (no sign, no prefix, no junk).
func parseMagnitude(d string, hex bool) (uint64, error) {
	if d == "" || strings.ContainsAny(d, "+-_") {
		return 0, strconv.ErrSyntax
	}
	base := 10
	if hex {
		base = 16
	}
	return strconv.ParseUint(d, base, 64)
}

// parseImm32 follows the reference: hex is an unsigned 32-bit pattern
// (0xffffffff is -1), decimal must fit int32. A leading '-' on hex negates.
func parseImm32(s string) (int32, error) {
	neg, d, hex := splitSign(s)
	m, err := parseMagnitude(d, hex)
	if err != nil {
		return 0, parseErrorf("Invalid immediate: %s", s)
	}
	if hex {
		if m > math.MaxUint32 || (neg && m > 1<<31) {
			return 0, parseErrorf("Immediate out of 32-bit range: %s", s)
		}
		if neg {
			return int32(-int64(m)), nil
		}
		return int32(uint32(m)), nil
	}
	if (!neg && m > math.MaxInt32) || (neg && m > 1<<31) {
		return 0, parseErrorf("Immediate out of 32-bit range: %s", s)
	}
	if neg {
		return int32(-int64(m)), nil
	}
	return int32(m), nil
}

// parseOffset: hex is an unsigned 16-bit pattern, decimal must fit int16.
func parseOffset(s string) (int16, error) {
	neg, d, hex := splitSign(s)
	m, err := parseMagnitude(d, hex)
	if err != nil {
		return 0, parseErrorf("Invalid offset: %s", s)
	}
	if hex && !neg {
		if m > math.MaxUint16 {
			return 0, parseErrorf("Offset out of 16-bit range: %s", s)
		}
		return int16(uint16(m)), nil
	}
	if (!neg && m > math.MaxInt16) || (neg && m > 1<<15) {
		return 0, parseErrorf("Offset out of 16-bit range: %s", s)
	}
	if neg {
		return int16(-int64(m)), nil
	}
	return int16(m), nil
}

// parseError carries the reference assembler's message for a bad number.
type parseError string

func (e parseError) Error() string { return string(e) }

func parseErrorf(format string, args ...any) error {
	return parseError(fmt.Sprintf(format, args...))
}

func parseSigned(s string, lo, hi int64) (int64, error) {
	neg, d, hex := splitSign(s)
	m, err := parseMagnitude(d, hex)
	if err != nil || m > 1<<63 {
		return 0, strconv.ErrRange
	}
	v := int64(m)
	if neg {
		v = -v
	} else if m == 1<<63 {
		return 0, strconv.ErrRange
	}
	if v < lo || v > hi {
		return 0, strconv.ErrRange
	}
	return v, nil
}

// parseImm64: hex is an unsigned 64-bit pattern, decimal is signed if it has
// a '-' and unsigned otherwise.
func parseImm64(s string) (uint64, error) {
	neg, d, hex := splitSign(s)
	m, err := parseMagnitude(d, hex)
	if err != nil {
		return 0, parseErrorf("Invalid immediate: %s", s)
	}
	if neg {
		if m > 1<<63 {
			return 0, parseErrorf("Immediate out of 64-bit range: %s", s)
		}
		return -m, nil
	}
	return m, nil
}

func parseUint64(s string) (uint64, error) {
	_, d, hex := splitSign(s)
	if strings.HasPrefix(s, "-") || strings.HasPrefix(s, "+") {
		return 0, strconv.ErrSyntax
	}
	return parseMagnitude(d, hex)
}
