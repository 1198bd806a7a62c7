package loader

import (
	"bytes"
	"encoding/binary"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
	"golang.org/x/sys/unix"
)

// Def says how a map was defined in the object.
type Def string

const (
	// DefBTF is a BTF-defined map: struct { __uint(type, ...); ... } name
	// SEC(".maps").
	DefBTF Def = "btf"
	// DefLegacy is a legacy struct bpf_map_def name SEC("maps"), as the
	// bpf_view RFC's selftest uses (libbpf 1.0 dropped them; cilium/ebpf
	// still reads them). It has no BTF key and value types.
	DefLegacy Def = "legacy"
	// DefData is a global data section (".rodata", ".data", ".bss",
	// ".rodata.str1.1", ".data.*", ".rodata.*") as a one-entry array map.
	DefData Def = "data"
)

// Map is a map the object defines, as BPF_MAP_CREATE would get it.
type Map struct {
	// Name is what references to the map use (Instruction.Reference(),
	// MapRef.Map): the ELF symbol for BTF-defined and legacy maps, the
	// section name for global data.
	Name string
	Def  Def
	// Section is the ELF section the definition is in (".maps", "maps",
	// ".rodata", ...).
	Section    string
	Type       ebpf.MapType
	KeySize    uint32
	ValueSize  uint32
	MaxEntries uint32
	// Flags are the map_flags: for global data those libbpf uses,
	// BPF_F_MMAPABLE and, for ".rodata*", BPF_F_RDONLY_PROG.
	Flags uint32
	// Frozen: after creation and initialisation the map is frozen
	// (BPF_MAP_FREEZE) so user space cannot change it, as libbpf does for
	// ".rodata*".
	Frozen bool
	// Pinning is the BTF map's pinning attribute (LIBBPF_PIN_BY_NAME), only
	// reported.
	Pinning  ebpf.PinType
	MapExtra uint64
	// Key and Value are the BTF types of key and value (nil when the object
	// has none, e.g. legacy maps and ".rodata.str1.1"). A global data map's
	// Value is its *btf.Datasec and its Key *btf.Void, as libbpf describes
	// them to the kernel.
	Key, Value btf.Type
	// Contents are the initial contents: for global data one entry, key 0,
	// holding the section's bytes (zeros for ".bss").
	Contents []KV
}

// KV is one initial map entry, encoded in the object's byte order.
type KV struct {
	Key, Value []byte
}

// ReadOnlyProg reports whether programs may only read the map
// (BPF_F_RDONLY_PROG).
func (m *Map) ReadOnlyProg() bool { return m.Flags&unix.BPF_F_RDONLY_PROG != 0 }

// Data returns a global data map's section bytes (the value of entry 0), or
// nil for other maps. The slice is the map's own: SetVariable writes to it.
func (m *Map) Data() []byte {
	if m.Def != DefData || len(m.Contents) != 1 {
		return nil
	}
	return m.Contents[0].Value
}

// Variable is a global variable in a global data section.
type Variable struct {
	Name string
	// Section is the global data map it lives in (Object.Map(Section)).
	Section string
	Offset  uint32
	Size    uint32
	// Type is the variable's BTF type (nil without BTF).
	Type btf.Type
}

func newMap(name string, ms *ebpf.MapSpec, section string) (*Map, error) {
	m := &Map{
		Name:       name,
		Section:    section,
		Type:       ms.Type,
		KeySize:    ms.KeySize,
		ValueSize:  ms.ValueSize,
		MaxEntries: ms.MaxEntries,
		Flags:      ms.Flags,
		Pinning:    ms.Pinning,
		MapExtra:   ms.MapExtra,
		Key:        ms.Key,
		Value:      ms.Value,
	}
	switch {
	case name == ".kconfig":
		return nil, errorf(unix.EOPNOTSUPP, nil, "extern __kconfig variables are not supported (no kernel configuration to read)")
	case section == ".maps":
		m.Def = DefBTF
	case strings.HasPrefix(section, "maps"):
		m.Def = DefLegacy
	case isDataSection(name):
		m.Def, m.Section = DefData, name
		m.Flags |= unix.BPF_F_MMAPABLE
		if strings.HasPrefix(name, ".rodata") {
			m.Flags |= unix.BPF_F_RDONLY_PROG
			m.Frozen = true
		}
	default:
		return nil, errorf(unix.EOPNOTSUPP, nil, "map %s (%v) is neither a BTF-defined, a legacy nor a global data map (struct_ops?)", name, ms.Type)
	}
	if ms.InnerMap != nil {
		return nil, errorf(unix.EOPNOTSUPP, nil, "map %s: maps of maps are not supported", name)
	}
	if ms.Extra != nil {
		extra := make([]byte, ms.Extra.Len())
		if _, err := ms.Extra.ReadAt(extra, 0); err == nil && bytes.Count(extra, []byte{0}) != len(extra) {
			return nil, errorf(unix.EINVAL, nil, "map %s: bpf_map_def has %d unrecognised non-zero trailing bytes", name, len(extra))
		}
	}
	for _, kv := range ms.Contents {
		k, ok := encode(kv.Key)
		v, ok2 := encode(kv.Value)
		if !ok || !ok2 {
			return nil, errorf(unix.EOPNOTSUPP, nil, "map %s: initial contents %T -> %T are not supported (program arrays and maps of maps)", name, kv.Key, kv.Value)
		}
		m.Contents = append(m.Contents, KV{Key: k, Value: v})
	}
	if m.Def == DefData && m.ValueSize > MaxValueSize {
		return nil, errorf(unix.E2BIG, nil, "section %s: %d bytes of global data, more than a map value may hold (%d)", name, m.ValueSize, MaxValueSize)
	}
	if m.Def == DefData && (len(m.Contents) != 1 || len(m.Contents[0].Value) != int(m.ValueSize)) {
		return nil, errorf(unix.EINVAL, nil, "global data map %s: contents do not match its value size %d", name, m.ValueSize)
	}
	return m, nil
}

// encode turns a cilium/ebpf MapKV key or value into bytes (little-endian,
// the only byte order the simulator and the BPF ELF objects it reads use).
func encode(x any) ([]byte, bool) {
	switch x := x.(type) {
	case []byte:
		return cloneBytes(x), true
	case string:
		return nil, false
	}
	b, err := binary.Append(nil, binary.LittleEndian, x)
	return b, err == nil
}
