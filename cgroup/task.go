package cgroup

import (
	"github.com/simfs/simfs/vfs"
	"golang.org/x/sys/unix"
)

// Task is a simulated process: a pid in a cgroup. Tasks are
// single-threaded (pid == tgid == tid), so cgroup.threads lists the same
// ids as cgroup.procs and a write to cgroup.threads moves the whole task
// under the thread rules.
type Task struct {
	h   *Hierarchy
	pid int

	// Under h.mu.
	cg     *Cgroup
	exited bool
}

// Pid is the task's pid.
func (tk *Task) Pid() int { return tk.pid }

// Cgroup returns the cgroup the task is in (the last one, once exited).
func (tk *Task) Cgroup() *Cgroup {
	tk.h.mu.RLock()
	defer tk.h.mu.RUnlock()
	return tk.cg
}

// Exited reports whether the task has exited.
func (tk *Task) Exited() bool {
	tk.h.mu.RLock()
	defer tk.h.mu.RUnlock()
	return tk.exited
}

// Exit ends the task: it leaves its cgroup (which may become unpopulated)
// and its pid is forgotten. Exiting twice does nothing.
func (tk *Task) Exit() {
	h := tk.h
	_ = h.update(func(t *vfs.Txn) error {
		h.exitTask(t, tk)
		return nil
	})
}

// TaskOf is implemented by a vfs.Caller's Task value that stands for a
// simulated task, so that writing "0" to cgroup.procs moves the writer.
type TaskOf interface {
	CgroupTask() *Task
}

func callerTask(c *vfs.Caller) *Task {
	switch x := c.Task.(type) {
	case *Task:
		return x
	case TaskOf:
		return x.CgroupTask()
	}
	return nil
}

// Spawn creates a task in cg, as clone3(CLONE_INTO_CGROUP) by a privileged
// parent would: ENODEV if cg was removed, and the destination rules of a
// migration (EOPNOTSUPP for an invalid domain, EBUSY for a cgroup whose
// subtree_control is not empty). A nil cg is the root cgroup.
func (h *Hierarchy) Spawn(cg *Cgroup) (*Task, error) {
	if cg == nil {
		cg = h.root
	}
	var tk *Task
	err := h.update(func(t *vfs.Txn) error {
		if cg.dead {
			return unix.ENODEV
		}
		if err := h.vetDst(cg); err != nil {
			return err
		}
		for h.tasks[h.nextPid] != nil {
			h.nextPid++
		}
		tk = &Task{h: h, pid: h.nextPid}
		h.nextPid++
		h.tasks[tk.pid] = tk
		h.join(t, tk, cg)
		h.emit(t, Change{Kind: TaskSpawned, Cgroup: cg, Task: tk})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return tk, nil
}

// Task returns the live task with pid, or nil.
func (h *Hierarchy) Task(pid int) *Task {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.tasks[pid]
}

// Move moves tk (the whole process) to dst with the rules a privileged
// writer of dst's cgroup.procs meets: ENODEV for a removed dst, ESRCH for
// an exited task, EOPNOTSUPP or EBUSY from the destination checks.
func (h *Hierarchy) Move(tk *Task, dst *Cgroup) error {
	return h.update(func(t *vfs.Txn) error {
		if dst.dead {
			return unix.ENODEV
		}
		if tk.exited {
			return unix.ESRCH
		}
		if err := h.vetDst(dst); err != nil {
			return err
		}
		h.migrate(t, tk, dst)
		return nil
	})
}

// vetDst is cgroup_migrate_vet_dst.
func (h *Hierarchy) vetDst(dst *Cgroup) error {
	if !h.isValidDomain(dst.dom) {
		return unix.EOPNOTSUPP
	}
	if h.canBeThreadRoot(dst) || dst.isThreaded() {
		return nil
	}
	// The no-internal-process constraint.
	if dst.subtreeControl != 0 {
		return unix.EBUSY
	}
	return nil
}

// migrate moves tk to dst. Caller holds h.mu inside t.
func (h *Hierarchy) migrate(t *vfs.Txn, tk *Task, dst *Cgroup) {
	src := tk.cg
	if src == dst {
		return
	}
	h.leave(t, tk)
	h.join(t, tk, dst)
	h.emit(t, Change{Kind: TaskMoved, Cgroup: dst, From: src, Task: tk})
}

func (h *Hierarchy) join(t *vfs.Txn, tk *Task, cg *Cgroup) {
	tk.cg = cg
	cg.tasks = append(cg.tasks, tk)
	if len(cg.tasks) == 1 {
		h.updatePopulated(t, cg, true)
	}
}

func (h *Hierarchy) leave(t *vfs.Txn, tk *Task) {
	cg := tk.cg
	for i, x := range cg.tasks {
		if x == tk {
			cg.tasks = append(cg.tasks[:i:i], cg.tasks[i+1:]...)
			break
		}
	}
	if len(cg.tasks) == 0 {
		h.updatePopulated(t, cg, false)
	}
}

func (h *Hierarchy) exitTask(t *vfs.Txn, tk *Task) {
	if tk.exited {
		return
	}
	tk.exited = true
	h.leave(t, tk)
	delete(h.tasks, tk.pid)
	h.emit(t, Change{Kind: TaskExited, Cgroup: tk.cg, Task: tk})
}

// updatePopulated is cgroup_update_populated: a cgroup's first task came
// or its last one went; counts propagate up while the populated state
// flips, and each flip notifies cgroup.events.
func (h *Hierarchy) updatePopulated(t *vfs.Txn, cg *Cgroup, populated bool) {
	adj := -1
	if populated {
		adj = 1
	}
	var child *Cgroup
	for c := cg; c != nil; c = c.parent {
		was := c.populated()
		switch {
		case child == nil:
			c.nrPopulatedCsets += adj
		case child.isThreaded():
			c.nrPopulatedThreadedChildren += adj
		default:
			c.nrPopulatedDomainChildren += adj
		}
		if was == c.populated() {
			break
		}
		h.notifyEvents(t, c)
		child = c
	}
}
