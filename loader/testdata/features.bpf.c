// SPDX-License-Identifier: GPL-2.0
/*
 * Test object for the loader: one of each thing the loader must carry over
 * from a clang-built ELF object. Self-contained (no vmlinux.h), so it builds
 * the same everywhere: the kernel structs it reads are declared below with
 * preserve_access_index, listing only the fields used, which is enough for
 * CO-RE. Rebuild with `make -C loader/testdata`.
 */
typedef unsigned char __u8;
typedef unsigned short __u16;
typedef unsigned int __u32;
typedef unsigned long long __u64;
typedef signed char __s8;
typedef short __s16;
typedef int __s32;
typedef long long __s64;
typedef __u16 __be16;
typedef __u32 __be32;
typedef __u32 __wsum;

enum {
	BPF_MAP_TYPE_HASH = 1,
	BPF_MAP_TYPE_ARRAY = 2,
};
enum {
	BPF_ANY = 0,
	BPF_F_NO_PREALLOC = 1,
};
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

char _license[] SEC("license") = "Dual BSD/GPL";

/* Kernel types, as a program compiled against a real kernel's headers sees them. */
struct kernfs_node {
	__u64 id;
} __attribute__((preserve_access_index));

struct cgroup {
	int level;
	struct kernfs_node *kn;
} __attribute__((preserve_access_index));

struct seq_file;

struct bpf_iter_meta {
	struct seq_file *seq;
	__u64 session_id;
	__u64 seq_num;
} __attribute__((preserve_access_index));

struct bpf_iter__cgroup {
	struct bpf_iter_meta *meta;
	struct cgroup *cgroup;
} __attribute__((preserve_access_index));

struct task_struct {
	int pid;
	int tgid;
} __attribute__((preserve_access_index));

/* libbpf 1.0 dropped struct bpf_map_def from its headers; the legacy
 * SEC("maps") layout is five __u32s. */
struct bpf_map_def {
	unsigned int type;
	unsigned int key_size;
	unsigned int value_size;
	unsigned int max_entries;
	unsigned int map_flags;
};

struct bpf_map_def SEC("maps") legacy_counts = {
	.type = BPF_MAP_TYPE_ARRAY,
	.key_size = sizeof(__u32),
	.value_size = sizeof(__u64),
	.max_entries = 4,
	.map_flags = 0,
};

struct visit {
	__u64 count;
	__s32 level;
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 128);
	__type(key, __u64);
	__type(value, struct visit);
} seen SEC(".maps");

/* Global data, one per section kind. */
const volatile __u32 min_level = 1;             /* .rodata */
__u64 magic = 0x1122334455667788ULL;            /* .data */
__u64 visits;                                   /* .bss */
__u32 tuned SEC(".data.tuning") = 7;            /* custom .data.* */
const volatile char banner[8] SEC(".rodata.banner") = "simfs"; /* custom .rodata.* */

static __noinline __u64 twice(__u64 x)
{
	return x * 2;
}

__noinline int global_add(int a, int b)
{
	return a + b;
}

SEC("iter/cgroup")
int dump_cgroup(struct bpf_iter__cgroup *ctx)
{
	struct seq_file *seq = ctx->meta->seq;
	struct cgroup *cgrp = ctx->cgroup;
	struct visit v = {}, *old;
	__u64 id;

	if (!cgrp) {
		/* a string literal: .rodata.str1.1 */
		bpf_seq_write(seq, "end\n", 4);
		return 0;
	}
	if (cgrp->level < min_level)
		return 0;
	visits++;
	id = cgrp->kn->id;
	old = bpf_map_lookup_elem(&seen, &id);
	v.count = old ? old->count + 1 : 1;
	v.level = cgrp->level;
	bpf_map_update_elem(&seen, &id, &v, BPF_ANY);
	BPF_SEQ_PRINTF(seq, "%llu %d %llu %llx %s\n", id, global_add(cgrp->level, 0),
		       twice(v.count), magic, banner);
	return 0;
}

SEC("iter.s/cgroup")
int dump_cgroup_sleepable(struct bpf_iter__cgroup *ctx)
{
	struct cgroup *cgrp = ctx->cgroup;

	if (!cgrp)
		return 0;
	BPF_SEQ_PRINTF(ctx->meta->seq, "%llu\n", cgrp->kn->id);
	return 1;
}

SEC("view/cgroup")
int show(__u64 *ctx)
{
	struct seq_file *seq = (struct seq_file *)ctx[0];
	struct cgroup *cgrp = (struct cgroup *)ctx[1];
	int has_level = bpf_core_field_exists(cgrp->level);

	BPF_SEQ_PRINTF(seq, "%llu %d\n", BPF_CORE_READ(cgrp, kn, id), has_level);
	return 0;
}

SEC("tp_btf/sched_stat_wait")
int on_wait(__u64 *ctx)
{
	struct task_struct *p = (struct task_struct *)ctx[0];
	__u32 key = p->pid & 3;
	__u64 *slot = bpf_map_lookup_elem(&legacy_counts, &key);

	if (slot)
		__sync_fetch_and_add(slot, ctx[1]);
	tuned++;
	return 0;
}

SEC("raw_tp/sched_switch")
int on_switch(void *ctx)
{
	__u32 key = 0;
	__u64 *slot = bpf_map_lookup_elem(&legacy_counts, &key);

	if (slot)
		*slot += twice(1);
	return 0;
}

SEC("tracepoint/sched/sched_process_exit")
int on_exit(void *ctx)
{
	return global_add(1, 2) == 3 ? 0 : 1;
}
