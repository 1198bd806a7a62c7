package kernel

import (
	"fmt"

	"github.com/simfs/simfs/cgroup"
	"github.com/simfs/simfs/vfs"
	"golang.org/x/sys/unix"
)

// cgroupTarget resolves BPF_LINK_CREATE's cgroup_fd or cgroup_id to the
// cgroup a cgroup iterator starts from (cgroup_v1v2_get_from_fd,
// cgroup_get_from_id).
func (p *Process) cgroupTarget(fd int, id uint64) (any, error) {
	if id != 0 {
		cg, err := p.m.cg.ByID(id)
		if err != nil {
			return nil, err
		}
		return cg, nil
	}
	f, err := p.file(fd)
	if err != nil {
		return nil, unix.EBADF
	}
	cg := p.m.cg.CgroupOf(f.Inode())
	switch {
	case cg == nil:
		return nil, unix.EBADF
	case cg.Dead():
		// css_tryget_online_from_dir fails on a removed cgroup.
		return nil, unix.ENOENT
	}
	return cg, nil
}

// TaskSpawn creates a simulated task in the cgroup directory at path and
// returns its pid. The caller needs write permission on that cgroup's
// cgroup.procs, as a real clone into a cgroup does.
func (p *Process) TaskSpawn(cgroupDir string) (int, error) {
	c := p.caller()
	in, err := p.m.vfs.Resolve(c, cgroupDir, true)
	if err != nil {
		return 0, err
	}
	cg := p.m.cg.CgroupOf(in)
	if cg == nil {
		// Not a directory of the cgroup hierarchy.
		return 0, &vfs.PathError{Op: "task spawn", Path: cgroupDir, Err: unix.ENOTDIR}
	}
	procs, err := p.m.vfs.Resolve(c, cgroupDir+"/cgroup.procs", true)
	if err != nil {
		return 0, err
	}
	if err := p.m.vfs.Permission(c, procs, vfs.MayWrite); err != nil {
		return 0, &vfs.PathError{Op: "task spawn", Path: cgroupDir, Err: err}
	}
	tk, err := p.m.cg.Spawn(cg)
	if err != nil {
		return 0, &vfs.PathError{Op: "task spawn", Path: cgroupDir, Err: vfs.Errno(err)}
	}
	return tk.Pid(), nil
}

// TaskExit ends the simulated task pid (only root or... as kill(2) would:
// root only here).
func (p *Process) TaskExit(pid int) error {
	if p.cred.UID != 0 {
		return fmt.Errorf("task exit %d: %w", pid, unix.EPERM)
	}
	tk := p.m.cg.Task(pid)
	if tk == nil || tk.Exited() {
		return fmt.Errorf("task exit %d: %w", pid, unix.ESRCH)
	}
	tk.Exit()
	return nil
}

// Task returns the simulated task pid, or nil.
func (m *Machine) Task(pid int) *cgroup.Task { return m.cg.Task(pid) }
