// Package cgroup is simfs's cgroup v2 hierarchy: the cgroup2 parts of
// kernel/cgroup/cgroup.c (mkdir, rmdir, the core interface files, task
// migration, populated tracking, cgroup.kill, hierarchy limits), the v2
// freezer of kernel/cgroup/freezer.c, and the PSI file interface of
// kernel/sched/psi.c, on top of package kernfs.
//
// # Model
//
// A [Hierarchy] is cgrp_dfl_root: a kernfs root (CreateDeactivated, magic
// 0x63677270) the caller mounts, its root [Cgroup] (id 1) and the
// simulated tasks. Every cgroup is a kernfs directory whose Priv is the
// *Cgroup; its id is the directory's id, which comes from the root's one
// allocator shared with the interface files, so consecutive cgroups' ids
// differ by one plus the number of files a cgroup has (19 here). mkdir
// creates the directory and all its files deactivated, owned by the
// creator, then activates them at once; ids are never reused.
//
// The interface files, their modes and their fresh contents are those of
// Linux 6.18 on the reference machine (checked by the differential test):
// cgroup.type, cgroup.procs, cgroup.threads, cgroup.controllers,
// cgroup.subtree_control, cgroup.events, cgroup.max.descendants,
// cgroup.max.depth, cgroup.stat, cgroup.stat.local, cgroup.freeze,
// cgroup.kill, cpu.stat, cpu.stat.local, io.pressure, memory.pressure,
// cpu.pressure and cgroup.pressure (irq.pressure with
// Options.IRQPressure). The root lacks the CFTYPE_NOT_ON_ROOT ones
// (cgroup.type, cgroup.events, cgroup.stat.local, cgroup.freeze,
// cgroup.kill). Writes are parsed and validated as the kernel does
// (kstrtoint, strstrip, sscanf) and fail with its errnos.
//
// A [Task] is a single-threaded process with a pid from the hierarchy's
// allocator. Tasks are spawned into a cgroup ([Hierarchy.Spawn], as
// clone3 with CLONE_INTO_CGROUP), moved by writing their pid to
// cgroup.procs or cgroup.threads (or [Hierarchy.Move]), and exit
// ([Task.Exit], or cgroup.kill). populated in cgroup.events follows them up
// the tree and each change notifies cgroup.events (IN_MODIFY, poll).
// Freezing is instant: simulated tasks use no CPU time that a cgroup
// accounts (package sched only fires scheduler tracepoints for them), so a
// cgroup is frozen exactly when it or an ancestor has cgroup.freeze set.
//
// Controllers are modelled by presence only ([Subsys]): those bound to the
// hierarchy appear in cgroup.controllers, can be enabled in
// cgroup.subtree_control, get a css in the cgroups they are enabled for
// (cgroup.stat's nr_subsys_* lines) and bring the no-internal-process and
// threaded-subtree rules with them; those bound to a v1 hierarchy are only
// names cgroup.subtree_control knows ("+memory" is ENOENT, not EINVAL).
// The default is the reference machine: cpuset, cpu, io, memory and pids
// are on v1 hierarchies, perf_event (implicit, threaded) and hugetlb on
// v2, so the root's cgroup.controllers says "hugetlb", cgroup.stat has
// perf_event and hugetlb lines, and a fresh child has no controllers.
//
// # Reference model
//
//   - The hierarchy holds the base reference of every live cgroup, and
//     each cgroup holds one on its parent until it is released
//     (cgroup_get_live in cgroup_create), so a dying child keeps a removed
//     parent dying.
//   - rmdir kills the cgroup (Dead, CSS_ONLINE cleared: its files go, open
//     fds see ENODEV, ByID and Lookup stop finding it) and drops the base
//     reference. It stays dying — counted in its ancestors'
//     nr_dying_descendants and listed by Children — until the last
//     reference taken with [Cgroup.Get] is dropped; with none, release is
//     immediate (the kernel releases after an RCU grace period, about 30 ms
//     on the reference machine).
//   - Tasks do not hold references: a populated cgroup cannot be removed.
//   - The kernfs nodes hold no reference on the cgroup; a file's handlers
//     run under a kernfs active reference, and rmdir drains those.
//
// # Locking
//
// Lock order: kernfs open-file mutex → kernfs active reference → VFS lock
// (vfs.Txn) → Hierarchy.mu (cgroup_mutex and css_set_lock in one) →
// kernfs Root locks. Every change of cgroup state runs in a vfs.Txn with
// Hierarchy.mu held, so that notifications, kernfs changes and hooks are
// queued in the transaction; readers (interface file shows, accessors)
// take Hierarchy.mu shared and no VFS lock. Hooks ([Hierarchy.AddHook])
// run after both locks are released, in order, before the operation that
// caused them returns.
//
// # Left out
//
//   - Controller interface files (memory.*, pids.*, io.*, cpu.weight,
//     cpuset.*, hugetlb.<size>.*, ...) and controller behaviour. A machine
//     whose controllers are bound to v2 would list them in the root's
//     cgroup.controllers; enabling one would add its files to every child
//     (hugetlb.2MB.max and friends, with CFTYPE_NOT_ON_ROOT), cpu would add
//     throttling fields to cpu.stat and a throttled_usec line to
//     cpu.stat.local, and nr_subsys_* lines would appear for each. Here
//     enabling one changes masks, csses and counts only.
//   - Multi-threaded processes (tasks are single-threaded), zombies,
//     kernel threads (EINVAL in the kernel), pid namespaces, cgroup
//     namespaces and nsdelegate, the v1 hierarchies, CLONE_INTO_CGROUP's
//     permission check (Spawn is privileged).
//   - Real resource accounting: cpu.stat and the pressure files show
//     zeros (the kernel's root shows system-wide numbers); PSI triggers
//     are validated and kept per open file, and never fire.
//   - Rate limiting of cgroup.events notifications
//     (CGROUP_FILE_NOTIFY_MIN_INTV) and poll wait queues.
//   - Asynchronous release of dying cgroups and csses (see above) and
//     asynchronous freezing and killing (the kernel's frozen and populated
//     lag behind a write while tasks react; here they change at once).
//   - cgroup.procs of the root lists simulated tasks only; its
//     cgroup.stat counts simulated cgroups only.
//   - Writing "0" to cgroup.procs moves the task of the vfs.Caller the
//     file was opened with (Caller.Task is a *Task or implements TaskOf),
//     not the writer's.
package cgroup
