package daemon

import (
	"fmt"

	"github.com/simfs/simfs/cgroup"
	"github.com/simfs/simfs/events"
	"github.com/simfs/simfs/kernel"
	"github.com/simfs/simfs/vfs"
	"golang.org/x/sys/unix"
)

// MountCgroups returns the machine's cgroup2 hierarchy, mounted at
// /sys/fs/cgroup.
//
// SEAM(kernel): the machine will mount cgroup2 itself at boot and expose
// the hierarchy as
//
//	func (m *kernel.Machine) Cgroups() *cgroup.Hierarchy
//
// which is used as soon as it exists. Until then MountCgroups creates and
// mounts a hierarchy on the machine's VFS and forwards its changes
// (cgroup_mkdir, cgroup_rmdir, task_*) to the machine's event bus. If
// /sys/fs/cgroup is already mounted by a kernel without that method, it
// returns nil and no error: the mount is served, task requests answer
// ENOSYS.
func MountCgroups(m *kernel.Machine) (*cgroup.Hierarchy, error) {
	if k, ok := any(m).(interface{ Cgroups() *cgroup.Hierarchy }); ok {
		if h := k.Cgroups(); h != nil {
			return h, nil
		}
	}
	v := m.VFS()
	in, err := v.Resolve(vfs.RootCaller(), kernel.CgroupPath, true)
	if err != nil {
		return nil, err
	}
	if in.Superblock() != v.Root().Superblock() {
		return nil, nil
	}
	h, err := cgroup.New(v, cgroup.Options{})
	if err != nil {
		return nil, err
	}
	if err := h.Mount(vfs.RootCaller(), kernel.CgroupPath); err != nil {
		return nil, err
	}
	bus := m.Events()
	h.AddHook(func(ch cgroup.Change) {
		ev := events.Event{Cgroup: ch.ID, Pid: ch.Pid}
		if ch.Path != "" {
			ev.Path = kernel.CgroupPath + ch.Path
			if ch.Path == "/" {
				ev.Path = kernel.CgroupPath
			}
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
		bus.Emit(ev)
	})
	return h, nil
}

// taskSyscalls is the kernel API for simulated tasks that the daemon will
// use once kernel.Process has it (SEAM(kernel)): spawning through the
// kernel lets its scheduler see the task (sched_stat_wait). Until then
// the daemon spawns and ends tasks in the hierarchy directly.
type taskSyscalls interface {
	// TaskSpawn creates a task in the cgroup directory at path (a
	// simulated path) and returns its pid.
	TaskSpawn(cgroupDir string) (pid int, err error)
	// TaskExit ends the task with pid.
	TaskExit(pid int) error
}

func (c *conn) opTaskSpawn(a TaskSpawnArgs) (any, error) {
	if ts, ok := any(c.proc).(taskSyscalls); ok {
		pid, err := ts.TaskSpawn(a.Cgroup)
		if err != nil {
			return nil, err
		}
		return c.taskResult(pid), nil
	}
	h := c.srv.cfg.Cgroups
	if h == nil {
		return nil, errNoKernelAPI("task spawn (no cgroup2 hierarchy)")
	}
	if c.proc.Cred().UID != 0 {
		// clone3(CLONE_INTO_CGROUP) by an unprivileged parent needs write
		// access to the destination's cgroup.procs; simulated tasks have
		// no parent, so only root may create them.
		return nil, errnoErr("task spawn", a.Cgroup, unix.EPERM)
	}
	rel, err := cgroupRel(a.Cgroup)
	if err != nil {
		return nil, err
	}
	cg, err := h.Lookup(rel)
	if err != nil {
		return nil, errnoErr("task spawn", a.Cgroup, ErrnoOf(err))
	}
	tk, err := h.Spawn(cg)
	if err != nil {
		return nil, fmt.Errorf("task spawn %s: %w", a.Cgroup, err)
	}
	return TaskResult{Pid: tk.Pid(), Cgroup: cgroupSimPath(cg), CgroupID: cg.ID()}, nil
}

// cgroupSimPath is a cgroup's directory on the machine.
func cgroupSimPath(cg *cgroup.Cgroup) string {
	p := cg.Path()
	if p == "/" || p == "" {
		return kernel.CgroupPath
	}
	return kernel.CgroupPath + p
}

func (c *conn) taskResult(pid int) TaskResult {
	res := TaskResult{Pid: pid}
	if h := c.srv.cfg.Cgroups; h != nil {
		if tk := h.Task(pid); tk != nil {
			if cg := tk.Cgroup(); cg != nil {
				res.CgroupID = cg.ID()
				res.Cgroup = cgroupSimPath(cg)
			}
		}
	}
	return res
}

func (c *conn) opTaskExit(a TaskArgs) (any, error) {
	if ts, ok := any(c.proc).(taskSyscalls); ok {
		res := c.taskResult(a.Pid)
		return res, ts.TaskExit(a.Pid)
	}
	h := c.srv.cfg.Cgroups
	if h == nil {
		return nil, errNoKernelAPI("task exit (no cgroup2 hierarchy)")
	}
	if c.proc.Cred().UID != 0 {
		return nil, fmt.Errorf("task exit %d: %w", a.Pid, unix.EPERM)
	}
	tk := h.Task(a.Pid)
	if tk == nil || tk.Exited() {
		return nil, fmt.Errorf("task exit %d: %w", a.Pid, unix.ESRCH)
	}
	res := c.taskResult(a.Pid)
	tk.Exit()
	return res, nil
}
