package interp

import (
	"bytes"
	"errors"
)

// errBadOpcode cannot happen for a loaded program; it keeps the switch total.
var errBadOpcode = errors.New("internal error: invalid internal opcode")

// Call is what a Helper sees of the run that called it: memory access that
// includes the run's stack and ctx, the caller's per-run value, and the
// calling instruction. It is valid only during the helper call.
type Call struct {
	st    *state
	value any
	pc    int
}

// Value returns RunOptions.Value.
func (c *Call) Value() any { return c.value }

// PC returns the raw slot of the calling instruction.
func (c *Call) PC() int { return c.pc }

// Mem returns RunOptions.Mem (may be nil).
func (c *Call) Mem() *AddressSpace { return c.st.mem }

func (c *Call) slice(addr uint64, n int, write bool) ([]byte, error) {
	st := c.st
	switch addr >> regionShift {
	case stackRegion:
		if off, ok := span(addr, n, stackSize); ok {
			return st.stack[off : off+uint64(n) : off+uint64(n)], nil
		}
		return nil, &MemoryFault{Addr: addr, Size: n, Write: write, Reason: "outside the stack"}
	case ctxRegion:
		if st.ctx != nil {
			if off, ok := span(addr, n, len(st.ctx)); ok {
				return st.ctx[off : off+uint64(n) : off+uint64(n)], nil
			}
			return nil, &MemoryFault{Addr: addr, Size: n, Write: write, Reason: "out of bounds of the ctx"}
		}
	}
	return st.mem.slice(addr, n, write)
}

// Slice returns the n bytes at addr without copying (for write, the region
// must be writable). The slice aliases program-visible memory and must not be
// kept after the helper returns.
func (c *Call) Slice(addr uint64, n int, write bool) ([]byte, error) {
	return c.slice(addr, n, write)
}

// Read copies n bytes at addr.
func (c *Call) Read(addr uint64, n int) ([]byte, error) {
	b, err := c.slice(addr, n, false)
	if err != nil {
		return nil, err
	}
	return bytes.Clone(b), nil
}

// Write copies b to addr.
func (c *Call) Write(addr uint64, b []byte) error {
	dst, err := c.slice(addr, len(b), true)
	if err != nil {
		return err
	}
	copy(dst, b)
	return nil
}

// ReadCString reads a NUL-terminated string at addr, looking at no more
// than max bytes (see AddressSpace.ReadCString).
func (c *Call) ReadCString(addr uint64, max int) ([]byte, error) {
	st := c.st
	switch addr >> regionShift {
	case stackRegion:
		return cstring(st.stack[:], addr, max)
	case ctxRegion:
		if st.ctx != nil {
			return cstring(st.ctx, addr, max)
		}
	}
	return st.mem.ReadCString(addr, max)
}
