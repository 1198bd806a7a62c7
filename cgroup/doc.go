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
// Controllers ([Subsys]) bound to the hierarchy appear in cgroup.controllers,
// can be enabled in cgroup.subtree_control, get a css in the cgroups they are
// enabled for (cgroup.stat's nr_subsys_* lines) and bring the
// no-internal-process and threaded-subtree rules with them; those bound to a
// v1 hierarchy are only names cgroup.subtree_control knows ("+memory" is
// ENOENT, not EINVAL). The default is the reference machine: cpuset, cpu, io,
// memory and pids are on v1 hierarchies, perf_event (implicit, threaded) and
// hugetlb on v2, so the root's cgroup.controllers says "hugetlb", cgroup.stat
// has perf_event and hugetlb lines, and a fresh child has no controllers.
//
// A css's interface files (css_populate_dir) appear in a cgroup when the css
// comes online and is visible — its controller is in the parent's
// subtree_control, or implicit — created deactivated and activated with the
// rest of the write or mkdir, owned by the writer or creator; they go when the
// css is killed (disabling, becoming threaded, rmdir) or stops being visible
// (css_clear_dir), and open ones then fail with ENODEV. Only hugetlb has files
// (mm/hugetlb_cgroup.c, checked by the differential test): for each huge page
// size (Options.HugePageSizes, default 1GB then 2MB, the reference machine's
// hstate order and so creation order), hugetlb.<size>.{max,rsvd.max} (0644)
// and hugetlb.<size>.{current,rsvd.current,events,events.local,numa_stat}
// (0444), none on the root. Nothing is ever charged: usage reads 0, events
// "max 0", numa_stat "total=0 N0=0" (an N line per Options.MemoryNodes). The
// limits start at PAGE_COUNTER_MAX pages, shown as 9223372036854771712 since
// that is not a multiple of the huge page; writes take "max" or a memparse
// size (base 0, a K/M/G/T/P/E suffix in either case, wrapping on overflow, an
// empty string is 0, anything else EINVAL), in pages capped at
// PAGE_COUNTER_MAX and rounded down to the huge page, and read back in bytes,
// or "max" for the largest settable limit. hugetlb is not threaded: a
// threaded cgroup cannot enable it and a cgroup that enables it cannot have
// threaded children.
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
//   - Interface files of every controller but hugetlb (memory.*, pids.*,
//     io.*, cpu.weight, cpuset.*, ...) and controller behaviour. A machine
//     whose controllers are bound to v2 would list them in the root's
//     cgroup.controllers; enabling one would add its files to every child,
//     cpu would add throttling fields to cpu.stat and a throttled_usec line
//     to cpu.stat.local. Here enabling one changes masks, csses and counts
//     only. Controller dependencies (depends_on) and css_reset go with them.
//   - hugetlb accounting: no huge page is charged, so page_counter_set_max
//     never fails with EBUSY, usage and events stay 0 and the events files
//     are never notified; the v1 (legacy) files are left out.
//   - New css files are owned by the credentials the subtree_control file
//     was opened with, not the writer's (cgroup_kn_set_ugid uses current's).
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
