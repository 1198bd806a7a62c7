package bpfasm

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
)

var aluNames = [16]string{"add", "sub", "mul", "div", "or", "and", "lsh", "rsh", "neg", "mod", "xor", "mov", "arsh", "", "", ""}

var jmpNames = [16]string{"", "jeq", "jgt", "jge", "jset", "jne", "jsgt", "jsge", "", "", "jlt", "jle", "jslt", "jsle", "", ""}

var atomicNames = map[int32]string{
	0x00: "add", 0x01: "fetch add", 0x40: "or", 0x41: "fetch or", 0x50: "and", 0x51: "fetch and",
	0xa0: "xor", 0xa1: "fetch xor", 0xe1: "xchg", 0xf1: "cmpxchg",
}

var sizeNames = map[uint8]string{0x00: "w", 0x08: "h", 0x10: "b", 0x18: "dw"}

func reg(r uint8) string { return fmt.Sprintf("%%r%d", r) }

func memOperand(r uint8, off int16) string {
	switch {
	case off > 0:
		return fmt.Sprintf("[%%r%d+%d]", r, off)
	case off < 0:
		return fmt.Sprintf("[%%r%d%d]", r, off)
	}
	return fmt.Sprintf("[%%r%d]", r)
}

func imm32Text(v int32) string {
	if v >= -4096 && v <= 4096 {
		return fmt.Sprintf("%d", v)
	}
	return fmt.Sprintf("0x%x", uint32(v))
}

func rel(v int32) string {
	if v < 0 {
		return fmt.Sprintf("%d", v)
	}
	return fmt.Sprintf("+%d", v)
}

func rawWord(b []byte) string {
	return fmt.Sprintf(".insn 0x%016x", binary.LittleEndian.Uint64(b))
}

// jumpKind tells how an instruction refers to another slot.
type jumpKind int

const (
	noJump  jumpKind = iota
	offJump          // target = slot + 1 + offset
	immJump          // target = slot + 1 + imm (ja32, call local)
)

// candidate renders slot i without checking that it assembles back. It
// returns the text, the number of slots used, and how it jumps.
func candidate(code []byte, i int) (string, int, jumpKind) {
	b := code[i*InsnSize:]
	r := getRaw(b)
	cls := r.op & 7
	switch cls {
	case clsALU, clsALU64:
		suffix := ""
		if cls == clsALU {
			suffix = "32"
		}
		code := r.op >> 4
		switch {
		case r.op == opLE || r.op == opBE || r.op == opBSwap:
			name := map[uint8]string{opLE: "le", opBE: "be", opBSwap: "bswap"}[r.op]
			return fmt.Sprintf("%s%d %s", name, r.imm, reg(r.dst)), 1, noJump
		case code == 0x8:
			return fmt.Sprintf("neg%s %s", suffix, reg(r.dst)), 1, noJump
		case code == 0xb && r.off != 0 && r.op&srcX != 0:
			w := "64"
			if cls == clsALU {
				w = "32"
			}
			return fmt.Sprintf("movsx%d%s %s, %s", r.off, w, reg(r.dst), reg(r.src)), 1, noJump
		}
		name := aluNames[code]
		if (code == 0x3 || code == 0x9) && r.off == 1 {
			name = "s" + name
		}
		if name == "" {
			return rawWord(b), 1, noJump
		}
		if r.op&srcX != 0 {
			return fmt.Sprintf("%s%s %s, %s", name, suffix, reg(r.dst), reg(r.src)), 1, noJump
		}
		return fmt.Sprintf("%s%s %s, %s", name, suffix, reg(r.dst), imm32Text(r.imm)), 1, noJump
	case clsJMP, clsJMP32:
		switch r.op {
		case opJA:
			return "ja " + rel(int32(r.off)), 1, offJump
		case opJA32:
			return "ja32 " + rel(r.imm), 1, immJump
		case opExit:
			return "exit", 1, noJump
		case opCallX:
			return "call " + reg(r.dst), 1, noJump
		case opCall:
			switch r.src {
			case 0:
				return fmt.Sprintf("call %d", r.imm), 1, noJump
			case 1:
				return "call local " + rel(r.imm), 1, immJump
			case 2:
				return fmt.Sprintf("call runtime %d", r.imm), 1, noJump
			}
			return rawWord(b), 1, noJump
		}
		name := jmpNames[r.op>>4]
		if name == "" {
			return rawWord(b), 1, noJump
		}
		if cls == clsJMP32 {
			name += "32"
		}
		if r.op&srcX != 0 {
			return fmt.Sprintf("%s %s, %s, %s", name, reg(r.dst), reg(r.src), rel(int32(r.off))), 1, offJump
		}
		return fmt.Sprintf("%s %s, %s, %s", name, reg(r.dst), imm32Text(r.imm), rel(int32(r.off))), 1, offJump
	case clsLD:
		if r.op == opLDDW && r.src == 0 && len(code) >= (i+2)*InsnSize {
			hi := getRaw(code[(i+1)*InsnSize:])
			v := uint64(uint32(r.imm)) | uint64(uint32(hi.imm))<<32
			return fmt.Sprintf("lddw %s, 0x%x", reg(r.dst), v), 2, noJump
		}
	case clsLDX:
		size, ok := sizeNames[r.op&0x18]
		switch {
		case !ok:
		case r.op&0xe0 == 0x60:
			return fmt.Sprintf("ldx%s %s, %s", size, reg(r.dst), memOperand(r.src, r.off)), 1, noJump
		case r.op&0xe0 == 0x80:
			return fmt.Sprintf("ldxs%s %s, %s", size, reg(r.dst), memOperand(r.src, r.off)), 1, noJump
		}
	case clsST:
		if size, ok := sizeNames[r.op&0x18]; ok && r.op&0xe0 == 0x60 {
			return fmt.Sprintf("st%s %s, %s", size, memOperand(r.dst, r.off), imm32Text(r.imm)), 1, noJump
		}
	case clsSTX:
		if size, ok := sizeNames[r.op&0x18]; ok && r.op&0xe0 == 0x60 {
			return fmt.Sprintf("stx%s %s, %s", size, memOperand(r.dst, r.off), reg(r.src)), 1, noJump
		}
		if r.op == opAtom32 || r.op == opAtom64 {
			name, ok := atomicNames[r.imm]
			if ok {
				if r.op == opAtom32 {
					name += "32"
				}
				return fmt.Sprintf("lock %s %s, %s", name, memOperand(r.dst, r.off), reg(r.src)), 1, noJump
			}
		}
	}
	return rawWord(b), 1, noJump
}

// decodeOne renders slot i as text that assembles back to the same bytes,
// falling back to ".insn" words. Jump targets are relative (+N / -N).
func decodeOne(code []byte, i int) (string, int, jumpKind) {
	text, width, kind := candidate(code, i)
	if strings.HasPrefix(text, ".insn") {
		return text, 1, noJump
	}
	want := code[i*InsnSize : (i+width)*InsnSize]
	got, err := Assemble(text)
	if err != nil || string(got) != string(want) {
		return rawWord(code[i*InsnSize:]), 1, noJump
	}
	return text, width, kind
}

// FormatInsn renders the instruction in slot i of code on one line, with a
// relative jump target. An lddw also reads slot i+1. Slots that do not form a
// valid instruction print as ".insn 0x...". i must be a valid slot index.
func FormatInsn(code []byte, i int) string {
	text, _, _ := decodeOne(code, i)
	return text
}

// ErrLength is returned by Disassemble for input that is not whole slots.
var ErrLength = errors.New("bpfasm: bytecode length is not a multiple of 8")

// Disassemble renders bytecode as assembly text, one instruction per line.
// Jumps to instruction boundaries get labels (L<slot>:); other targets stay
// relative. Assemble(Disassemble(code)) reproduces code exactly.
func Disassemble(code []byte) (string, error) {
	if len(code)%InsnSize != 0 {
		return "", ErrLength
	}
	n := len(code) / InsnSize
	type line struct {
		text   string
		width  int
		kind   jumpKind
		target int
	}
	lines := make([]line, 0, n)
	start := make([]bool, n+1) // slot begins an instruction
	for i := 0; i < n; {
		text, width, kind := decodeOne(code, i)
		l := line{text: text, width: width, kind: kind}
		r := getRaw(code[i*InsnSize:])
		switch kind {
		case offJump:
			l.target = i + 1 + int(r.off)
		case immJump:
			l.target = i + 1 + int(r.imm)
		}
		start[i] = true
		lines = append(lines, l)
		i += width
	}
	start[n] = true
	labelled := make([]bool, n+1)
	for i := range lines {
		l := &lines[i]
		if l.kind != noJump && (l.target < 0 || l.target > n || !start[l.target]) {
			l.kind = noJump // keep it relative
		}
		if l.kind != noJump {
			labelled[l.target] = true
		}
	}
	var sb strings.Builder
	slot := 0
	for _, l := range lines {
		if labelled[slot] {
			fmt.Fprintf(&sb, "L%d:\n", slot)
		}
		text := l.text
		if l.kind != noJump {
			k := strings.LastIndexByte(text, ' ')
			text = fmt.Sprintf("%sL%d", text[:k+1], l.target)
		}
		sb.WriteString(text)
		sb.WriteByte('\n')
		slot += l.width
	}
	if labelled[n] {
		fmt.Fprintf(&sb, "L%d:\n", n)
	}
	return sb.String(), nil
}
