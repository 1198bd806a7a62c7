// SPDX-License-Identifier: GPL-2.0
/*
 * A port of the bpf_view RFC's selftest object (progs/pinning_kernfs.c,
 * "Pinning bpf objects outside bpffs", Hao Luo, January 2022) for simfs.
 *
 * wait_record (tp_btf/sched_stat_wait) keeps the maximum scheduling wait
 * seen per cgroup in wait_map; wait_show (view/cgroup) prints
 * "<cgroup id> <max wait ns>\n" for the cgroup whose directory the view is
 * exposed in. The only change from the original is the map definition: a
 * BTF-defined map in ".maps" instead of the legacy "struct bpf_map_def" in
 * SEC("maps") (see README.md).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char _license[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u64);
	__type(value, __u64);
	__uint(max_entries, 65532);
} wait_map SEC(".maps");

/* task_group() from kernel/sched/sched.h */
static struct task_group *task_group(struct task_struct *p)
{
	return p->sched_task_group;
}

static struct cgroup *task_cgroup(struct task_struct *p)
{
	struct task_group *tg;

	tg = task_group(p);
	return tg->css.cgroup;
}

static __u64 cgroup_id(struct cgroup *cgrp)
{
	return cgrp->kn->id;
}

SEC("tp_btf/sched_stat_wait")
int BPF_PROG(wait_record, struct task_struct *p, __u64 delta)
{
	struct cgroup *cgrp;
	__u64 *wait_ns;
	__u64 id;

	cgrp = task_cgroup(p);
	if (!cgrp)
		return 0;

	id = cgroup_id(cgrp);
	wait_ns = bpf_map_lookup_elem(&wait_map, &id);

	/* record the max wait latency seen so far */
	if (!wait_ns)
		bpf_map_update_elem(&wait_map, &id, &delta, BPF_NOEXIST);
	else if (*wait_ns < delta)
		*wait_ns = delta;
	return 0;
}

SEC("view/cgroup")
int BPF_PROG(wait_show, struct seq_file *seq, struct cgroup *cgroup)
{
	__u64 id, *value;

	id = cgroup_id(cgroup);
	value = bpf_map_lookup_elem(&wait_map, &id);

	if (value)
		BPF_SEQ_PRINTF(seq, "%llu %llu\n", id, *value);
	else
		BPF_SEQ_PRINTF(seq, "%llu 0\n", id);
	return 0;
}
