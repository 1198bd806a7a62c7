package kernel

import "golang.org/x/sys/unix"

// cgroupTarget resolves BPF_LINK_CREATE's cgroup_fd or cgroup_id to the
// cgroup a cgroup iterator starts from.
func (p *Process) cgroupTarget(fd int, id uint64) (any, error) {
	return nil, unix.ENOENT
}
