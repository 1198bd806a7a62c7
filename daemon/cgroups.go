package daemon

import (
	"github.com/simfs/simfs/cgroup"
	"github.com/simfs/simfs/kernel"
)

// opTaskSpawn is clone3(CLONE_INTO_CGROUP) by the connection's process
// (kernel.Process.TaskSpawn): the task joins the machine's hierarchy and
// so its scheduler.
func (c *conn) opTaskSpawn(a TaskSpawnArgs) (any, error) {
	pid, err := c.proc.TaskSpawn(a.Cgroup)
	if err != nil {
		return nil, err
	}
	return c.taskResult(pid), nil
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
	if tk := c.srv.cfg.Machine.Task(pid); tk != nil {
		if cg := tk.Cgroup(); cg != nil {
			res.CgroupID = cg.ID()
			res.Cgroup = cgroupSimPath(cg)
		}
	}
	return res
}

func (c *conn) opTaskExit(a TaskArgs) (any, error) {
	res := c.taskResult(a.Pid)
	if err := c.proc.TaskExit(a.Pid); err != nil {
		return nil, err
	}
	return res, nil
}
