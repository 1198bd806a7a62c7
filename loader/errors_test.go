package loader

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// Offsets of fields in an ELF64 section header (Elf64_Shdr).
const (
	shFlags  = 8
	shOffset = 24
	shSize   = 32
)

// patchSection returns a copy of obj with a 64-bit field of the named
// section's header replaced.
func patchSection(t *testing.T, obj []byte, name string, field int, value uint64) []byte {
	t.Helper()
	f, err := elf.NewFile(bytes.NewReader(obj))
	require.NoError(t, err)
	shoff := binary.LittleEndian.Uint64(obj[0x28:])
	shentsize := uint64(binary.LittleEndian.Uint16(obj[0x3a:]))
	for i, s := range f.Sections {
		if s.Name == name {
			out := bytes.Clone(obj)
			binary.LittleEndian.PutUint64(out[shoff+uint64(i)*shentsize+uint64(field):], value)
			return out
		}
	}
	t.Fatalf("no section %s", name)
	return nil
}

func TestMalformedObjects(t *testing.T) {
	iter := readFile(t, cgroupIter)
	features := readFile(t, featuresObj)

	wrongMachine := bytes.Clone(iter)
	binary.LittleEndian.PutUint16(wrongMachine[18:], uint16(elf.EM_X86_64))

	// Cut the program section's name after "iter/" in the section name
	// string table.
	noTarget := bytes.Clone(iter)
	{
		f, err := elf.NewFile(bytes.NewReader(iter))
		require.NoError(t, err)
		shoff := binary.LittleEndian.Uint64(iter[0x28:])
		shentsize := uint64(binary.LittleEndian.Uint16(iter[0x3a:]))
		shstrndx := uint64(binary.LittleEndian.Uint16(iter[0x3e:]))
		strtab := f.Sections[shstrndx].Offset
		for i, s := range f.Sections {
			if s.Name == "iter/cgroup" {
				name := binary.LittleEndian.Uint32(iter[shoff+uint64(i)*shentsize:])
				noTarget[strtab+uint64(name)+uint64(len("iter/"))] = 0
			}
		}
	}

	bss := patchSection(t, features, ".bss", shSize, 1<<30)
	require.Equal(t, elf.SHT_NOBITS, func() elf.SectionType {
		f, _ := elf.NewFile(bytes.NewReader(features))
		return f.Section(".bss").Type
	}())

	tests := []struct {
		name  string
		data  []byte
		errno unix.Errno
		msg   string
	}{
		{"empty", nil, unix.EINVAL, "malformed ELF"},
		{"not ELF", []byte("#!/bin/sh\necho hello\n"), unix.EINVAL, "malformed ELF"},
		{"ELF header only", iter[:64], unix.EINVAL, ""},
		{"truncated", iter[:len(iter)/2], unix.EINVAL, ""},
		{"truncated by one byte", iter[:len(iter)-1], unix.EINVAL, ""},
		{"x86-64 machine", wrongMachine, unix.EINVAL, "machine"},
		{"section past the end", patchSection(t, iter, ".rodata", shSize, 1<<40), unix.EINVAL, "extend past the end"},
		{"section offset overflows", patchSection(t, iter, ".rodata", shOffset, 1<<63), unix.EINVAL, ""},
		{"compressed program section", patchSection(t, iter, "iter/cgroup", shFlags, uint64(elf.SHF_ALLOC|elf.SHF_EXECINSTR|elf.SHF_COMPRESSED)), unix.EINVAL, ""},
		{"huge .bss", bss, unix.E2BIG, ".bss"},
		{"iter/ without target", noTarget, unix.EINVAL, "names no attach target"},
	}
	target := targetBTF(t, defaultLayout)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			obj, err := Load(bytes.NewReader(tt.data), target)
			require.Error(t, err)
			assert.Nil(t, obj)
			assert.ErrorIs(t, err, tt.errno)
			var le *Error
			require.True(t, errors.As(err, &le), "%T %v", err, err)
			assert.Equal(t, tt.errno, le.Errno)
			assert.Contains(t, err.Error(), tt.msg)
		})
	}
}
