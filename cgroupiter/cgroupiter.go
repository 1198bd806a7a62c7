// Package cgroupiter is the cgroup iterator that Linux 6.1 merged as the
// successor of the 2022 bpf_view RFC: the "cgroup" bpf_iter target of
// kernel/bpf/cgroup_iter.c, its program type SEC("iter/cgroup") (and the
// sleepable SEC("iter.s/cgroup")) and its links.
//
// # The model
//
// A program is BPF_PROG_TYPE_TRACING with expected attach type
// BPF_TRACE_ITER. Its context is struct bpf_iter__cgroup {meta @0,
// cgroup @8}: meta is a struct bpf_iter_meta (seq, session_id, seq_num) and
// cgroup is the cgroup being shown, or NULL for the final call. It may call
// the tracing helpers plus bpf_seq_printf, bpf_seq_write and
// bpf_seq_printf_btf, and must return 0 (go on) or 1 (stop the walk after
// this cgroup); a run returning anything else fails the read with EINVAL,
// standing for the verifier's [0, 1] range check.
//
// BPF_LINK_CREATE gives a link with a start cgroup (cgroup_fd, cgroup_id,
// or the root when neither is set; the kernel package resolves them) and an
// order: SelfOnly, DescendantsPre (css_next_descendant_pre: the start, then
// depth first, children in creation order), DescendantsPost
// (css_next_descendant_post: leftmost leaf first, the start last) or
// AncestorsUp (the start, then each parent up to the root). Order 0 or any
// other value, and non-zero link flags, are EINVAL; a removed start cgroup is
// ENOENT.
//
// Every open of a pinned link and every BPF_ITER_CREATE is a session, a
// bpf.IterSession read by bpf_seq_read's rules. cgroup_iter adds its own:
//
//   - The program runs once per cgroup of the walk, with meta->seq_num the
//     session's sequence number; dead cgroups (removed, but still listed
//     because something holds them) are skipped without a run, and still
//     use up a seq_num if they are not the first, so a walk whose first
//     cgroup is dead never shows seq_num 0.
//   - A return of 1 ends the walk after that cgroup's output.
//   - After the last cgroup the program runs once more with a NULL cgroup
//     (the epilogue), at most once per session.
//   - The whole walk must happen in the first read(2): bpf_seq_read stops
//     showing cgroups once the buffer holds the reader's count (or the
//     32 KiB buffer overflows), and cgroup_iter_seq_start then answers every
//     later read, once the buffered bytes are drained, with EOPNOTSUPP,
//     because cgroup_mutex was dropped in between. A session whose walk
//     completed reads 0 (EOF) from then on.
//
// # Reference model
//
// A link holds a reference on its program (package bpf) and one on its
// start cgroup (cgroup_get in bpf_iter_attach_cgroup, put on release). A
// session holds its own on the program and on the start cgroup
// (prepare_seq_file, cgroup_iter_seq_init), so it outlives the link, and the
// cgroup's removal, which only makes it dead. Nothing holds the other
// cgroups of a walk.
//
// # Left out
//
//   - cgroup_mutex. The kernel holds it from seq_start to seq_stop, so one
//     read sees one state of the hierarchy. Here the walk is read from the
//     hierarchy when the session's first read starts, and whether each
//     cgroup is dead is checked when its turn comes, without holding the
//     hierarchy's lock across program runs: a cgroup created during that
//     read is not visited, one removed during it may be skipped.
//   - The CHILDREN order of kernels after 6.18, the v1 hierarchies (the
//     simulator has none), cgroup namespaces (fdinfo's cgroup_path is
//     relative to the hierarchy root), BPF_LINK_UPDATE, the open-coded
//     bpf_iter_css kfuncs, and MAX_ITER_OBJECTS' interaction with
//     cond_resched (package bpf enforces the limit).
//   - bpf_iter's session_id is one counter for every iterator target of a
//     kernel; the cgroup target is the simulator's only one, so each Iter
//     keeps the machine's counter.
//   - A program that faults at run time (a memory fault, an exhausted
//     instruction budget, a CO-RE-poisoned instruction, a return value out
//     of range) cannot exist in the kernel, whose verifier refuses it. Here
//     the read that runs it fails: with the run's errno if nothing was
//     buffered by that read (bpf.IterSession reports only the errno), and
//     every later read of the session fails with the run's full error,
//     which names the cause (a poisoned instruction names its field).
package cgroupiter

import (
	"fmt"
	"sync/atomic"

	"github.com/simfs/simfs/bpf"
	"github.com/simfs/simfs/cgroup"
	"github.com/simfs/simfs/kobj"
	"golang.org/x/sys/unix"
)

// Order is enum bpf_cgroup_iter_order.
type Order uint32

// The orders, with the kernel's numbers.
const (
	OrderUnspec     Order = 0 // BPF_CGROUP_ITER_ORDER_UNSPEC: refused
	SelfOnly        Order = 1 // BPF_CGROUP_ITER_SELF_ONLY
	DescendantsPre  Order = 2 // BPF_CGROUP_ITER_DESCENDANTS_PRE
	DescendantsPost Order = 3 // BPF_CGROUP_ITER_DESCENDANTS_POST
	AncestorsUp     Order = 4 // BPF_CGROUP_ITER_ANCESTORS_UP
)

// String is the name fdinfo and bpftool print ("descendants_pre").
func (o Order) String() string {
	switch o {
	case SelfOnly:
		return "self_only"
	case DescendantsPre:
		return "descendants_pre"
	case DescendantsPost:
		return "descendants_post"
	case AncestorsUp:
		return "ancestors_up"
	case OrderUnspec:
		return "order_unspec"
	}
	return fmt.Sprintf("order(%d)", uint32(o))
}

// Valid reports whether bpf_iter_attach_cgroup accepts the order.
func (o Order) Valid() bool { return o >= SelfOnly && o <= AncestorsUp }

// TypeName is the program type's section name.
const TypeName = "iter/cgroup"

// TargetName is the bpf_iter target name fdinfo shows.
const TargetName = "cgroup"

// CtxSize is sizeof(struct bpf_iter__cgroup).
const CtxSize = 16

// Iter is the cgroup iterator target of one machine.
type Iter struct {
	sys  *bpf.Subsystem
	objs *kobj.Objects
	h    *cgroup.Hierarchy
	// sessionIDs is bpf_iter's global session_id counter.
	sessionIDs atomic.Uint64
}

// Register creates the cgroup iterator of a machine whose BPF subsystem is
// sys, kernel objects objs and cgroup2 hierarchy h, and registers its
// program type with sys (bpf_iter_reg_target).
func Register(sys *bpf.Subsystem, objs *kobj.Objects, h *cgroup.Hierarchy) *Iter {
	it := &Iter{sys: sys, objs: objs, h: h}
	sys.RegisterProgType(it.ProgType())
	return it
}

// ProgType is SEC("iter/cgroup"): BPF_PROG_TYPE_TRACING, BPF_TRACE_ITER,
// attach BTF function bpf_iter_cgroup, sleepable as "iter.s/cgroup"
// (the target has BPF_ITER_RESCHED).
func (it *Iter) ProgType() *bpf.ProgType {
	return &bpf.ProgType{
		Name:       TypeName,
		Kind:       "tracing",
		KernelType: bpf.ProgTypeTracing,
		AttachType: bpf.AttachTraceIter,
		CtxSize:    CtxSize,
		Helpers:    bpf.SeqHelpers(),
		RetMin:     0,
		RetMax:     1,
		Sleepable:  true,
		Attach:     it.attach,
	}
}

// IsCgroupIter reports whether p is an iter/cgroup program.
func IsCgroupIter(p *bpf.Prog) bool { return p.Type() != nil && p.Type().Name == TypeName }

// CheckAttr is the part of BPF_LINK_CREATE that the kernel checks for a
// cgroup iterator before it looks at cgroup_fd or cgroup_id
// (bpf_iter_link_attach's flags check, then bpf_iter_attach_cgroup's order
// check): it is nil for programs of other types.
func CheckAttr(p *bpf.Prog, order, flags uint32) error {
	if !IsCgroupIter(p) {
		return nil
	}
	if flags != 0 {
		return fmt.Errorf("cgroup iterator: link flags %#x: %w", flags, unix.EINVAL)
	}
	if !Order(order).Valid() {
		return fmt.Errorf("cgroup iterator: order %d is not one of self_only (1), descendants_pre (2), descendants_post (3), ancestors_up (4): %w", order, unix.EINVAL)
	}
	return nil
}

// attach is bpf_iter_attach_cgroup: attr.Target is the start cgroup (nil:
// the root), resolved from cgroup_fd or cgroup_id by the caller.
func (it *Iter) attach(p *bpf.Prog, attr bpf.LinkAttr) (bpf.LinkOps, error) {
	if err := CheckAttr(p, attr.Order, attr.Flags); err != nil {
		return nil, err
	}
	var cg *cgroup.Cgroup
	switch t := attr.Target.(type) {
	case nil:
		cg = it.h.Root()
	case *cgroup.Cgroup:
		if t.Hierarchy() != it.h {
			return nil, fmt.Errorf("cgroup iterator: cgroup of another hierarchy: %w", unix.EBADF)
		}
		cg = t
	default:
		return nil, fmt.Errorf("cgroup iterator: start %T is not a cgroup: %w", attr.Target, unix.EBADF)
	}
	if !tryGetLive(cg) {
		return nil, fmt.Errorf("cgroup iterator: cgroup %s was removed: %w", cg.Path(), unix.ENOENT)
	}
	return &Link{it: it, prog: p, start: cg, order: Order(attr.Order)}, nil
}

// tryGetLive is css_tryget_online: a reference on cg if it is not dead.
// cgroup.Cgroup.Get panics on a released cgroup; a cgroup the caller found
// live can be removed and released by another goroutine before Get, and the
// recover turns that lost race into the ENOENT the kernel's tryget gives.
func tryGetLive(cg *cgroup.Cgroup) (ok bool) {
	if cg.Dead() {
		return false
	}
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	cg.Get()
	if cg.Dead() {
		cg.Put()
		return false
	}
	return true
}

// Link is a cgroup iterator link (struct bpf_iter_link with the cgroup
// target's aux data): its start cgroup and order.
type Link struct {
	it    *Iter
	prog  *bpf.Prog
	start *cgroup.Cgroup
	order Order
}

// Start returns the cgroup the walk starts from.
func (l *Link) Start() *cgroup.Cgroup { return l.start }

// Order returns the walk order.
func (l *Link) Order() Order { return l.order }

// LinkType implements bpf.LinkOps.
func (l *Link) LinkType() string { return "iter" }

// Release implements bpf.LinkOps: bpf_iter_detach_cgroup puts the start
// cgroup.
func (l *Link) Release() { l.start.Put() }

// Info implements bpf.LinkOps: what fdinfo (target_name, cgroup_path,
// order) and bpftool's link show (cgroup_id) print.
func (l *Link) Info() [][2]string {
	return [][2]string{
		{"target_name", TargetName},
		{"cgroup_path", l.start.Path()},
		{"order", l.order.String()},
		{"cgroup_id", fmt.Sprint(l.start.ID())},
	}
}

// NewSession implements bpf.IterLink: iter_open / BPF_ITER_CREATE's
// prepare_seq_file, which takes a reference on the program, and
// cgroup_iter_seq_init, which takes one on the start cgroup.
func (l *Link) NewSession(task any) (*bpf.IterSession, error) {
	st := &session{it: l.it, prog: l.prog, start: l.start, order: l.order}
	// The link holds both, so neither can be gone.
	l.prog.Get()
	l.start.Get()
	s := bpf.NewIterSession(st, &l.it.sessionIDs, task)
	var err error
	if st.seq, err = l.it.objs.NewSeqFile(bpf.IterBufSize); err == nil {
		st.meta, err = l.it.objs.NewIterMeta(st.seq.Addr, s.SessionID())
	}
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("cgroup iterator: %v: %w", err, unix.ENOMEM)
	}
	return s, nil
}

var (
	_ bpf.LinkOps  = (*Link)(nil)
	_ bpf.IterLink = (*Link)(nil)
)
