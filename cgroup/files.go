package cgroup

import (
	"strconv"
	"strings"

	"github.com/simfs/simfs/kernfs"
	"github.com/simfs/simfs/seqfile"
	"github.com/simfs/simfs/vfs"
	"golang.org/x/sys/unix"
)

// cftFlags are the cftype flags that matter here.
type cftFlags uint8

const (
	notOnRoot cftFlags = 1 << iota // CFTYPE_NOT_ON_ROOT
	psiFile                        // one of the {io,memory,cpu,irq}.pressure files
)

// PSI resources, in enum psi_res order.
const (
	psiIO = iota
	psiMem
	psiCPU
	psiIRQ
)

// cftype is one interface file's description (struct cftype).
type cftype struct {
	name  string
	flags cftFlags
	psi   int // psi_res of a pressure file
	show  func(h *Hierarchy, cg *Cgroup, m *seqfile.Buffer) error
	write func(h *Hierarchy, cg *Cgroup, of *kernfs.OpenFile, buf string) error
}

// mode is cgroup_file_mode: readable files 0444, writable ones add 0200.
func (cft *cftype) mode() uint32 {
	var m uint32
	if cft.show != nil {
		m |= 0444
	}
	if cft.write != nil {
		m |= 0200
	}
	return m
}

// baseFiles are cgroup_base_files, in creation order.
func baseFiles() []*cftype {
	return []*cftype{
		{name: "cgroup.type", flags: notOnRoot, show: showType, write: writeType},
		{name: "cgroup.procs", show: showProcs, write: writeProcs},
		{name: "cgroup.threads", show: showThreads, write: writeThreads},
		{name: "cgroup.controllers", show: showControllers},
		{name: "cgroup.subtree_control", show: showSubtreeControl, write: writeSubtreeControl},
		{name: "cgroup.events", flags: notOnRoot, show: showEvents},
		{name: "cgroup.max.descendants", show: showMaxDescendants, write: writeMaxDescendants},
		{name: "cgroup.max.depth", show: showMaxDepth, write: writeMaxDepth},
		{name: "cgroup.stat", show: showStat},
		{name: "cgroup.stat.local", flags: notOnRoot, show: showStatLocal},
		{name: "cgroup.freeze", flags: notOnRoot, show: showFreeze, write: writeFreeze},
		{name: "cgroup.kill", flags: notOnRoot, write: writeKill},
		{name: "cpu.stat", show: showCPUStat},
		{name: "cpu.stat.local", show: showCPUStatLocal},
	}
}

// ssFiles returns subsystem s's interface files on the default hierarchy
// (dfl_cftypes) and its css_alloc, which makes a css's private state: only
// hugetlb has files here.
func (h *Hierarchy) ssFiles(i int, s Subsys) ([]*cftype, func() any) {
	switch s.Name {
	case "hugetlb":
		return h.hugetlbFiles(i), func() any { return h.newHugetlbCSS() }
	}
	return nil, nil
}

// psiFiles are cgroup_psi_files, in creation order.
func psiFiles(irq bool) []*cftype {
	pressure := func(name string, res int) *cftype {
		return &cftype{name: name, flags: psiFile, psi: res, write: writePressure,
			show: func(h *Hierarchy, cg *Cgroup, m *seqfile.Buffer) error {
				showPressure(m, res)
				return nil
			}}
	}
	fs := []*cftype{pressure("io.pressure", psiIO), pressure("memory.pressure", psiMem), pressure("cpu.pressure", psiCPU)}
	if irq {
		fs = append(fs, pressure("irq.pressure", psiIRQ))
	}
	return append(fs, &cftype{name: "cgroup.pressure", show: showCgroupPressure, write: writeCgroupPressure})
}

// fileCtx is struct cgroup_file_ctx: per-open state of a cgroup file.
type fileCtx struct {
	trigger *psiTrigger
}

// psiTrigger is a registered PSI trigger; only its existence matters.
type psiTrigger struct {
	state     int
	threshold uint32
	window    uint32
}

// kfOps returns cgroup_kf_ops: every cgroup file shares them, and they
// dispatch on the cftype in the node's Priv.
func (h *Hierarchy) kfOps() *kernfs.Ops {
	return &kernfs.Ops{
		AtomicWriteLen: kernfs.PageSize,
		Open: func(of *kernfs.OpenFile) error {
			of.Priv = &fileCtx{}
			return nil
		},
		SeqShow: func(of *kernfs.OpenFile, m *seqfile.Buffer) error {
			cft := of.Node().Priv().(*cftype)
			if cft.show == nil {
				return unix.EINVAL
			}
			cg := of.Node().Parent().Priv().(*Cgroup)
			h.mu.RLock()
			defer h.mu.RUnlock()
			return cft.show(h, cg, m)
		},
		Write: func(of *kernfs.OpenFile, buf []byte, off int64) (int, error) {
			if len(buf) == 0 {
				return 0, nil
			}
			cft := of.Node().Priv().(*cftype)
			if cft.write == nil {
				return 0, unix.EINVAL
			}
			cg := of.Node().Parent().Priv().(*Cgroup)
			if err := cft.write(h, cg, of, kernfs.CString(buf)); err != nil {
				return 0, err
			}
			return len(buf), nil
		},
	}
}

// cftypes returns the hierarchy's interface files in creation order:
// base files, then PSI files.
func (h *Hierarchy) cftypes() []*cftype {
	cfts := baseFiles()
	if !h.opts.NoPSI {
		cfts = append(cfts, psiFiles(h.opts.IRQPressure)...)
	}
	return cfts
}

// populate creates cg's interface files (css_populate_dir for the cgroup
// itself), deactivated until the directory is activated. Every cgroup
// shares the hierarchy's cftypes and kernfs ops. Caller holds h.mu inside
// t.
func (h *Hierarchy) populate(t *vfs.Txn, cg *Cgroup, uid, gid uint32) error {
	ops := h.ops
	for _, cft := range h.cfts {
		if cft.flags&notOnRoot != 0 && cg.parent == nil {
			continue
		}
		kn, err := h.kr.CreateFile(t, cg.kn, cft.name, kernfs.Attr{Mode: cft.mode(), UID: uid, GID: gid, Priv: cft}, ops)
		if err != nil {
			return err
		}
		switch {
		case cft.name == "cgroup.events":
			cg.eventsFile = kn
		case cft.name == "cgroup.procs":
			cg.procsFile = kn
		case cft.flags&psiFile != 0:
			cg.psiFiles = append(cg.psiFiles, kn)
		}
	}
	return nil
}

func (h *Hierarchy) printMask(m *seqfile.Buffer, mask uint16) {
	printed := false
	for i, s := range h.ss {
		if mask&(1<<i) == 0 {
			continue
		}
		if printed {
			m.PutC(' ')
		}
		_, _ = m.WriteString(s.Name)
		printed = true
	}
	if printed {
		m.PutC('\n')
	}
}

func printMax(m *seqfile.Buffer, v int) {
	if v == maxInt {
		_, _ = m.WriteString("max\n")
		return
	}
	m.Printf("%d\n", v)
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func showType(h *Hierarchy, cg *Cgroup, m *seqfile.Buffer) error {
	switch {
	case cg.isThreaded():
		_, _ = m.WriteString("threaded\n")
	case !h.isValidDomain(cg):
		_, _ = m.WriteString("domain invalid\n")
	case h.isThreadRoot(cg):
		_, _ = m.WriteString("domain threaded\n")
	default:
		_, _ = m.WriteString("domain\n")
	}
	return nil
}

func writeType(h *Hierarchy, cg *Cgroup, of *kernfs.OpenFile, buf string) error {
	// Only switching to threaded mode is supported.
	if strstrip(buf) != "threaded" {
		return unix.EINVAL
	}
	return h.update(func(t *vfs.Txn) error {
		if cg.dead {
			return unix.ENOENT
		}
		c := of.Caller()
		return h.enableThreaded(t, cg, c.Cred.UID, c.Cred.GID)
	})
}

// enableThreaded is cgroup_enable_threaded. Becoming threaded only takes
// controllers away, so it creates no files (and, as in the kernel, does
// not activate).
func (h *Hierarchy) enableThreaded(t *vfs.Txn, cg *Cgroup, uid, gid uint32) error {
	parent := cg.parent
	dom := parent.dom
	if cg.isThreaded() {
		return nil
	}
	if cg.populated() || cg.subtreeControl&^h.threadedMask != 0 {
		return unix.EOPNOTSUPP
	}
	if !h.isValidDomain(dom) || !h.canBeThreadRoot(dom) {
		return unix.EOPNOTSUPP
	}
	h.walkLivePre(cg, func(d *Cgroup) bool {
		if d == cg || d.isThreaded() {
			d.dom = dom
		}
		return true
	})
	if err := h.applyControl(t, cg, uid, gid); err != nil {
		return err
	}
	parent.nrThreadedChildren++
	return nil
}

func writePids(m *seqfile.Buffer, tasks []*Task) {
	var tmp [24]byte
	for _, tk := range tasks {
		b := strconv.AppendInt(tmp[:0], int64(tk.pid), 10)
		if _, err := m.Write(append(b, '\n')); err != nil {
			return // overflowed: the read grows the buffer and comes back
		}
	}
}

func showProcs(h *Hierarchy, cg *Cgroup, m *seqfile.Buffer) error {
	// All processes of a threaded subtree belong to its domain cgroup;
	// reads in the subtree proper are refused.
	if cg.isThreaded() {
		return unix.EOPNOTSUPP
	}
	writePids(m, cg.tasks)
	// CSS_TASK_ITER_THREADED: a thread root also lists the tasks of its
	// threaded descendants.
	for _, c := range cg.children {
		h.walkLivePre(c, func(d *Cgroup) bool {
			if d.dom != cg {
				return false
			}
			writePids(m, d.tasks)
			return true
		})
	}
	return nil
}

func showThreads(h *Hierarchy, cg *Cgroup, m *seqfile.Buffer) error {
	writePids(m, cg.tasks)
	return nil
}

func writeProcs(h *Hierarchy, cg *Cgroup, of *kernfs.OpenFile, buf string) error {
	return h.procsWrite(cg, of, buf, true)
}

func writeThreads(h *Hierarchy, cg *Cgroup, of *kernfs.OpenFile, buf string) error {
	return h.procsWrite(cg, of, buf, false)
}

// procsWrite is __cgroup_procs_write.
func (h *Hierarchy) procsWrite(dst *Cgroup, of *kernfs.OpenFile, buf string, threadgroup bool) error {
	c := of.Caller()
	return h.update(func(t *vfs.Txn) error {
		if dst.dead {
			return unix.ENODEV
		}
		// cgroup_procs_write_start.
		pid, err := kstrtoint(strstrip(buf), 0)
		if err != nil || pid < 0 {
			return unix.EINVAL
		}
		var tk *Task
		if pid != 0 {
			tk = h.tasks[pid]
		} else if tk = callerTask(c); tk != nil && tk.exited {
			tk = nil
		}
		if tk == nil {
			return unix.ESRCH
		}
		src := tk.cg
		// cgroup_attach_permissions, with the opener's credentials.
		com := src
		for !dst.IsDescendantOf(com) {
			com = com.parent
		}
		if err := t.CheckPermission(c, com.procsFile.Inode(), vfs.MayWrite); err != nil {
			return err
		}
		if err := h.vetDst(dst); err != nil {
			return err
		}
		if !threadgroup && src.dom != dst.dom {
			return unix.EOPNOTSUPP
		}
		h.migrate(t, tk, dst)
		return nil
	})
}

func showControllers(h *Hierarchy, cg *Cgroup, m *seqfile.Buffer) error {
	h.printMask(m, h.control(cg))
	return nil
}

func showSubtreeControl(h *Hierarchy, cg *Cgroup, m *seqfile.Buffer) error {
	h.printMask(m, cg.subtreeControl)
	return nil
}

// writeSubtreeControl is cgroup_subtree_control_write.
func writeSubtreeControl(h *Hierarchy, cg *Cgroup, of *kernfs.OpenFile, buf string) error {
	var enable, disable uint16
	for _, tok := range strings.Split(strstrip(buf), " ") {
		if tok == "" {
			continue
		}
		i := -1
		for j, s := range h.ss {
			if tok[1:] == s.Name {
				i = j
				break
			}
		}
		if i < 0 {
			return unix.EINVAL
		}
		bit := uint16(1) << i
		switch tok[0] {
		case '+':
			enable |= bit
			disable &^= bit
		case '-':
			disable |= bit
			enable &^= bit
		default:
			return unix.EINVAL
		}
	}
	return h.update(func(t *vfs.Txn) error {
		if cg.dead {
			return unix.ENODEV
		}
		for i := range h.ss {
			bit := uint16(1) << i
			switch {
			case enable&bit != 0:
				if cg.subtreeControl&bit != 0 {
					enable &^= bit
					continue
				}
				if h.control(cg)&bit == 0 {
					return unix.ENOENT
				}
			case disable&bit != 0:
				if cg.subtreeControl&bit == 0 {
					disable &^= bit
					continue
				}
				for _, child := range cg.children {
					if !child.dead && child.subtreeControl&bit != 0 {
						return unix.EBUSY
					}
				}
			}
		}
		if enable == 0 && disable == 0 {
			return nil
		}
		if err := h.vetSubtreeControlEnable(cg, enable); err != nil {
			return err
		}
		cg.subtreeControl = cg.subtreeControl&^disable | enable
		// The files of the new csses appear all at once, with the
		// writer's ownership.
		c := of.Caller()
		err := h.applyControl(t, cg, c.Cred.UID, c.Cred.GID)
		h.kr.Activate(t, cg.kn)
		return err
	})
}

// vetSubtreeControlEnable is cgroup_vet_subtree_control_enable.
func (h *Hierarchy) vetSubtreeControlEnable(cg *Cgroup, enable uint16) error {
	domainEnable := enable &^ h.threadedMask
	if enable == 0 {
		return nil
	}
	if !h.isValidDomain(cg.dom) {
		return unix.EOPNOTSUPP
	}
	if cg.isMixable() {
		return nil
	}
	if domainEnable != 0 {
		if h.isThreadRoot(cg) || cg.isThreaded() {
			return unix.EOPNOTSUPP
		}
	} else if h.canBeThreadRoot(cg) || cg.isThreaded() {
		return nil
	}
	if cg.hasTasks() {
		return unix.EBUSY
	}
	return nil
}

func showEvents(h *Hierarchy, cg *Cgroup, m *seqfile.Buffer) error {
	m.Printf("populated %d\n", b2i(cg.populated()))
	m.Printf("frozen %d\n", b2i(cg.frozen))
	return nil
}

func showMaxDescendants(h *Hierarchy, cg *Cgroup, m *seqfile.Buffer) error {
	printMax(m, cg.maxDescendants)
	return nil
}

func showMaxDepth(h *Hierarchy, cg *Cgroup, m *seqfile.Buffer) error {
	printMax(m, cg.maxDepth)
	return nil
}

// parseMax parses "max" or a non-negative int (cgroup_max_*_write).
func parseMax(buf string) (int, error) {
	buf = strstrip(buf)
	if buf == "max" {
		return maxInt, nil
	}
	v, err := kstrtoint(buf, 0)
	if err != nil {
		return 0, err
	}
	if v < 0 {
		return 0, unix.ERANGE
	}
	return v, nil
}

func writeMaxDescendants(h *Hierarchy, cg *Cgroup, of *kernfs.OpenFile, buf string) error {
	v, err := parseMax(buf)
	if err != nil {
		return err
	}
	return h.update(func(t *vfs.Txn) error {
		if cg.dead {
			return unix.ENOENT
		}
		cg.maxDescendants = v
		return nil
	})
}

func writeMaxDepth(h *Hierarchy, cg *Cgroup, of *kernfs.OpenFile, buf string) error {
	v, err := parseMax(buf)
	if err != nil {
		return err
	}
	return h.update(func(t *vfs.Txn) error {
		if cg.dead {
			return unix.ENOENT
		}
		cg.maxDepth = v
		return nil
	})
}

// showStat is cgroup_stat_show (v6.11+ with per-subsystem css counts).
func showStat(h *Hierarchy, cg *Cgroup, m *seqfile.Buffer) error {
	m.Printf("nr_descendants %d\n", cg.nrDescendants)
	for i, s := range h.ss {
		if s.V1 {
			continue
		}
		n := int32(0)
		if cg.css&(1<<i) != 0 {
			n = cg.ssDescendants[i] + 1
		}
		m.Printf("nr_subsys_%s %d\n", s.Name, n)
	}
	m.Printf("nr_dying_descendants %d\n", cg.nrDyingDescendants)
	for i, s := range h.ss {
		if s.V1 {
			continue
		}
		m.Printf("nr_dying_subsys_%s %d\n", s.Name, cg.nrDyingSubsys[i])
	}
	return nil
}

// showStatLocal is cgroup_core_local_stat_show: time spent frozen.
func showStatLocal(h *Hierarchy, cg *Cgroup, m *seqfile.Buffer) error {
	ns := cg.frozenNsec
	if cg.eFreeze {
		ns += h.now().Sub(cg.freezeStart).Nanoseconds()
	}
	m.Printf("frozen_usec %d\n", ns/1000)
	return nil
}

func showFreeze(h *Hierarchy, cg *Cgroup, m *seqfile.Buffer) error {
	m.Printf("%d\n", b2i(cg.freeze))
	return nil
}

// parseBool01 parses the 0/1 files: kstrtoint errors, ERANGE otherwise.
func parseBool01(buf string) (bool, error) {
	v, err := kstrtoint(strstrip(buf), 0)
	if err != nil {
		return false, err
	}
	if v < 0 || v > 1 {
		return false, unix.ERANGE
	}
	return v == 1, nil
}

func writeFreeze(h *Hierarchy, cg *Cgroup, of *kernfs.OpenFile, buf string) error {
	freeze, err := parseBool01(buf)
	if err != nil {
		return err
	}
	return h.update(func(t *vfs.Txn) error {
		if cg.dead {
			return unix.ENOENT
		}
		h.freeze(t, cg, freeze)
		return nil
	})
}

// freeze is cgroup_freeze with tasks that freeze instantly: a cgroup is
// frozen exactly when it is freezing.
func (h *Hierarchy) freeze(t *vfs.Txn, cg *Cgroup, freeze bool) {
	if cg.freeze == freeze {
		return
	}
	cg.freeze = freeze
	now := h.now()
	applied := false
	var walk func(d *Cgroup)
	walk = func(d *Cgroup) {
		if d.dead {
			return
		}
		e := d.freeze || (d.parent != nil && d.parent.eFreeze)
		if e == d.eFreeze {
			return // nothing changes below either
		}
		d.eFreeze = e
		if e {
			d.freezeStart = now
		} else {
			d.frozenNsec += now.Sub(d.freezeStart).Nanoseconds()
		}
		d.frozen = e
		h.notifyEvents(t, d)
		applied = true
		for _, c := range d.children {
			walk(c)
		}
	}
	walk(cg)
	if !applied {
		h.notifyEvents(t, cg)
	}
}

// Freeze writes freeze ("1") or thaw ("0") to the cgroup's cgroup.freeze,
// with the file's rules: EINVAL for the root, ENOENT once removed.
func (cg *Cgroup) Freeze(freeze bool) error {
	if cg.parent == nil {
		return unix.EINVAL
	}
	h := cg.h
	return h.update(func(t *vfs.Txn) error {
		if cg.dead {
			return unix.ENOENT
		}
		h.freeze(t, cg, freeze)
		return nil
	})
}

func writeKill(h *Hierarchy, cg *Cgroup, of *kernfs.OpenFile, buf string) error {
	v, err := kstrtoint(strstrip(buf), 0)
	if err != nil {
		return err
	}
	if v != 1 {
		return unix.ERANGE
	}
	return cg.Kill()
}

// Kill is a write of "1" to cgroup.kill: every task in the cgroup and below
// exits. EOPNOTSUPP in a threaded cgroup, ENOENT once removed, EINVAL for
// the root (which has no cgroup.kill).
func (cg *Cgroup) Kill() error {
	if cg.parent == nil {
		return unix.EINVAL
	}
	h := cg.h
	return h.update(func(t *vfs.Txn) error {
		if cg.dead {
			return unix.ENOENT
		}
		// Killing is process directed: the whole thread group goes, so
		// threaded cgroups refuse it, as they refuse cgroup.procs.
		if cg.isThreaded() {
			return unix.EOPNOTSUPP
		}
		h.walkLivePre(cg, func(d *Cgroup) bool {
			for _, tk := range append([]*Task(nil), d.tasks...) {
				h.exitTask(t, tk)
			}
			return true
		})
		return nil
	})
}

// showCPUStat is cgroup_base_stat_cputime_show with no CPU time used
// (simulated tasks use no accounted CPU time): the fields of the reference machine's
// config (no CONFIG_SCHED_CORE).
func showCPUStat(h *Hierarchy, cg *Cgroup, m *seqfile.Buffer) error {
	_, _ = m.WriteString("usage_usec 0\nuser_usec 0\nsystem_usec 0\nnice_usec 0\n")
	return nil
}

// showCPUStatLocal is empty without the cpu controller.
func showCPUStatLocal(h *Hierarchy, cg *Cgroup, m *seqfile.Buffer) error { return nil }

// showPressure is psi_show for a group that never stalled: irq.pressure
// has only a "full" line.
func showPressure(m *seqfile.Buffer, res int) {
	if res != psiIRQ {
		_, _ = m.WriteString("some avg10=0.00 avg60=0.00 avg300=0.00 total=0\n")
	}
	_, _ = m.WriteString("full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n")
}

// writePressure is pressure_write → psi_trigger_create.
func writePressure(h *Hierarchy, cg *Cgroup, of *kernfs.OpenFile, buf string) error {
	cft := of.Node().Priv().(*cftype)
	h.mu.RLock()
	dead := cg.dead
	h.mu.RUnlock()
	if dead {
		return unix.ENODEV
	}
	ctx := of.Priv.(*fileCtx)
	// One trigger per open file.
	if ctx.trigger != nil {
		return unix.EBUSY
	}
	res := cft.psi
	var state int
	thr, win, ok := scanTwoUint(buf, "some")
	if ok {
		state = 2 * res // PSI_IO_SOME + res*2
	} else if thr, win, ok = scanTwoUint(buf, "full"); ok {
		state = 2*res + 1
	} else {
		return unix.EINVAL
	}
	const (
		psiIRQFull   = 6
		psiNonIdle   = 6
		windowMaxUs  = 10000000
		unprivWindow = 2000000
	)
	nonIdle := psiNonIdle
	if h.opts.IRQPressure {
		nonIdle = psiIRQFull + 1
		if res == psiIRQ {
			state--
			if state != psiIRQFull {
				return unix.EINVAL
			}
		}
	}
	if state >= nonIdle {
		return unix.EINVAL
	}
	if win == 0 || win > windowMaxUs {
		return unix.EINVAL
	}
	if !h.capSysResource(of.Caller()) && win%unprivWindow != 0 {
		return unix.EINVAL
	}
	if thr == 0 || thr > win {
		return unix.EINVAL
	}
	ctx.trigger = &psiTrigger{state: state, threshold: thr, window: win}
	return nil
}

func showCgroupPressure(h *Hierarchy, cg *Cgroup, m *seqfile.Buffer) error {
	m.Printf("%d\n", b2i(cg.psiEnabled))
	return nil
}

// writeCgroupPressure is cgroup_pressure_write: 0 hides the pressure
// files, 1 shows them again.
func writeCgroupPressure(h *Hierarchy, cg *Cgroup, of *kernfs.OpenFile, buf string) error {
	enable, err := parseBool01(buf)
	if err != nil {
		return err
	}
	return h.update(func(t *vfs.Txn) error {
		if cg.dead {
			return unix.ENOENT
		}
		if cg.psiEnabled != enable {
			for _, kn := range cg.psiFiles {
				h.kr.Show(t, kn, enable)
			}
			cg.psiEnabled = enable
		}
		return nil
	})
}
