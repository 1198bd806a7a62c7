package vmlinux

import (
	"os"
	"strings"
	"testing"

	"github.com/cilium/ebpf/btf"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestHeaderShape(t *testing.T) {
	for _, l := range layouts() {
		h := string(l.Header())
		assert.True(t, strings.HasPrefix(h, "/* The simfs simulator's kernel types"), l.Name())
		for _, want := range []string{
			"#ifndef __VMLINUX_H__\n#define __VMLINUX_H__\n",
			"#ifndef BPF_NO_PRESERVE_ACCESS_INDEX\n#pragma clang attribute push (__attribute__((preserve_access_index)), apply_to = record)\n#endif\n",
			"#ifndef BPF_NO_PRESERVE_ACCESS_INDEX\n#pragma clang attribute pop\n#endif\n",
			"typedef __u64 u64;\n",
			"typedef _Bool bool;\n",
			"typedef struct {\n\tint counter;\n} atomic_t;\n",
			"typedef struct refcount_struct refcount_t;\n",
			"enum bpf_cgroup_iter_order {\n\tBPF_CGROUP_ITER_ORDER_UNSPEC = 0,\n\tBPF_CGROUP_ITER_SELF_ONLY = 1,\n\tBPF_CGROUP_ITER_DESCENDANTS_PRE = 2,\n\tBPF_CGROUP_ITER_DESCENDANTS_POST = 3,\n\tBPF_CGROUP_ITER_ANCESTORS_UP = 4,\n};\n",
			"struct bpf_iter_meta {\n\tunion {\n\t\tstruct seq_file *seq;\n\t};\n\tu64 session_id;\n\tu64 seq_num;\n};\n",
			"struct bpf_iter__cgroup {\n\tunion {\n\t\tstruct bpf_iter_meta *meta;\n\t};\n\tunion {\n\t\tstruct cgroup *cgroup;\n\t};\n};\n",
			"struct bpf_view_cgroup_ctx {\n\tunion {\n\t\tstruct seq_file *seq;\n\t};\n\tunion {\n\t\tstruct cgroup *cgroup;\n\t};\n};\n",
			"\tunion {\n\t\tstruct kernfs_node *parent;\n\t\tstruct kernfs_node *__parent;\n\t};\n",
			"\tconst char *name;\n",
			"\tstruct cgroup *ancestors[];\n};\n",
			"\tchar comm[16];\n",
			" *   FUNC int bpf_iter_cgroup(struct bpf_iter_meta *meta, struct cgroup *cgroup);\n",
			" *   FUNC int bpf_view_cgroup(struct seq_file *seq, struct cgroup *cgroup);\n",
			"typedef void (*btf_trace_sched_stat_wait)(void *, struct task_struct *, u64);\n",
			"struct seq_operations;\n",
			"\tconst struct seq_operations *op;\n",
			"#endif /* __VMLINUX_H__ */\n",
		} {
			assert.Contains(t, h, want, l.Name())
		}
		for _, s := range l.Structs() {
			assert.Equal(t, 1, strings.Count(h, "\nstruct "+s.Name()+" {\n"), "struct %s defined once", s.Name())
			assert.Equal(t, 1, strings.Count(h, "\nstruct "+s.Name()+";\n"), "struct %s declared once", s.Name())
		}
		assert.True(t, strings.HasSuffix(h, "#endif /* __VMLINUX_H__ */\n"))
	}
	def := string(Default().Header())
	assert.NotContains(t, def, "long: 64;", "Default has no holes")
	assert.Contains(t, def, "struct cgroup_subsys_state *subsys[3];")
	assert.Contains(t, def, "\tcpu_cgrp_id = 0,\n\tmemory_cgrp_id = 1,\n\tpids_cgrp_id = 2,\n\tCGROUP_SUBSYS_COUNT = 3,\n")
	alt := string(Alternate().Header())
	assert.Contains(t, alt, "\tconst char *name;\n\tlong: 64;\n\tlong: 64;\n\tlong: 64;\n\tconst void *ns;\n", "kernfs_node's rb_node hole")
	assert.Contains(t, alt, "struct cgroup_subsys_state *subsys[12];")
}

func TestCDecl(t *testing.T) {
	i := &btf.Int{Name: "int", Size: 4, Encoding: btf.Signed}
	c := &btf.Int{Name: "char", Size: 1}
	s := &btf.Struct{Name: "cgroup"}
	for _, x := range []struct {
		typ  btf.Type
		name string
		want string
	}{
		{i, "x", "int x"},
		{i, "", "int"},
		{&btf.Pointer{Target: i}, "p", "int *p"},
		{&btf.Pointer{Target: &btf.Pointer{Target: s}}, "pp", "struct cgroup **pp"},
		{&btf.Pointer{Target: &btf.Const{Type: c}}, "name", "const char *name"},
		{&btf.Const{Type: &btf.Pointer{Target: c}}, "p", "char *const p"},
		{&btf.Volatile{Type: i}, "v", "volatile int v"},
		{&btf.Array{Type: c, Nelems: 16}, "comm", "char comm[16]"},
		{&btf.Array{Type: &btf.Pointer{Target: s}}, "ancestors", "struct cgroup *ancestors[]"},
		{&btf.Pointer{Target: &btf.Array{Type: i, Nelems: 4}}, "pa", "int (*pa)[4]"},
		{&btf.Array{Type: &btf.Array{Type: i, Nelems: 3}, Nelems: 2}, "m", "int m[2][3]"},
		{&btf.Pointer{Target: &btf.FuncProto{Return: &btf.Void{}}}, "f", "void (*f)(void)"},
		{&btf.Pointer{Target: &btf.FuncProto{Return: i, Params: []btf.FuncParam{{Name: "a", Type: i}, {Type: &btf.Pointer{Target: &btf.Void{}}}}}}, "g", "int (*g)(int a, void *)"},
		{&btf.Fwd{Name: "file", Kind: btf.FwdStruct}, "f", "struct file f"},
		{&btf.Fwd{Name: "u", Kind: btf.FwdUnion}, "", "union u"},
		{&btf.Enum{Name: "e", Size: 4}, "x", "enum e x"},
		{&btf.Union{Name: "un"}, "x", "union un x"},
		{&btf.Typedef{Name: "u64", Type: i}, "id", "u64 id"},
		{&btf.Enum{Size: 4, Signed: true, Values: []btf.EnumValue{{Name: "NEG", Value: ^uint64(0)}}}, "", "enum {\n\tNEG = -1,\n}"},
	} {
		assert.Equal(t, x.want, cdecl(x.typ, x.name, 0))
	}
}

// TestAlternateMatchesRunningKernel compares Alternate with the BTF of the
// Linux 6.18.44 kernel its offsets were read from, when the tests run on
// it: every field the simulator models sits at the kernel's offset with
// the kernel's size.
func TestAlternateMatchesRunningKernel(t *testing.T) {
	rel, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil || !strings.HasPrefix(string(rel), "6.18.44") {
		t.Skip("not running the Linux 6.18.44 kernel Alternate's offsets come from")
	}
	kspec, err := btf.LoadSpec("/sys/kernel/btf/vmlinux")
	if err != nil {
		t.Skipf("kernel BTF: %v", err)
	}
	l := Alternate()
	for _, s := range l.Structs() {
		if s.Name() == "bpf_view_cgroup_ctx" {
			continue // the RFC's, never merged
		}
		var ks *btf.Struct
		require.NoError(t, kspec.TypeByName(s.Name(), &ks), s.Name())
		if s.Name() == "cgroup" {
			assert.Equal(t, uint32(2240), ks.Size, "documented: 6.18's cgroup is 2240 bytes")
		} else {
			assert.Equal(t, ks.Size, s.Size(), "sizeof(struct %s)", s.Name())
		}
		for _, p := range s.Paths() {
			if strings.Contains(p, ".") {
				continue // nested: checked through its own struct
			}
			f, _ := s.Field(p)
			m, off, ok := findMember(ks, p)
			if !ok {
				assert.Equal(t, "kernfs_node.parent", s.Name()+"."+p, "the kernel lacks %s.%s", s.Name(), p)
				continue
			}
			assert.Equal(t, off, f.Offset, "offsetof(struct %s, %s)", s.Name(), p)
			assert.Equal(t, sizeof(m.Type), f.Size, "sizeof %s.%s", s.Name(), p)
		}
	}
	for _, enum := range []string{"bpf_cgroup_iter_order", "cgroup_subsys_id", "kernfs_node_type", "bpf_map_type"} {
		var ke *btf.Enum
		require.NoError(t, kspec.TypeByName(enum, &ke))
		for _, v := range ke.Values {
			got, err := l.EnumValue(enum, v.Name)
			if assert.NoError(t, err, "%s::%s", enum, v.Name) {
				assert.Equal(t, v.Value, got, "%s::%s", enum, v.Name)
			}
		}
	}
}
