package cgroup

import (
	"math"
	"strings"
	"time"

	"github.com/simfs/simfs/kernfs"
	"github.com/simfs/simfs/vfs"
	"golang.org/x/sys/unix"
)

const maxInt = math.MaxInt32

// Cgroup is one cgroup (struct cgroup). Its directory is a kernfs node
// whose Priv is the *Cgroup, and its id is that node's id.
type Cgroup struct {
	h      *Hierarchy
	kn     *kernfs.Node
	parent *Cgroup
	level  int
	serial uint64

	// Everything below is guarded by h.mu.

	children []*Cgroup // live and dying (not yet released), creation order
	dead     bool      // rmdir done: CSS_ONLINE cleared
	released bool      // last reference gone
	refs     int       // css references: the base one until rmdir, plus Get

	tasks []*Task // in arrival order

	nrPopulatedCsets            int
	nrPopulatedDomainChildren   int
	nrPopulatedThreadedChildren int

	nrDescendants      int
	nrDyingDescendants int
	maxDescendants     int
	maxDepth           int

	subtreeControl uint16
	subtreeSSMask  uint16
	css            uint16 // subsystems with a live css here
	dyingCSS       uint16 // subsystems whose css here is offline, not yet released
	ssDescendants  [maxSubsys]int32
	nrDyingSubsys  [maxSubsys]int32

	dom                *Cgroup // dom_cgrp: itself unless threaded
	nrThreadedChildren int

	freeze      bool // cgroup.freeze as written
	eFreeze     bool // effective freeze (CGRP_FREEZE)
	frozen      bool // CGRP_FROZEN
	frozenNsec  int64
	freezeStart time.Time

	psiEnabled bool

	// Controller state: each live css's private data (css_alloc) and,
	// while it is visible (CSS_VISIBLE), its interface files.
	cssPriv    [maxSubsys]any
	cssFiles   [maxSubsys][]*kernfs.Node
	cssVisible uint16

	eventsFile *kernfs.Node
	procsFile  *kernfs.Node
	psiFiles   []*kernfs.Node
}

// Hierarchy returns the hierarchy the cgroup belongs to.
func (cg *Cgroup) Hierarchy() *Hierarchy { return cg.h }

// ID is the cgroup id: its directory's inode number (cgroup_id).
func (cg *Cgroup) ID() uint64 { return cg.kn.ID() }

// Level is the depth below the root (the root is 0).
func (cg *Cgroup) Level() int { return cg.level }

// Parent returns the parent cgroup (nil for the root).
func (cg *Cgroup) Parent() *Cgroup { return cg.parent }

// Name returns the directory's name ("" for the root).
func (cg *Cgroup) Name() string { return cg.kn.Name() }

// Path returns the cgroup's path from the hierarchy root ("/" for the
// root), as /proc/PID/cgroup shows it after "0::".
func (cg *Cgroup) Path() string { return cg.kn.Path() }

// Node returns the cgroup's kernfs directory.
func (cg *Cgroup) Node() *kernfs.Node { return cg.kn }

// Serial is the creation serial number (serial_nr): children are kept in
// its order.
func (cg *Cgroup) Serial() uint64 { return cg.serial }

// Children returns the child cgroups in creation order, including dying
// ones not yet released (as css children lists do); check Dead.
func (cg *Cgroup) Children() []*Cgroup {
	cg.h.mu.RLock()
	defer cg.h.mu.RUnlock()
	return append([]*Cgroup(nil), cg.children...)
}

// Dead reports whether the cgroup was removed (cgroup_is_dead).
func (cg *Cgroup) Dead() bool {
	cg.h.mu.RLock()
	defer cg.h.mu.RUnlock()
	return cg.dead
}

// Released reports whether a removed cgroup's last reference went.
func (cg *Cgroup) Released() bool {
	cg.h.mu.RLock()
	defer cg.h.mu.RUnlock()
	return cg.released
}

// Populated reports cgroup_is_populated: a task in the cgroup or below.
func (cg *Cgroup) Populated() bool {
	cg.h.mu.RLock()
	defer cg.h.mu.RUnlock()
	return cg.populated()
}

// Frozen reports CGRP_FROZEN, cgroup.events' "frozen".
func (cg *Cgroup) Frozen() bool {
	cg.h.mu.RLock()
	defer cg.h.mu.RUnlock()
	return cg.frozen
}

// NrDescendants is cgroup.stat's nr_descendants (live descendants).
func (cg *Cgroup) NrDescendants() int {
	cg.h.mu.RLock()
	defer cg.h.mu.RUnlock()
	return cg.nrDescendants
}

// NrDyingDescendants is cgroup.stat's nr_dying_descendants.
func (cg *Cgroup) NrDyingDescendants() int {
	cg.h.mu.RLock()
	defer cg.h.mu.RUnlock()
	return cg.nrDyingDescendants
}

// Tasks returns the tasks in the cgroup itself, in arrival order.
func (cg *Cgroup) Tasks() []*Task {
	cg.h.mu.RLock()
	defer cg.h.mu.RUnlock()
	return append([]*Task(nil), cg.tasks...)
}

// IsDescendantOf reports whether cg is anc or below it
// (cgroup_is_descendant).
func (cg *Cgroup) IsDescendantOf(anc *Cgroup) bool {
	for c := cg; c != nil; c = c.parent {
		if c == anc {
			return true
		}
	}
	return false
}

// Get takes a reference on the cgroup (cgroup_get), as a BPF link on it
// does: a removed cgroup stays "dying" (counted in its ancestors'
// nr_dying_descendants, listed by Children) until the last one is dropped.
// Each cgroup also holds one on its parent until it is released, so a
// dying child keeps a removed parent dying too.
func (cg *Cgroup) Get() {
	h := cg.h
	h.mu.Lock()
	defer h.mu.Unlock()
	if cg.released {
		panic("cgroup: Get on a released cgroup")
	}
	cg.refs++
}

// Put drops a reference taken with Get.
func (cg *Cgroup) Put() {
	_ = cg.h.update(func(t *vfs.Txn) error {
		cg.h.put(t, cg)
		return nil
	})
}

// put drops a reference; the last one of a dead cgroup releases it
// (css_release_work_fn). Caller holds h.mu inside t.
func (h *Hierarchy) put(t *vfs.Txn, cg *Cgroup) {
	cg.refs--
	if cg.refs > 0 {
		return
	}
	if cg.refs < 0 || !cg.dead {
		panic("cgroup: reference count underflow")
	}
	cg.released = true
	for i := range h.ss {
		if cg.nrDyingSubsysOwn(i) {
			h.releaseCSS(cg, i)
		}
	}
	for a := cg.parent; a != nil; a = a.parent {
		a.nrDyingDescendants--
	}
	p := cg.parent
	for i, c := range p.children {
		if c == cg {
			p.children = append(p.children[:i:i], p.children[i+1:]...)
			break
		}
	}
	delete(h.byID, cg.kn.ID())
	h.emit(t, Change{Kind: CgroupReleased, Cgroup: cg})
	// The reference cgroup_create took on the parent (cgroup_get_live),
	// dropped when the child is freed.
	h.put(t, p)
}

// nrDyingSubsysOwn reports whether cg's own css of subsystem i is dying:
// a dead cgroup's csses die with it.
func (cg *Cgroup) nrDyingSubsysOwn(i int) bool { return cg.dyingCSS&(1<<i) != 0 }

func (cg *Cgroup) populated() bool {
	return cg.nrPopulatedCsets+cg.nrPopulatedDomainChildren+cg.nrPopulatedThreadedChildren > 0
}

// hasTasks is cgroup_has_tasks.
func (cg *Cgroup) hasTasks() bool { return cg.nrPopulatedCsets > 0 }

// isThreaded is cgroup_is_threaded.
func (cg *Cgroup) isThreaded() bool { return cg.dom != cg }

// isMixable is cgroup_is_mixable: only the root may host both domain and
// threaded children.
func (cg *Cgroup) isMixable() bool { return cg.parent == nil }

// canBeThreadRoot is cgroup_can_be_thread_root.
func (h *Hierarchy) canBeThreadRoot(cg *Cgroup) bool {
	if cg.isMixable() {
		return true
	}
	if cg.isThreaded() {
		return false
	}
	if cg.nrPopulatedDomainChildren > 0 {
		return false
	}
	if cg.subtreeControl&^h.threadedMask != 0 {
		return false
	}
	return true
}

// isThreadRoot is cgroup_is_thread_root.
func (h *Hierarchy) isThreadRoot(cg *Cgroup) bool {
	if cg.isThreaded() {
		return false
	}
	if cg.nrThreadedChildren > 0 {
		return true
	}
	return cg.hasTasks() && cg.subtreeControl&h.threadedMask != 0
}

// isValidDomain is cgroup_is_valid_domain.
func (h *Hierarchy) isValidDomain(cg *Cgroup) bool {
	if cg.isThreaded() {
		return false
	}
	for c := cg.parent; c != nil; c = c.parent {
		if !c.isMixable() && h.isThreadRoot(c) {
			return false
		}
		if c.isThreaded() {
			return false
		}
	}
	return true
}

// control is cgroup_control: the controllers cg's cgroup.controllers lists.
func (h *Hierarchy) control(cg *Cgroup) uint16 {
	if p := cg.parent; p != nil {
		m := p.subtreeControl
		if cg.isThreaded() {
			m &= h.threadedMask
		}
		return m
	}
	return h.rootMask &^ h.implicitMask
}

// ssMask is cgroup_ss_mask: the subsystems that have a css in cg.
func (h *Hierarchy) ssMask(cg *Cgroup) uint16 {
	if p := cg.parent; p != nil {
		m := p.subtreeSSMask
		if cg.isThreaded() {
			m &= h.threadedMask
		}
		return m
	}
	return h.rootMask
}

// applyControl is cgroup_apply_control followed by
// cgroup_finalize_control's cgroup_apply_control_disable for the subtree
// below and including cg: each cgroup's subtree_ss_mask is recomputed from
// its subtree_control (cgroup_propagate_control), missing csses come
// online and visible ones get their files (pre-order), then csses no longer
// wanted are killed and ones no longer visible lose their files
// (post-order). New files are created deactivated, owned by uid/gid (the
// writer's fsuid and fsgid, cgroup_kn_set_ugid); the caller activates
// them. Caller holds h.mu inside t.
func (h *Hierarchy) applyControl(t *vfs.Txn, cg *Cgroup, uid, gid uint32) error {
	h.walkLivePre(cg, func(d *Cgroup) bool {
		d.subtreeSSMask = (d.subtreeControl | h.implicitMask) & h.ssMask(d)
		return true
	})
	var err error
	h.walkLivePre(cg, func(d *Cgroup) bool {
		want := h.ssMask(d)
		for i := range h.ss {
			bit := uint16(1) << i
			if want&bit == 0 {
				continue
			}
			if d.css&bit == 0 {
				h.onlineCSS(d, i)
			}
			if h.cssVisible(d, i) {
				if err = h.populateCSS(t, d, i, uid, gid); err != nil {
					return false
				}
			}
		}
		return true
	})
	if err != nil {
		return err
	}
	h.walkLivePost(cg, func(d *Cgroup) {
		want := h.ssMask(d)
		for i := range h.ss {
			bit := uint16(1) << i
			switch {
			case d.css&bit == 0:
			case d.parent != nil && want&bit == 0:
				h.killCSS(t, d, i)
				h.releaseCSS(d, i)
			case !h.cssVisible(d, i):
				h.clearCSSDir(t, d, i)
			}
		}
	})
	return nil
}

// cssVisible is css_visible: a css has files where its controller is
// listed in cgroup.controllers, or is implicit and has a css there.
func (h *Hierarchy) cssVisible(cg *Cgroup, i int) bool {
	bit := uint16(1) << i
	if h.control(cg)&bit != 0 {
		return true
	}
	return h.ssMask(cg)&bit != 0 && h.implicitMask&bit != 0
}

// populateCSS is css_populate_dir for subsystem i's css in cg: its
// interface files, deactivated. Caller holds h.mu inside t.
func (h *Hierarchy) populateCSS(t *vfs.Txn, cg *Cgroup, i int, uid, gid uint32) error {
	bit := uint16(1) << i
	if cg.cssVisible&bit != 0 {
		return nil
	}
	for _, cft := range h.ssCfts[i] {
		if cft.flags&notOnRoot != 0 && cg.parent == nil {
			continue
		}
		kn, err := h.kr.CreateFile(t, cg.kn, cft.name, kernfs.Attr{Mode: cft.mode(), UID: uid, GID: gid, Priv: cft}, h.ops)
		if err != nil {
			h.clearCSSDir(t, cg, i)
			return err
		}
		cg.cssFiles[i] = append(cg.cssFiles[i], kn)
	}
	cg.cssVisible |= bit
	return nil
}

// clearCSSDir is css_clear_dir: subsystem i's files in cg go. Caller
// holds h.mu inside t.
func (h *Hierarchy) clearCSSDir(t *vfs.Txn, cg *Cgroup, i int) {
	for _, kn := range cg.cssFiles[i] {
		h.kr.Remove(t, kn)
	}
	cg.cssFiles[i] = nil
	cg.cssVisible &^= 1 << i
}

// killCSS is kill_css: the css's files go and it goes offline.
func (h *Hierarchy) killCSS(t *vfs.Txn, cg *Cgroup, i int) {
	h.clearCSSDir(t, cg, i)
	h.offlineCSS(cg, i)
}

// onlineCSS is css_create and online_css for subsystem i of cg.
func (h *Hierarchy) onlineCSS(cg *Cgroup, i int) {
	cg.css |= 1 << i
	if alloc := h.ssAlloc[i]; alloc != nil {
		cg.cssPriv[i] = alloc()
	}
	for a := cg.parent; a != nil; a = a.parent {
		a.ssDescendants[i]++
	}
}

// offlineCSS is offline_css: the css is dying until released.
func (h *Hierarchy) offlineCSS(cg *Cgroup, i int) {
	cg.css &^= 1 << i
	cg.cssPriv[i] = nil
	cg.dyingCSS |= 1 << i
	cg.nrDyingSubsys[i]++
	for a := cg.parent; a != nil; a = a.parent {
		a.ssDescendants[i]--
		a.nrDyingSubsys[i]++
	}
}

// releaseCSS is css_release_work_fn for a dying css.
func (h *Hierarchy) releaseCSS(cg *Cgroup, i int) {
	cg.dyingCSS &^= 1 << i
	cg.nrDyingSubsys[i]--
	for a := cg.parent; a != nil; a = a.parent {
		a.nrDyingSubsys[i]--
	}
}

// walkLivePre visits cg and its live descendants in pre-order; fn returns
// false to skip a subtree.
func (h *Hierarchy) walkLivePre(cg *Cgroup, fn func(*Cgroup) bool) {
	if cg.dead || !fn(cg) {
		return
	}
	for _, c := range cg.children {
		h.walkLivePre(c, fn)
	}
}

// walkLivePost visits cg's live descendants and cg in post-order.
func (h *Hierarchy) walkLivePost(cg *Cgroup, fn func(*Cgroup)) {
	if cg.dead {
		return
	}
	for _, c := range cg.children {
		h.walkLivePost(c, fn)
	}
	fn(cg)
}

// checkHierarchyLimits is cgroup_check_hierarchy_limits.
func checkHierarchyLimits(parent *Cgroup) bool {
	level := 0
	for c := parent; c != nil; c = c.parent {
		if c.nrDescendants >= c.maxDescendants {
			return false
		}
		if level >= c.maxDepth {
			return false
		}
		level++
	}
	return true
}

// kfMkdir is cgroup_mkdir, the kernfs mkdir syscall op.
func (h *Hierarchy) kfMkdir(t *vfs.Txn, c *vfs.Caller, parentKn *kernfs.Node, name string, mode uint32) (*kernfs.Node, error) {
	// Do not accept '\n' to keep /proc/<pid>/cgroup parsable.
	if strings.Contains(name, "\n") {
		return nil, unix.EINVAL
	}
	parent, ok := parentKn.Priv().(*Cgroup)
	if !ok {
		return nil, unix.EPERM
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if parent.dead {
		return nil, unix.ENODEV
	}
	if !checkHierarchyLimits(parent) {
		return nil, unix.EAGAIN
	}
	cg := &Cgroup{
		h:              h,
		parent:         parent,
		level:          parent.level + 1,
		maxDescendants: maxInt,
		maxDepth:       maxInt,
		psiEnabled:     true,
		refs:           1,
	}
	cg.dom = cg
	uid, gid := c.Cred.UID, c.Cred.GID
	kn, err := h.kr.CreateDir(t, parentKn, name, kernfs.Attr{Mode: mode, UID: uid, GID: gid, Priv: cg})
	if err != nil {
		return nil, err
	}
	cg.kn = kn
	h.serial++
	cg.serial = h.serial
	// A new cgroup inherits effective freezing; being empty it is
	// frozen at once.
	if parent.eFreeze {
		cg.eFreeze = true
		cg.frozen = true
		cg.freezeStart = h.now()
	}
	parent.children = append(parent.children, cg)
	parent.refs++ // cgroup_get_live(parent)
	for a := parent; a != nil; a = a.parent {
		a.nrDescendants++
	}
	h.byID[kn.ID()] = cg
	if err := h.populate(t, cg, uid, gid); err != nil {
		h.kr.Remove(t, kn)
		return nil, err
	}
	// cgroup_apply_control_enable: the new cgroup's csses and the files
	// of the visible ones.
	want := h.ssMask(cg)
	for i := range h.ss {
		if want&(1<<i) == 0 {
			continue
		}
		h.onlineCSS(cg, i)
		if h.cssVisible(cg, i) {
			if err := h.populateCSS(t, cg, i, uid, gid); err != nil {
				h.kr.Remove(t, kn)
				return nil, err
			}
		}
	}
	cg.subtreeSSMask = h.implicitMask & cg.css
	h.kr.Activate(t, kn)
	h.emit(t, Change{Kind: CgroupCreated, Cgroup: cg})
	return kn, nil
}

// kfRmdir is cgroup_rmdir → cgroup_destroy_locked.
func (h *Hierarchy) kfRmdir(t *vfs.Txn, c *vfs.Caller, kn *kernfs.Node) error {
	cg, ok := kn.Priv().(*Cgroup)
	if !ok || kn == h.kr.Node() {
		return unix.EPERM
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if cg.dead {
		return unix.ENODEV
	}
	if cg.populated() {
		return unix.EBUSY
	}
	// Dead children linger in the list while they drain; only live ones
	// count.
	for _, ch := range cg.children {
		if !ch.dead {
			return unix.EBUSY
		}
	}
	cg.dead = true
	for i := range h.ss {
		if cg.css&(1<<i) != 0 {
			// kill_css; the files go with the directory.
			cg.cssFiles[i] = nil
			cg.cssVisible &^= 1 << i
			h.offlineCSS(cg, i)
		}
	}
	h.kr.Remove(t, kn)
	for a := cg.parent; a != nil; a = a.parent {
		a.nrDescendants--
		a.nrDyingDescendants++
	}
	if cg.isThreaded() {
		cg.parent.nrThreadedChildren--
	}
	if cg.eFreeze {
		cg.frozenNsec += h.now().Sub(cg.freezeStart).Nanoseconds()
	}
	h.emit(t, Change{Kind: CgroupRemoved, Cgroup: cg})
	// Put the base reference.
	h.put(t, cg)
	return nil
}
