package kernel

import (
	"encoding/hex"
	"time"

	"github.com/simfs/simfs/bpf"
)

// Info is BPF_OBJ_GET_INFO_BY_FD's answer, flattened for all object types
// (what `simfs prog|map|link show` prints).
type Info struct {
	ObjType string `json:"obj_type"` // "prog", "map", "link"
	ID      uint32 `json:"id"`
	Name    string `json:"name,omitempty"`
	Refs    int64  `json:"refs"`

	// Programs.
	ProgType   string    `json:"type,omitempty"` // section-style type: "view/cgroup"
	Target     string    `json:"attach_target,omitempty"`
	Tag        string    `json:"tag,omitempty"`
	License    string    `json:"license,omitempty"`
	Insns      int       `json:"insns,omitempty"`
	MapIDs     []uint32  `json:"map_ids,omitempty"`
	LoadedAt   time.Time `json:"loaded_at,omitzero"`
	BackingIno uint64    `json:"backing_inode,omitempty"`

	// Maps.
	MapType    string `json:"map_type,omitempty"`
	KeySize    uint32 `json:"key_size,omitempty"`
	ValueSize  uint32 `json:"value_size,omitempty"`
	MaxEntries uint32 `json:"max_entries,omitempty"`
	MapFlags   uint32 `json:"map_flags,omitempty"`
	Frozen     bool   `json:"frozen,omitempty"`

	// Links.
	LinkType string      `json:"link_type,omitempty"`
	ProgID   uint32      `json:"prog_id,omitempty"`
	Attrs    [][2]string `json:"attrs,omitempty"`
}

func (m *Machine) info(o bpf.Object) Info {
	in := Info{ObjType: o.ObjType().String(), ID: o.ID(), Refs: o.Refs()}
	if b := o.BackingInode(); b != nil {
		in.BackingIno = b.Ino()
	}
	switch x := o.(type) {
	case *bpf.Prog:
		in.Name = x.Name()
		in.ProgType = x.Type().Name
		if x.Type().Prefix {
			in.ProgType += x.Target()
		}
		in.Target = x.Target()
		tag := x.Tag()
		in.Tag = hex.EncodeToString(tag[:])
		in.License = x.License()
		in.Insns = x.Len()
		in.LoadedAt = x.LoadTime()
		for _, mp := range x.Maps() {
			in.MapIDs = append(in.MapIDs, mp.ID())
		}
	case *bpf.Map:
		s := x.Spec()
		in.Name = s.Name
		in.MapType = s.Type.String()
		in.KeySize, in.ValueSize, in.MaxEntries, in.MapFlags = s.KeySize, s.ValueSize, s.MaxEntries, s.Flags
		in.Frozen = x.Frozen()
	case *bpf.Link:
		in.Name = x.Name()
		in.LinkType = x.Ops().LinkType()
		in.ProgID = x.Prog().ID()
		in.Attrs = x.Ops().Info()
	}
	return in
}

// Objects lists the live objects of a type (for `show` commands).
func (m *Machine) Objects(t bpf.ObjType) []Info {
	objs := m.bpf.Objects(t)
	out := make([]Info, 0, len(objs))
	for _, o := range objs {
		out = append(out, m.info(o))
	}
	return out
}
