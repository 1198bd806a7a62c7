package bpf

import (
	"bytes"

	"github.com/cilium/ebpf/btf"
	"sort"
	"sync"

	"golang.org/x/sys/unix"
)

// MapType is enum bpf_map_type (the subset simfs implements).
type MapType uint32

// Map types, with the kernel's numbers.
const (
	MapHash        MapType = 1
	MapArray       MapType = 2
	MapPercpuHash  MapType = 5
	MapPercpuArray MapType = 6
)

func (t MapType) String() string {
	switch t {
	case MapHash:
		return "hash"
	case MapArray:
		return "array"
	case MapPercpuHash:
		return "percpu_hash"
	case MapPercpuArray:
		return "percpu_array"
	}
	return "unknown"
}

// Map flags (BPF_F_*) accepted at creation.
const (
	FlagNoPrealloc = 1 << 0
	FlagRdonly     = 1 << 3
	FlagWronly     = 1 << 4
	FlagRdonlyProg = 1 << 7
	FlagWronlyProg = 1 << 8
	FlagMmapable   = 1 << 10
)

// Update flags.
const (
	UpdateAny     = 0
	UpdateNoExist = 1
	UpdateExist   = 2
	UpdateLock    = 4
)

// NumCPUs is the number of simulated CPUs: one. Per-CPU maps hold one value
// per key.
const NumCPUs = 1

// MapSpec describes a map to create (union bpf_attr for BPF_MAP_CREATE).
type MapSpec struct {
	Type       MapType
	KeySize    uint32
	ValueSize  uint32
	MaxEntries uint32
	Flags      uint32
	Name       string
	// BTF describes the key and value for `cat` on a pinned map (optional).
	BTF *MapBTF
	// Contents initialise an array map (global data sections).
	Contents []byte
	// Frozen makes the map read-only for system calls (BPF_MAP_FREEZE), as
	// libbpf does for .rodata.
	Frozen bool
}

// MapBTF is the BTF a map was created with: the key and value types that
// `cat` of a pinned map prints with.
type MapBTF struct {
	Key   btf.Type
	Value btf.Type
}

// Map is a BPF map. Values live in the interpreter's address space so that
// programs read and write them in place; the system-call side copies.
type Map struct {
	objBase
	spec   MapSpec
	mu     sync.Mutex // guards the hash table and frozen; value bytes are guarded by the CPU lock
	frozen bool

	// array and per-CPU array: one region for all values.
	arr     []byte
	arrBase uint64
	elem    uint32 // round_up(value_size, 8)

	// hash: one region per element.
	hash map[string]*hashElem
	// handle is the address programs use for the map (lddw src=1).
	handle uint64
}

type hashElem struct {
	key   []byte
	value []byte
	base  uint64
}

// Spec returns the creation attributes.
func (m *Map) Spec() MapSpec { return m.spec }

// Handle returns the map's address in the program address space, what
// `lddw rX, map` loads.
func (m *Map) Handle() uint64 { return m.handle }

// ValueAddr returns the address of the array value at index 0 plus off (for
// `lddw rX, map_value` on global data), or an error for hash maps.
func (m *Map) ValueAddr(off uint32) (uint64, error) {
	if !m.isArray() || m.spec.MaxEntries == 0 || off >= m.spec.ValueSize {
		return 0, unix.EINVAL
	}
	return m.arrBase + uint64(off), nil
}

func (m *Map) isArray() bool {
	return m.spec.Type == MapArray || m.spec.Type == MapPercpuArray
}

func (m *Map) percpu() bool {
	return m.spec.Type == MapPercpuArray || m.spec.Type == MapPercpuHash
}

// SyscallValueSize is the size of a value as BPF_MAP_LOOKUP_ELEM copies it:
// for per-CPU maps round_up(value_size, 8) times the number of CPUs.
func (m *Map) SyscallValueSize() int {
	if m.percpu() {
		return int(round8(m.spec.ValueSize)) * NumCPUs
	}
	return int(m.spec.ValueSize)
}

func round8(n uint32) uint32 { return (n + 7) &^ 7 }

// checkSpec validates BPF_MAP_CREATE attributes as map_check_attr and the
// map types' alloc_check functions do.
func checkSpec(s *MapSpec) error {
	if s.KeySize == 0 || s.ValueSize == 0 || s.MaxEntries == 0 {
		return unix.EINVAL
	}
	allowed := uint32(FlagRdonly | FlagWronly | FlagRdonlyProg | FlagWronlyProg)
	switch s.Type {
	case MapArray, MapPercpuArray:
		if s.KeySize != 4 {
			return unix.EINVAL
		}
		if s.Type == MapArray {
			allowed |= FlagMmapable
		}
		if uint64(round8(s.ValueSize))*uint64(s.MaxEntries) > 1<<32-1 {
			return unix.ENOMEM
		}
	case MapHash, MapPercpuHash:
		allowed |= FlagNoPrealloc
		if s.KeySize > 512 { // MAX_BPF_STACK
			return unix.E2BIG
		}
	default:
		return unix.EINVAL
	}
	if s.Flags&^allowed != 0 {
		return unix.EINVAL
	}
	if s.Flags&FlagRdonly != 0 && s.Flags&FlagWronly != 0 ||
		s.Flags&FlagRdonlyProg != 0 && s.Flags&FlagWronlyProg != 0 {
		return unix.EINVAL
	}
	if s.ValueSize > 1<<20 { // KMALLOC_MAX_SIZE-ish: array and hash refuse huge values
		return unix.E2BIG
	}
	if len(s.Contents) > 0 && (!s.isArrayType() || len(s.Contents) > int(s.ValueSize)) {
		return unix.EINVAL
	}
	return nil
}

func (s *MapSpec) isArrayType() bool { return s.Type == MapArray || s.Type == MapPercpuArray }

// Lookup copies the value for key (BPF_MAP_LOOKUP_ELEM).
func (m *Map) Lookup(key []byte) ([]byte, error) {
	if err := m.checkKey(key); err != nil {
		return nil, err
	}
	if m.spec.Flags&FlagWronly != 0 {
		return nil, unix.EPERM
	}
	m.sys.cpu.Lock()
	defer m.sys.cpu.Unlock()
	v, ok := m.valueLocked(key)
	if !ok {
		return nil, unix.ENOENT
	}
	out := make([]byte, m.SyscallValueSize())
	copy(out, v)
	return out, nil
}

// valueLocked returns the in-place value for key. Caller holds the CPU lock.
func (m *Map) valueLocked(key []byte) ([]byte, bool) {
	if m.isArray() {
		idx := le32(key)
		if idx >= m.spec.MaxEntries {
			return nil, false
		}
		off := idx * m.elem
		return m.arr[off : off+m.spec.ValueSize], true
	}
	m.mu.Lock()
	e, ok := m.hash[string(key)]
	m.mu.Unlock()
	if !ok {
		return nil, false
	}
	return e.value, true
}

// lookupAddr returns the address of the value for key, for
// bpf_map_lookup_elem. Caller holds the CPU lock.
func (m *Map) lookupAddr(key []byte) (uint64, bool) {
	if m.isArray() {
		idx := le32(key)
		if idx >= m.spec.MaxEntries {
			return 0, false
		}
		return m.arrBase + uint64(idx*m.elem), true
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.hash[string(key)]
	if !ok {
		return 0, false
	}
	return e.base, true
}

// Update stores value for key (BPF_MAP_UPDATE_ELEM).
func (m *Map) Update(key, value []byte, flags uint64) error {
	if err := m.checkKey(key); err != nil {
		return err
	}
	if len(value) != m.SyscallValueSize() {
		return unix.EINVAL
	}
	if m.spec.Flags&FlagRdonly != 0 {
		return unix.EPERM
	}
	m.mu.Lock()
	frozen := m.frozen
	m.mu.Unlock()
	if frozen {
		return unix.EPERM
	}
	m.sys.cpu.Lock()
	defer m.sys.cpu.Unlock()
	return m.updateLocked(key, value[:m.spec.ValueSize], flags)
}

// updateLocked is the map_update_elem op. Caller holds the CPU lock.
func (m *Map) updateLocked(key, value []byte, flags uint64) error {
	if flags&^uint64(UpdateLock) > UpdateExist {
		return unix.EINVAL
	}
	if flags&UpdateLock != 0 {
		return unix.EINVAL // no bpf_spin_lock in values
	}
	if m.isArray() {
		idx := le32(key)
		if idx >= m.spec.MaxEntries {
			return unix.E2BIG
		}
		if flags == UpdateNoExist {
			return unix.EEXIST
		}
		off := idx * m.elem
		copy(m.arr[off:off+m.spec.ValueSize], value)
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.hash[string(key)]
	switch {
	case ok && flags == UpdateNoExist:
		return unix.EEXIST
	case !ok && flags == UpdateExist:
		return unix.ENOENT
	case ok:
		copy(e.value, value)
		return nil
	}
	if uint32(len(m.hash)) >= m.spec.MaxEntries {
		return unix.E2BIG
	}
	v := make([]byte, m.spec.ValueSize)
	copy(v, value)
	base, err := m.sys.mem.Map(v, 0)
	if err != nil {
		return unix.ENOMEM
	}
	m.hash[string(key)] = &hashElem{key: bytes.Clone(key), value: v, base: base}
	return nil
}

// Delete removes key (BPF_MAP_DELETE_ELEM). Array elements cannot be
// deleted (EINVAL).
func (m *Map) Delete(key []byte) error {
	if err := m.checkKey(key); err != nil {
		return err
	}
	if m.spec.Flags&FlagRdonly != 0 {
		return unix.EPERM
	}
	m.mu.Lock()
	frozen := m.frozen
	m.mu.Unlock()
	if frozen {
		return unix.EPERM
	}
	m.sys.cpu.Lock()
	defer m.sys.cpu.Unlock()
	return m.deleteLocked(key)
}

func (m *Map) deleteLocked(key []byte) error {
	if m.isArray() {
		return unix.EINVAL
	}
	m.mu.Lock()
	e, ok := m.hash[string(key)]
	if ok {
		delete(m.hash, string(key))
	}
	m.mu.Unlock()
	if !ok {
		return unix.ENOENT
	}
	// Unmapping is RCU-like: a run using the value finishes with it.
	m.sys.mem.Unmap(e.base)
	return nil
}

// NextKey returns the key after key (BPF_MAP_GET_NEXT_KEY); a nil or absent
// key gives the first one, the last gives ENOENT. Hash maps iterate in key
// byte order (the kernel's bucket order is unspecified).
func (m *Map) NextKey(key []byte) ([]byte, error) {
	if key != nil {
		if err := m.checkKey(key); err != nil {
			return nil, err
		}
	}
	if m.isArray() {
		next := uint32(0)
		if key != nil {
			if idx := le32(key); idx < m.spec.MaxEntries {
				next = idx + 1
			}
		}
		if next >= m.spec.MaxEntries {
			return nil, unix.ENOENT
		}
		return put32(next), nil
	}
	keys := m.sortedKeys()
	i := 0
	if key != nil {
		j := sort.Search(len(keys), func(i int) bool { return bytes.Compare(keys[i], key) >= 0 })
		if j < len(keys) && bytes.Equal(keys[j], key) {
			i = j + 1
		}
	}
	if i >= len(keys) {
		return nil, unix.ENOENT
	}
	return bytes.Clone(keys[i]), nil
}

func (m *Map) sortedKeys() [][]byte {
	m.mu.Lock()
	keys := make([][]byte, 0, len(m.hash))
	for _, e := range m.hash {
		keys = append(keys, e.key)
	}
	m.mu.Unlock()
	sort.Slice(keys, func(i, j int) bool { return bytes.Compare(keys[i], keys[j]) < 0 })
	return keys
}

// Len returns the number of elements (max_entries for arrays).
func (m *Map) Len() int {
	if m.isArray() {
		return int(m.spec.MaxEntries)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.hash)
}

// Freeze makes the map read-only for system calls (BPF_MAP_FREEZE).
func (m *Map) Freeze() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.frozen {
		return unix.EBUSY
	}
	m.frozen = true
	return nil
}

// Frozen reports whether the map was frozen.
func (m *Map) Frozen() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.frozen
}

func (m *Map) checkKey(key []byte) error {
	if len(key) != int(m.spec.KeySize) {
		return unix.EINVAL
	}
	return nil
}

func (m *Map) free() {
	m.sys.dropHandle(m)
	m.sys.mem.Unmap(m.handle)
	if m.isArray() {
		m.sys.mem.Unmap(m.arrBase)
		return
	}
	m.mu.Lock()
	elems := m.hash
	m.hash = nil
	m.mu.Unlock()
	for _, e := range elems {
		m.sys.mem.Unmap(e.base)
	}
}

func le32(b []byte) uint32 {
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}

func put32(v uint32) []byte { return []byte{byte(v), byte(v >> 8), byte(v >> 16), byte(v >> 24)} }
