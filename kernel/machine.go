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
	"sync"
	"time"

	"github.com/simfs/simfs/bpf"
	"github.com/simfs/simfs/bpffs"
	"github.com/simfs/simfs/events"
	"github.com/simfs/simfs/vfs"
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
}

// Machine is one simulated machine.
type Machine struct {
	cfg   Config
	vfs   *vfs.VFS
	bus   *events.Bus
	bpf   *bpf.Subsystem
	bpffs *bpffs.FS

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
	m.bpffs = bpffs.New(m.vfs, m.bpf, bpffs.Options{})
	if err := m.vfs.Mount(root, BPFFSPath, m.bpffs.Superblock()); err != nil {
		return nil, err
	}
	return m, nil
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
		return bpf.TaskInfo{Pid: uint32(t.pid), Tgid: uint32(t.pid), UID: t.cred.UID, GID: t.cred.GID, Comm: t.comm}, true
	}
	return bpf.TaskInfo{}, false
}

func (m *Machine) vfsRoot() *vfs.Caller { return vfs.RootCaller() }
