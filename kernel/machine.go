// Package kernel is the simulated machine: one mount namespace with a
// ramfs root, bpffs at /sys/fs/bpf and cgroup2 at /sys/fs/cgroup, the BPF
// subsystem, and processes with credentials, a umask and an fd table. Its
// Process methods are the system calls: file operations (open, read, write,
// mkdir, unlink, rename, ...) and bpf(2) commands (BPF_PROG_LOAD,
// BPF_MAP_*, BPF_LINK_CREATE, BPF_OBJ_PIN, BPF_OBJ_GET, ...), all returning
// errors that wrap syscall.Errno.
//
// It stands for the glue of the real kernel: fs/open.c and fs/read_write.c
// (fd-based calls), kernel/bpf/syscall.c's command dispatch, and the parts of
// kernel/bpf/inode.c that choose where a pin goes (bpf_obj_do_pin: bpffs,
// or — the RFC — a kernfs directory, or EPERM).
//
// # Reference model
//
// A Process's fd table holds one reference per BPF object fd and one open
// vfs.File per file fd. Exit closes every fd, exactly as a process exit
// does; the CLI's daemon makes one Process per client connection.
//
// # Left out
//
// Signals, scheduling of processes (simulated tasks live in the cgroup
// hierarchy), fork/exec, fd inheritance, O_CLOEXEC semantics, ioctl.
package kernel

import (
	"fmt"
	"sync"
	"time"

	"github.com/simfs/simfs/bpf"
	"github.com/simfs/simfs/bpffs"
	"github.com/simfs/simfs/bpfview"
	"github.com/simfs/simfs/cgroup"
	"github.com/simfs/simfs/cgroupiter"
	"github.com/simfs/simfs/events"
	"github.com/simfs/simfs/fsnotify"
	"github.com/simfs/simfs/kobj"
	"github.com/simfs/simfs/vfs"
	"github.com/simfs/simfs/vmlinux"
)

// Where the machine mounts its file systems.
const (
	BPFFSPath  = "/sys/fs/bpf"
	CgroupPath = "/sys/fs/cgroup"
)

// Config configures a machine.
type Config struct {
	// Now is the clock (nil: time.Now).
	Now func() time.Time
	// Seed makes randomness (bpf_get_prandom_u32, the scheduler)
	// reproducible.
	Seed uint64
	// Layout is how kernel structures are laid out in BPF memory (nil:
	// vmlinux.Default()). Programs are CO-RE-relocated against it.
	Layout *vmlinux.Layout
	// Cgroup configures the cgroup2 hierarchy.
	Cgroup cgroup.Options
}

// Machine is one simulated machine.
type Machine struct {
	cfg   Config
	vfs   *vfs.VFS
	bus   *events.Bus
	bpf   *bpf.Subsystem
	bpffs *bpffs.FS
	fsn   *fsnotify.Registry
	cg    *cgroup.Hierarchy
	objs  *kobj.Objects
	view  *bpfview.View
	// schedStatWait is the simulated sched_stat_wait tracepoint.
	schedStatWait *bpf.Tracepoint

	// exposer is the RFC's kernfs side of BPF_OBJ_PIN (bpf_obj_do_pin_kernfs).
	exposer Exposer

	mu      sync.Mutex
	procs   map[int]*Process
	nextPid int
}

// Exposer is the RFC's answer to BPF_OBJ_PIN into a kernfs directory.
type Exposer interface {
	// IsKernfsDir is dentry_is_kernfs_dir.
	IsKernfsDir(dir *vfs.Inode) bool
	// Expose is bpf_obj_do_pin_kernfs: create name in dir for obj, inside
	// the pin's transaction. It takes no reference on obj.
	Expose(t *vfs.Txn, c *vfs.Caller, dir *vfs.Inode, name string, obj bpf.Object, path string) (*vfs.Inode, error)
}

func (m *Machine) bpffsOf(dir *vfs.Inode) (*bpffs.FS, bool) {
	if dir.Superblock() == m.bpffs.Superblock() {
		return m.bpffs, true
	}
	return nil, false
}

// Boot creates a machine with its file systems mounted.
func Boot(cfg Config) (*Machine, error) {
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	m := &Machine{cfg: cfg, bus: events.NewBus(now), procs: make(map[int]*Process), nextPid: 100}
	m.vfs = vfs.New(&vfs.RamFS{}, vfs.RamDirOps(), 0755, vfs.Options{Now: now})
	m.bpf = bpf.New(bpf.Config{Bus: m.bus, Now: now, Seed: cfg.Seed, Kernel: m})
	root := vfs.RootCaller()
	for _, d := range []string{"/sys", "/sys/fs", BPFFSPath, CgroupPath, "/tmp"} {
		if err := m.vfs.Mkdir(root, d, 0755); err != nil {
			return nil, err
		}
	}
	if err := m.vfs.Chmod(root, "/tmp", 01777); err != nil {
		return nil, err
	}
	m.fsn = fsnotify.New(m.vfs)
	m.bpffs = bpffs.New(m.vfs, m.bpf, bpffs.Options{Notify: m.fsn})
	if err := m.vfs.Mount(root, BPFFSPath, m.bpffs.Superblock()); err != nil {
		return nil, err
	}
	var err error
	if m.cg, err = cgroup.New(m.vfs, cfg.Cgroup); err != nil {
		return nil, err
	}
	if err := m.cg.Mount(root, CgroupPath); err != nil {
		return nil, err
	}
	m.cg.AddHook(m.cgroupEvent)
	layout := cfg.Layout
	if layout == nil {
		layout = vmlinux.Default()
	}
	if m.objs, err = kobj.New(m.bpf, layout, m.cg); err != nil {
		return nil, err
	}
	m.view = bpfview.New(m.bpf, m.bpffs, m.objs, m.cg)
	cgroupiter.Register(m.bpf, m.objs, m.cg)
	m.exposer = m.view
	m.schedStatWait = m.bpf.RegisterTracepoint("sched_stat_wait", "struct task_struct *p", "u64 delta")
	return m, nil
}

// Cgroups returns the cgroup2 hierarchy mounted at /sys/fs/cgroup.
func (m *Machine) Cgroups() *cgroup.Hierarchy { return m.cg }

// Layout returns the kernel structure layout programs see.
func (m *Machine) Layout() *vmlinux.Layout { return m.objs.Layout() }

// KernelObjects returns the kernel objects in BPF memory.
func (m *Machine) KernelObjects() *kobj.Objects { return m.objs }

// View returns the RFC's exposure machinery.
func (m *Machine) View() *bpfview.View { return m.view }

// Notify returns the fsnotify registry.
func (m *Machine) Notify() *fsnotify.Registry { return m.fsn }

// SchedStatWait returns the simulated sched_stat_wait tracepoint.
func (m *Machine) SchedStatWait() *bpf.Tracepoint { return m.schedStatWait }

// cgroupEvent turns hierarchy changes into lifecycle events.
func (m *Machine) cgroupEvent(ch cgroup.Change) {
	ev := events.Event{Cgroup: ch.ID, Pid: ch.Pid}
	switch {
	case ch.Path == "/":
		ev.Path = CgroupPath
	case ch.Path != "":
		ev.Path = CgroupPath + ch.Path
	}
	switch ch.Kind {
	case cgroup.CgroupCreated:
		ev.Kind = events.CgroupCreated
	case cgroup.CgroupRemoved:
		ev.Kind = events.CgroupRemoved
	case cgroup.TaskSpawned:
		ev.Kind = events.TaskSpawned
	case cgroup.TaskMoved:
		ev.Kind = events.TaskMoved
	case cgroup.TaskExited:
		ev.Kind = events.TaskExited
	default:
		return
	}
	m.bus.Emit(ev)
}

// VFS returns the machine's mount namespace.
func (m *Machine) VFS() *vfs.VFS { return m.vfs }

// BPF returns the BPF subsystem.
func (m *Machine) BPF() *bpf.Subsystem { return m.bpf }

// BPFFS returns the bpffs instance mounted at /sys/fs/bpf.
func (m *Machine) BPFFS() *bpffs.FS { return m.bpffs }

// Events returns the lifecycle event bus.
func (m *Machine) Events() *events.Bus { return m.bus }

// CurrentTask answers BPF helpers about the process a program runs for.
func (m *Machine) CurrentTask(task any) (bpf.TaskInfo, bool) {
	switch t := task.(type) {
	case *Process:
		return bpf.TaskInfo{Pid: uint32(t.pid), Tgid: uint32(t.pid), UID: t.cred.UID, GID: t.cred.GID, Comm: t.comm, CgroupID: 1}, true
	case *cgroup.Task:
		info := bpf.TaskInfo{Pid: uint32(t.Pid()), Tgid: uint32(t.Pid()), Comm: fmt.Sprintf("task%d", t.Pid())}
		if cg := t.Cgroup(); cg != nil {
			info.CgroupID = cg.ID()
		}
		info.Addr, _ = m.objs.Task(t)
		return info, true
	}
	return bpf.TaskInfo{}, false
}

func (m *Machine) vfsRoot() *vfs.Caller { return vfs.RootCaller() }
