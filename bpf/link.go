package bpf

import (
	"github.com/simfs/simfs/events"
	"golang.org/x/sys/unix"
)

// LinkAttr is what BPF_LINK_CREATE passes besides the program: the target
// the program type interprets (a cgroup and an order for cgroup iterators).
type LinkAttr struct {
	// Target is a type-specific object: for iter/cgroup the start cgroup
	// (nil: the root).
	Target any
	// Order is the cgroup iterator's walk order (enum bpf_cgroup_iter_order).
	Order uint32
	// Flags are link_create.flags.
	Flags uint32
}

// LinkOps is what a program type's link does.
type LinkOps interface {
	// LinkType names the link type as bpftool does: "view", "iter",
	// "tracing", "raw_tracepoint".
	LinkType() string
	// Release detaches the link; it runs once, when the link's last
	// reference goes (bpf_link_ops.release).
	Release()
	// Info returns type-specific key/value pairs for `link show` and
	// fdinfo ("attach_target", "order", "cgroup_id", ...), in display order.
	Info() [][2]string
}

// Link is a BPF link: it holds a reference on its program.
type Link struct {
	objBase
	prog *Prog
	ops  LinkOps
}

// Prog returns the linked program.
func (l *Link) Prog() *Prog { return l.prog }

// Ops returns the type-specific part.
func (l *Link) Ops() LinkOps { return l.ops }

// CreateLink is BPF_LINK_CREATE: it asks the program's type to attach and
// returns a link with one reference, owned by the caller.
func (s *Subsystem) CreateLink(p *Prog, attr LinkAttr) (*Link, error) {
	if p.ptype.Attach == nil {
		return nil, unix.EINVAL
	}
	ops, err := p.ptype.Attach(p, attr)
	if err != nil {
		return nil, err
	}
	l := &Link{prog: p, ops: ops}
	p.Get()
	l.objBase = objBase{sys: s, typ: TypeLink, name: p.name, release: func() {
		ops.Release()
		p.Put()
	}}
	l.refs.Store(1)
	l.id = s.links.alloc(l)
	s.emit(events.Event{Kind: events.LinkCreated, ObjType: "link", ObjID: l.id, Name: ops.LinkType()})
	return l, nil
}

// IterLink is implemented by the LinkOps of iterator links: every open(2)
// of a pinned iterator link (and every BPF_ITER_CREATE) starts a new
// session (iter_open / prepare_seq_file).
type IterLink interface {
	// NewSession starts a session on behalf of task (the opener).
	NewSession(task any) (*IterSession, error)
}
