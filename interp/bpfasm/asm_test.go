package bpfasm

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/simfs/simfs/interp/conformance"
)

// word builds one slot from its fields, independently of the assembler.
func word(op, dst, src uint8, off int16, imm int32) string {
	var b [8]byte
	b[0] = op
	b[1] = dst | src<<4
	binary.LittleEndian.PutUint16(b[2:], uint16(off))
	binary.LittleEndian.PutUint32(b[4:], uint32(imm))
	return hex.EncodeToString(b[:])
}

func TestAssembleForms(t *testing.T) {
	tests := []struct {
		src  string
		want string
	}{
		{"mov %r0, 1", word(0xb7, 0, 0, 0, 1)},
		{"mov32 %r0, -1", word(0xb4, 0, 0, 0, -1)},
		{"mov %r1, %r10", word(0xbf, 1, 10, 0, 0)},
		{"add32 %r1, 0xffffffff", word(0x04, 1, 0, 0, -1)},
		{"sub %r2,%r3", word(0x1f, 2, 3, 0, 0)},
		{"sdiv32 %r0, -4", word(0x34, 0, 0, 1, -4)},
		{"smod %r0, %r1", word(0x9f, 0, 1, 1, 0)},
		{"movsx864 %r0, %r1", word(0xbf, 0, 1, 8, 0)},
		{"movsx1632 %r0, %r1", word(0xbc, 0, 1, 16, 0)},
		{"movsx3264 %r0, %r1", word(0xbf, 0, 1, 32, 0)},
		{"neg %r3", word(0x87, 3, 0, 0, 0)},
		{"neg32 %r3", word(0x84, 3, 0, 0, 0)},
		{"be16 %r1", word(0xdc, 1, 0, 0, 16)},
		{"le64 %r1", word(0xd4, 1, 0, 0, 64)},
		{"bswap32 %r1", word(0xd7, 1, 0, 0, 32)},
		{"swap64 %r1", word(0xd7, 1, 0, 0, 64)},
		{"ldxdw %r1, [%r1+8]", word(0x79, 1, 1, 8, 0)},
		{"ldxsb %r0, [%r10-1]", word(0x91, 0, 10, -1, 0)},
		{"ldxh %r0, [%r1]", word(0x69, 0, 1, 0, 0)},
		{"ldxb %r0, [%r1+0x10]", word(0x71, 0, 1, 16, 0)},
		{"stw [%r10-4], 7", word(0x62, 10, 0, -4, 7)},
		{"stxb [%r1+2], %r3", word(0x73, 1, 3, 2, 0)},
		{"lock add [%r10-8], %r1", word(0xdb, 10, 1, -8, 0x00)},
		{"lock fetch add [%r10-8], %r1", word(0xdb, 10, 1, -8, 0x01)},
		{"lock fetch or32 [%r10-4], %r3", word(0xc3, 10, 3, -4, 0x41)},
		{"lock xchg [%r10-8], %r1", word(0xdb, 10, 1, -8, 0xe1)},
		{"lock cmpxchg32 [%r10-8], %r1", word(0xc3, 10, 1, -8, 0xf1)},
		{"call 127", word(0x85, 0, 0, 0, 127)},
		{"call runtime 9", word(0x85, 0, 2, 0, 9)},
		{"call %r2", word(0x8d, 2, 0, 0, 0)},
		{"exit", word(0x95, 0, 0, 0, 0)},
		{"ja +3", word(0x05, 0, 0, 3, 0)},
		{"ja32 -2", word(0x06, 0, 0, 0, -2)},
		{"jne %r0, 15, +1", word(0x55, 0, 0, 1, 15)},
		{"jsgt32 %r1, %r2, -1", word(0x6e, 1, 2, -1, 0)},
		{"lddw %r1, 0x1122334455667788", word(0x18, 1, 0, 0, 0x55667788) + word(0, 0, 0, 0, 0x11223344)},
		{"lddw %r0, -1", word(0x18, 0, 0, 0, -1) + word(0, 0, 0, 0, -1)},
		{".insn 0x0000000100000007", word(0x07, 0, 0, 0, 1)},
		{"mov %r11, 1 # fake register, as the suite's negative tests use", word(0xb7, 11, 0, 0, 1)},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			got, err := Assemble(tt.src)
			require.NoError(t, err)
			assert.Equal(t, tt.want, hex.EncodeToString(got))
		})
	}
}

func TestAssembleLabels(t *testing.T) {
	src := `
		mov %r0, 0
		call local f
		ja exit      # the first exit is an implicit label
	back:
		exit
	f:
		lddw %r0, 1  # two slots
		jeq %r0, 1, back
		ja32 f
		exit
	`
	got, err := Assemble(src)
	require.NoError(t, err)
	want := word(0xb7, 0, 0, 0, 0) +
		word(0x85, 0, 1, 0, 2) + // call local f: slot 4 - 1 - 1
		word(0x05, 0, 0, 0, 0) + // ja exit (slot 3)
		word(0x95, 0, 0, 0, 0) +
		word(0x18, 0, 0, 0, 1) + word(0, 0, 0, 0, 0) +
		word(0x15, 0, 0, -4, 1) + // slot 6 -> 3
		word(0x06, 0, 0, 0, -4) + // slot 7 -> 4
		word(0x95, 0, 0, 0, 0)
	assert.Equal(t, want, hex.EncodeToString(got))
}

func TestAssembleErrors(t *testing.T) {
	tests := []struct{ src, msg string }{
		{"mov32 %r0, 2147483648", "out of 32-bit range"},
		{"mov32 %r0, 0x100000000", "out of 32-bit range"},
		{"ja NOT_A_LABEL\nexit", "Invalid label"},
		{"lock or [%r10-8]", "Invalid number of operands for lock"},
		{"lock", "Invalid number of operands for lock"},
		{"ldxq %r0, %r1", "Invalid mnemonic"},
		{"ldxb %r0, %r1", "Failed to decode register and offset"},
		{"ldxb %r0, [%r1+0x10000]", "Offset out of 16-bit range"},
		{"lddw %r0", "Invalid number of operands"},
		{"or %r0, %r50", "Invalid register"},
		{"mov %r0, 5abc", "Invalid immediate"},
		{"add64 %r0, 1", "Invalid mnemonic"},
		{"movsx8 %r0, %r1", "Invalid mnemonic"},
		{"movsx3232 %r0, %r1", "Invalid mnemonic"},
		{"neg %r0, 1", "Invalid number of operands"},
		{"call foo 1", "Invalid call mode"},
		{"a:\na:\nexit", "Duplicate label"},
		{"jeq %r0, 1, +40000", "Offset out of 16-bit range"},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			_, err := Assemble(tt.src)
			require.Error(t, err)
			var se *SyntaxError
			require.True(t, errors.As(err, &se))
			assert.Contains(t, se.Msg, tt.msg)
			assert.Positive(t, se.Line)
		})
	}
}

func TestDisassembleRoundTrip(t *testing.T) {
	src := `
		mov %r0, 0
		lddw %r1, 0xfedcba9876543210
		jgt %r1, %r0, +2
		lock fetch xor32 [%r10-4], %r3
		ldxsh %r2, [%r10-2]
		call local +1
		exit
		movsx832 %r0, %r0
		be32 %r0
		ja32 -11
	`
	code, err := Assemble(src)
	require.NoError(t, err)
	text, err := Disassemble(code)
	require.NoError(t, err)
	again, err := Assemble(text)
	require.NoError(t, err, text)
	assert.Equal(t, code, again, text)
	assert.Contains(t, text, "lock fetch xor32 [%r10-4], %r3")
	assert.Contains(t, text, "call local L8")
	assert.Contains(t, text, "ja32 L0")
}

func TestDisassembleFallsBackToRawWords(t *testing.T) {
	for _, w := range []string{
		word(0x07, 0, 1, 0, 1),      // add64 imm with non-zero src
		word(0x95, 0, 0, 0, 1),      // exit with imm
		word(0xbf, 0, 1, 7, 0),      // mov with a bad offset
		word(0x18, 1, 1, 0, 7),      // lddw src=1 (map fd): no text form
		word(0xff, 0, 0, 0, 0),      // unknown opcode
		word(0xdb, 10, 1, -8, 0xe0), // xchg without the fetch bit
		word(0x05, 0, 0, -100, 0),   // jump before the program
		word(0x85, 0, 1, 0, 1<<20),  // call far past the end
	} {
		code, _ := hex.DecodeString(w)
		text, err := Disassemble(code)
		require.NoError(t, err)
		again, err := Assemble(text)
		require.NoError(t, err, text)
		assert.Equal(t, code, again, text)
	}
	_, err := Disassemble(make([]byte, 7))
	assert.ErrorIs(t, err, ErrLength)
}

func TestFormatInsn(t *testing.T) {
	code, err := Assemble("jeq %r1, 5, +2\nlddw %r2, 0x1000000010\nexit")
	require.NoError(t, err)
	assert.Equal(t, "jeq %r1, 5, +2", FormatInsn(code, 0))
	assert.Equal(t, "lddw %r2, 0x1000000010", FormatInsn(code, 1))
	assert.Equal(t, ".insn 0x0000001000000000", FormatInsn(code, 2), "second half of lddw on its own")
	assert.Equal(t, "exit", FormatInsn(code, 3))
}

// TestCompiledTSV checks the assembler against the reference assembler's
// bytes for every file of the conformance suite.
func TestCompiledTSV(t *testing.T) {
	dir := conformance.Dir()
	if dir == "" {
		t.Skip("BPF_CONFORMANCE_DIR is not set")
	}
	rows, err := conformance.ReadCompiled(filepath.Join(dir, "compiled.tsv"))
	require.NoError(t, err)
	var asmOK, rawOK, asmErr int
	for _, row := range rows {
		t.Run(row.Name, func(t *testing.T) {
			tf, err := conformance.Parse(filepath.Join(dir, row.Name))
			require.NoError(t, err)
			if row.AsmError {
				if tf.Unknown != "" {
					asmErr++ // the reference parser gives up on an unknown directive
					return
				}
				_, err := Assemble(tf.Asm)
				require.Error(t, err, "reference assembler rejects this file")
				asmErr++
				return
			}
			if len(tf.RawTokens) > 0 {
				code, err := tf.RawWords()
				require.NoError(t, err)
				assert.Equal(t, row.Code, code)
				rawOK++
			}
			if tf.HasAsm {
				code, err := Assemble(tf.Asm)
				require.NoError(t, err)
				assert.Equal(t, hex.EncodeToString(row.Code), hex.EncodeToString(code))
				// And the disassembly round-trips.
				text, err := Disassemble(code)
				require.NoError(t, err)
				again, err := Assemble(text)
				require.NoError(t, err, text)
				assert.Equal(t, code, again, text)
				asmOK++
			} else if len(tf.RawTokens) == 0 {
				assert.Empty(t, row.Code)
			}
		})
	}
	t.Logf("compiled.tsv: %d rows; assembler matched %d, raw sections matched %d, %d assembly errors reproduced",
		len(rows), asmOK, rawOK, asmErr)
	assert.Equal(t, len(rows), countRows(rows))
}

func countRows(rows []conformance.Compiled) int {
	n := 0
	for _, r := range rows {
		if strings.HasSuffix(r.Name, ".data") {
			n++
		}
	}
	return n
}

func FuzzAssemble(f *testing.F) {
	f.Add("mov %r0, 1\nexit")
	f.Add("lock fetch add [%r10-8], %r1\nja32 L\nL:\ncall local L")
	f.Add("lddw %r1, -0x8000000000000000\nldxb %r0, [%r1-0x10]")
	f.Fuzz(func(t *testing.T, src string) {
		code, err := Assemble(src)
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("error %v is not a *SyntaxError", err)
			}
			return
		}
		if len(code)%InsnSize != 0 {
			t.Fatalf("length %d", len(code))
		}
		text, err := Disassemble(code)
		if err != nil {
			t.Fatal(err)
		}
		again, err := Assemble(text)
		if err != nil || string(again) != string(code) {
			t.Fatalf("round trip: %v\n%s", err, text)
		}
	})
}

func FuzzDisassemble(f *testing.F) {
	f.Add([]byte{0xb7, 0, 0, 0, 1, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{0x18, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0})
	f.Add([]byte{0x05, 0, 0xff, 0xff, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, code []byte) {
		code = code[:len(code)/InsnSize*InsnSize]
		text, err := Disassemble(code)
		if err != nil {
			t.Fatal(err)
		}
		again, err := Assemble(text)
		if err != nil {
			t.Fatalf("%v\n%s", err, text)
		}
		if string(again) != string(code) {
			t.Fatalf("round trip differs\n%s", text)
		}
	})
}
