package bprintf

import (
	"encoding/binary"
	"errors"
)

// fakeMem is a Memory made of byte regions at fixed addresses; addresses
// below TaskSize are user space.
type fakeMem struct{ regions []fakeRegion }

type fakeRegion struct {
	base uint64
	b    []byte
}

var errFault = errors.New("bad address")

func (m *fakeMem) byteAt(addr uint64) (byte, bool) {
	for _, r := range m.regions {
		if addr >= r.base && addr-r.base < uint64(len(r.b)) {
			return r.b[addr-r.base], true
		}
	}
	return 0, false
}

func (m *fakeMem) Read(addr uint64, n int) ([]byte, error) {
	out := make([]byte, n)
	for i := range out {
		c, ok := m.byteAt(addr + uint64(i))
		if !ok {
			return nil, errFault
		}
		out[i] = c
	}
	return out, nil
}

func (m *fakeMem) ReadCString(addr uint64, max int) ([]byte, error) {
	var out []byte
	for i := 0; i < max; i++ {
		c, ok := m.byteAt(addr + uint64(i))
		if !ok {
			return nil, errFault
		}
		if c == 0 {
			break
		}
		out = append(out, c)
	}
	return out, nil
}

func (m *fakeMem) IsUser(addr uint64) bool { return addr < TaskSize }

// kernelMem is a Memory without user space (it does not implement
// UserMemory): every address is a kernel address.
type kernelMem struct{ m *fakeMem }

func (k kernelMem) Read(addr uint64, n int) ([]byte, error) { return k.m.Read(addr, n) }
func (k kernelMem) ReadCString(addr uint64, max int) ([]byte, error) {
	return k.m.ReadCString(addr, max)
}

// args encodes u64 arguments as the data bytes a program passes.
func args(v ...uint64) []byte {
	var b []byte
	for _, x := range v {
		b = binary.LittleEndian.AppendUint64(b, x)
	}
	return b
}

// z appends the NUL a format needs.
func z(s string) []byte { return append([]byte(s), 0) }
