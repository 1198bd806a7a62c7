package interp

import (
	"bytes"
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"
)

// RegionFlags qualify a mapped region.
type RegionFlags uint32

// ReadOnly regions reject stores from programs, helpers (Call.Write) and
// AddressSpace.Write. The host keeps its own slice and may change it.
const ReadOnly RegionFlags = 1 << 0

// Addresses are tagged: the region id is in the high 32 bits, the byte offset
// in the low 32 bits. Region 0 is never mapped, so NULL and small integers
// fault. Regions 1 and 2 are per run; mapped regions start at 16.
const (
	regionShift = 32
	stackRegion = 1
	ctxRegion   = 2
	firstMapped = 16

	chunkBits  = 12
	chunkSize  = 1 << chunkBits
	maxChunks  = 4096
	maxRegions = chunkSize * maxChunks // ids below this can be mapped: 16,777,216

	// MaxRegionSize is the largest region Map accepts: offsets are 32 bits.
	MaxRegionSize = 1 << 32
)

// Per-run addresses.
const (
	// StackAddr is the base of a run's stack region (MaxCallDepth frames of
	// FrameSize bytes). Frame 0 is the top one: r10 starts at
	// StackAddr + FrameSize*MaxCallDepth and each bpf-to-bpf call moves it
	// down by FrameSize.
	StackAddr uint64 = stackRegion << regionShift
	// CtxAddr is the address of RunOptions.Ctx during a run.
	CtxAddr uint64 = ctxRegion << regionShift
)

type region struct {
	data  []byte
	flags RegionFlags
	base  uint64
	amu   sync.Mutex // serialises atomic instructions on this region
}

type chunk [chunkSize]atomic.Pointer[region]

// AddressSpace holds the long-lived regions that programs may address:
// kernel objects, map values, global data. It is safe for concurrent use:
// lookups (every run's memory accesses) take no lock, only Map and Unmap
// serialise among themselves. Map and Unmap cost O(1), whatever the number
// of regions.
//
// A region's bytes are the caller's slice, not a copy: stores by programs
// are visible to the host at once. Plain loads and stores from concurrent
// runs to the same region are as unsynchronised as in the kernel; atomic
// instructions (lock add, cmpxchg ...) are serialised per region.
//
// Unmapping is like an RCU-delayed free: a run that is already using the
// region may finish its accesses to the old bytes; new lookups fault.
// Freed ids are reused oldest-first, so a stale pointer faults for as long
// as possible before it can alias a newer region.
type AddressSpace struct {
	chunks [maxChunks]atomic.Pointer[chunk]

	mu       sync.Mutex
	next     uint64   // next never-used id
	free     []uint64 // FIFO of unmapped ids
	freeHead int
	live     int
}

// NewAddressSpace returns an empty address space.
func NewAddressSpace() *AddressSpace {
	return &AddressSpace{next: firstMapped}
}

// Map makes data addressable and returns its base address (offset 0). The
// slice is aliased, not copied; its length is fixed for the region's life.
func (as *AddressSpace) Map(data []byte, flags RegionFlags) (uint64, error) {
	if uint64(len(data)) > MaxRegionSize {
		return 0, fmt.Errorf("interp: map %d bytes: larger than %d: %w", len(data), uint64(MaxRegionSize), syscall.EINVAL)
	}
	if flags&^ReadOnly != 0 {
		return 0, fmt.Errorf("interp: map: unknown flags %#x: %w", uint32(flags), syscall.EINVAL)
	}
	as.mu.Lock()
	defer as.mu.Unlock()
	var id uint64
	switch {
	case as.freeHead < len(as.free):
		id = as.free[as.freeHead]
		as.freeHead++
		if as.freeHead > 1024 && as.freeHead*2 > len(as.free) {
			as.free = append(as.free[:0], as.free[as.freeHead:]...)
			as.freeHead = 0
		}
	case as.next < maxRegions:
		id = as.next
		as.next++
	default:
		return 0, fmt.Errorf("interp: map: all %d region ids in use: %w", maxRegions-firstMapped, syscall.ENOSPC)
	}
	c := as.chunks[id>>chunkBits].Load()
	if c == nil {
		c = new(chunk)
		as.chunks[id>>chunkBits].Store(c)
	}
	base := id << regionShift
	c[id&(chunkSize-1)].Store(&region{data: data, flags: flags, base: base})
	as.live++
	return base, nil
}

// Unmap removes the region whose base address Map returned.
func (as *AddressSpace) Unmap(base uint64) error {
	id := base >> regionShift
	if uint32(base) != 0 || id < firstMapped || id >= maxRegions {
		return fmt.Errorf("interp: unmap %#x: not a region base: %w", base, syscall.EINVAL)
	}
	as.mu.Lock()
	defer as.mu.Unlock()
	c := as.chunks[id>>chunkBits].Load()
	if c == nil || c[id&(chunkSize-1)].Load() == nil {
		return fmt.Errorf("interp: unmap %#x: not mapped: %w", base, syscall.EINVAL)
	}
	c[id&(chunkSize-1)].Store(nil)
	as.free = append(as.free, id)
	as.live--
	return nil
}

// Len returns the number of mapped regions.
func (as *AddressSpace) Len() int {
	as.mu.Lock()
	defer as.mu.Unlock()
	return as.live
}

// lookup returns the region with the given id, or nil.
func (as *AddressSpace) lookup(id uint64) *region {
	if id >= maxRegions {
		return nil
	}
	c := as.chunks[id>>chunkBits].Load()
	if c == nil {
		return nil
	}
	return c[id&(chunkSize-1)].Load()
}

// span checks [addr, addr+n) against a region of length size and returns
// the offset. It cannot overflow: the offset is below 2^32 and n is checked
// non-negative.
func span(addr uint64, n int, size int) (uint64, bool) {
	off := uint64(uint32(addr))
	return off, n >= 0 && off+uint64(n) <= uint64(size)
}

func (as *AddressSpace) slice(addr uint64, n int, write bool) ([]byte, error) {
	if as == nil {
		return nil, &MemoryFault{Addr: addr, Size: n, Write: write, Reason: "no address space"}
	}
	r := as.lookup(addr >> regionShift)
	return r.slice(addr, n, write)
}

func (r *region) slice(addr uint64, n int, write bool) ([]byte, error) {
	if r == nil {
		return nil, &MemoryFault{Addr: addr, Size: n, Write: write, Reason: "unmapped"}
	}
	off, ok := span(addr, n, len(r.data))
	if !ok {
		return nil, &MemoryFault{Addr: addr, Size: n, Write: write,
			Reason: fmt.Sprintf("out of bounds of a %d-byte region", len(r.data))}
	}
	if write && r.flags&ReadOnly != 0 {
		return nil, &MemoryFault{Addr: addr, Size: n, Write: write, Reason: "read-only region"}
	}
	return r.data[off : off+uint64(n) : off+uint64(n)], nil
}

// Read copies n bytes at addr.
func (as *AddressSpace) Read(addr uint64, n int) ([]byte, error) {
	b, err := as.slice(addr, n, false)
	if err != nil {
		return nil, err
	}
	return bytes.Clone(b), nil
}

// Write copies b to addr. Read-only regions refuse.
func (as *AddressSpace) Write(addr uint64, b []byte) error {
	dst, err := as.slice(addr, len(b), true)
	if err != nil {
		return err
	}
	copy(dst, b)
	return nil
}

// ReadCString reads a NUL-terminated string at addr, looking at no more
// than max bytes, and returns it without the NUL. A string that reaches the
// end of its region faults (EFAULT); one with no NUL in max bytes is E2BIG.
func (as *AddressSpace) ReadCString(addr uint64, max int) ([]byte, error) {
	if as == nil {
		return nil, &MemoryFault{Addr: addr, Size: 1, Reason: "no address space"}
	}
	return as.lookup(addr>>regionShift).cstring(addr, max)
}

func (r *region) cstring(addr uint64, max int) ([]byte, error) {
	if r == nil {
		return nil, &MemoryFault{Addr: addr, Size: 1, Reason: "unmapped"}
	}
	return cstring(r.data, addr, max)
}

func cstring(data []byte, addr uint64, max int) ([]byte, error) {
	off := uint64(uint32(addr))
	if off >= uint64(len(data)) {
		return nil, &MemoryFault{Addr: addr, Size: 1, Reason: fmt.Sprintf("out of bounds of a %d-byte region", len(data))}
	}
	rest := data[off:]
	limit := rest
	if max >= 0 && len(limit) > max {
		limit = limit[:max]
	}
	if i := bytes.IndexByte(limit, 0); i >= 0 {
		return bytes.Clone(limit[:i]), nil
	}
	if len(limit) < len(rest) || max == len(rest) {
		return nil, fmt.Errorf("interp: string at %#x longer than %d bytes: %w", addr, max, syscall.E2BIG)
	}
	return nil, &MemoryFault{Addr: addr, Size: len(rest) + 1, Reason: "string runs off the end of its region"}
}
