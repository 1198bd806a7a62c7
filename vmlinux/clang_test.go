package vmlinux

import (
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// needClang skips the test unless clang and libbpf's headers are there.
func needClang(t *testing.T) string {
	t.Helper()
	clang, err := exec.LookPath("clang")
	if err != nil {
		t.Skip("clang not in PATH")
	}
	if _, err := os.Stat("/usr/include/bpf/bpf_helpers.h"); err != nil {
		t.Skip("libbpf headers (<bpf/bpf_helpers.h>) not installed")
	}
	return clang
}

// compile builds src with header as vmlinux.h, as the examples are built,
// and returns the object's path.
func compile(t *testing.T, clang string, header []byte, src string, extra ...string) string {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "vmlinux.h"), header, 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "prog.bpf.c"), []byte(src), 0o644))
	obj := filepath.Join(dir, "prog.bpf.o")
	args := append([]string{"-O2", "-g", "-target", "bpf", "-Wall", "-Werror", "-I", dir}, extra...)
	args = append(args, "-c", filepath.Join(dir, "prog.bpf.c"), "-o", obj)
	out, err := exec.Command(clang, args...).CombinedOutput()
	require.NoError(t, err, "clang %s:\n%s", strings.Join(args, " "), out)
	return obj
}

// allTypesProgram defines a variable of every struct in the layout, so that
// clang's BTF describes each of them as the header declares it.
func allTypesProgram(l *Layout) string {
	var w strings.Builder
	w.WriteString("#include \"vmlinux.h\"\n#include \"vmlinux.h\" /* the include guard works */\n")
	for _, s := range l.Structs() {
		fmt.Fprintf(&w, "struct %s v_%s;\n", s.Name(), s.Name())
	}
	w.WriteString("btf_trace_sched_stat_wait v_trace;\nenum bpf_cgroup_iter_order v_order;\nenum cgroup_subsys_id v_subsys;\n")
	return w.String()
}

// TestHeaderCompiles compiles each layout's header with clang for the BPF
// target and checks that clang laid every struct out exactly as the layout
// says: same members, offsets, sizes, struct sizes.
func TestHeaderCompiles(t *testing.T) {
	clang := needClang(t)
	for _, l := range layouts() {
		t.Run(l.Name(), func(t *testing.T) {
			for _, extra := range [][]string{nil, {"-DBPF_NO_PRESERVE_ACCESS_INDEX"}} {
				obj := compile(t, clang, l.Header(), allTypesProgram(l), extra...)
				spec, err := btf.LoadSpec(obj)
				require.NoError(t, err)
				for _, s := range l.Structs() {
					var st *btf.Struct
					require.NoError(t, spec.TypeByName(s.Name(), &st), s.Name())
					assert.Equal(t, s.Size(), st.Size, "sizeof(struct %s)", s.Name())
					assert.Equal(t, flatten(s.Type()), flatten(st), "struct %s", s.Name())
				}
				var td *btf.Typedef
				require.NoError(t, spec.TypeByName(TraceSchedStatWait, &td))
				assert.Equal(t, "*fn(:*void,:*struct task_struct,:u64,)->void", shape(td.Type))
				var e *btf.Enum
				require.NoError(t, spec.TypeByName("cgroup_subsys_id", &e))
				count, _ := l.EnumValue("cgroup_subsys_id", "CGROUP_SUBSYS_COUNT")
				assert.Equal(t, count, e.Values[len(e.Values)-1].Value)
			}
		})
	}
}

// flatten lists "path@offset:size ctype" for every named member, through
// anonymous members, as clang's and the layout's BTF can be compared.
func flatten(t btf.Type) []string {
	var out []string
	var walk func(ms []btf.Member, prefix string, base uint32)
	walk = func(ms []btf.Member, prefix string, base uint32) {
		for _, m := range ms {
			off := base + uint32(m.Offset/8)
			inner, composite := compositeMembers(m.Type)
			if m.Name == "" {
				if composite {
					walk(inner, prefix, off)
				}
				continue
			}
			out = append(out, fmt.Sprintf("%s%s@%d:%d %s", prefix, m.Name, off, sizeof(m.Type), shape(m.Type)))
			if composite && m.Type.TypeName() == "" {
				walk(inner, prefix+m.Name+".", off)
			}
		}
	}
	ms, _ := compositeMembers(t)
	walk(ms, "", 0)
	return out
}

// shape renders a type's structure by names: "*struct cgroup", "[3]*struct
// cgroup_subsys_state", "u64".
func shape(t btf.Type) string {
	switch u := t.(type) {
	case *btf.Pointer:
		return "*" + shape(u.Target)
	case *btf.Const:
		return "const " + shape(u.Type)
	case *btf.Array:
		return fmt.Sprintf("[%d]%s", u.Nelems, shape(u.Type))
	case *btf.FuncProto:
		var w strings.Builder
		w.WriteString("fn(")
		for _, p := range u.Params {
			w.WriteString(p.Name + ":" + shape(p.Type) + ",")
		}
		w.WriteString(")->" + shape(u.Return))
		return w.String()
	case *btf.Void:
		return "void"
	case *btf.Struct:
		if u.Name == "" {
			return fmt.Sprint(flatten(u))
		}
		return "struct " + u.Name
	case *btf.Union:
		return "union " + u.Name
	case *btf.Fwd:
		return u.Kind.String() + " " + u.Name
	case *btf.Enum:
		return "enum " + u.Name
	case *btf.Int:
		// gcc (the kernel's BTF) says "long unsigned int", clang
		// "unsigned long": compare by kind, signedness and size.
		switch {
		case u.Name == "char":
			return "char"
		case u.Encoding&btf.Bool != 0:
			return "bool"
		case u.Encoding&btf.Signed != 0:
			return fmt.Sprintf("s%d", u.Size*8)
		}
		return fmt.Sprintf("u%d", u.Size*8)
	}
	return t.TypeName()
}

// coreProgram reads, through CO-RE, everything the RFC's and cgroup_iter's
// programs read (RFC §4.1, §8.3), plus the other relocation kinds: field
// sizes, type sizes, enum values, field existence, and a field no kernel
// has (a "___flavor" struct), which must poison.
const coreProgram = `#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

char LICENSE[] SEC("license") = "GPL";

u64 out[16];

struct cgroup___future {
	int no_such_field;
} __attribute__((preserve_access_index));

SEC("iter/cgroup")
int dump_cgroup(struct bpf_iter__cgroup *ctx)
{
	struct seq_file *seq = ctx->meta->seq;
	struct cgroup *cgrp = ctx->cgroup;

	if (!cgrp)
		return 0;
	BPF_SEQ_PRINTF(seq, "%llu %d %llu\n", cgrp->kn->id, cgrp->level, ctx->meta->seq_num);
	return 0;
}

SEC("view/cgroup")
int BPF_PROG(wait_show, struct seq_file *seq, struct cgroup *cgroup)
{
	struct kernfs_node *kn = cgroup->kn;
	struct cgroup___future *f = (void *)cgroup;

	out[0] = kn->id;
	out[1] = (u64)kn->parent;
	out[2] = (u64)cgroup->ancestors[0];
	out[3] = cgroup->self.serial_nr;
	out[4] = (u64)cgroup->self.parent;
	out[5] = bpf_core_field_size(cgroup->subsys);
	out[6] = bpf_core_type_size(struct cgroup);
	out[7] = bpf_core_enum_value(enum cgroup_subsys_id, memory_cgrp_id);
	if (bpf_core_field_exists(f->no_such_field))
		out[8] = f->no_such_field;
	return 0;
}

SEC("tp_btf/sched_stat_wait")
int BPF_PROG(wait_record, struct task_struct *p, u64 delta)
{
	struct cgroup *cgrp = p->sched_task_group->css.cgroup;

	out[10] = cgrp->kn->id + delta;
	out[11] = p->pid;
	out[12] = p->comm[0];
	if (bpf_core_field_exists(p->cgroups))
		out[13] = p->cgroups->dfl_cgrp->level;
	return 0;
}
`

var reloRE = regexp.MustCompile(`^CORERelocation\(([a-z_]+), (.*)\[([0-9:]+)\], local_id=([0-9]+)\)$`)

// describeRelo names a relocation by what it reads, from the program's own
// BTF: "byte_off cgroup.kn", "byte_off cgroup.ancestors[0]", "type_size
// cgroup", "enumval_value cgroup_subsys_id::memory_cgrp_id".
func describeRelo(t *testing.T, local *btf.Spec, r *btf.CORERelocation) string {
	t.Helper()
	m := reloRE.FindStringSubmatch(r.String())
	require.NotNil(t, m, r.String())
	kind, access := m[1], m[3]
	id, err := strconv.Atoi(m[4])
	require.NoError(t, err)
	typ, err := local.TypeByID(btf.TypeID(id))
	require.NoError(t, err)
	var idx []int
	for _, s := range strings.Split(access, ":") {
		n, err := strconv.Atoi(s)
		require.NoError(t, err)
		idx = append(idx, n)
	}
	name := btf.UnderlyingType(typ).TypeName()
	switch kind {
	case "type_size", "type_exists", "type_matches", "local_type_id", "target_type_id":
		return kind + " " + name
	case "enumval_value", "enumval_exists":
		e := btf.UnderlyingType(typ).(*btf.Enum)
		return kind + " " + name + "::" + e.Values[idx[0]].Name
	}
	path := name
	if idx[0] != 0 {
		path += fmt.Sprintf("[%d]", idx[0])
	}
	cur := btf.UnderlyingType(typ)
	for _, i := range idx[1:] {
		switch u := cur.(type) {
		case *btf.Array:
			path += fmt.Sprintf("[%d]", i)
			cur = btf.UnderlyingType(u.Type)
		default:
			ms, ok := compositeMembers(u)
			require.True(t, ok, "accessor %s into %T", access, u)
			if ms[i].Name != "" {
				path += "." + ms[i].Name
			}
			cur = btf.UnderlyingType(ms[i].Type)
		}
	}
	return kind + " " + path
}

// relocateCollection relocates every program of coll against target and
// returns "description → fixup", which must agree wherever a field is
// relocated more than once.
func relocateCollection(t *testing.T, coll *ebpf.CollectionSpec, target *Layout) map[string]string {
	t.Helper()
	tspec, err := target.Spec()
	require.NoError(t, err)
	got := map[string]string{}
	for name, prog := range coll.Programs {
		var (
			relos []*btf.CORERelocation
			at    []int
		)
		for i := range prog.Instructions {
			if r := btf.CORERelocationMetadata(&prog.Instructions[i]); r != nil {
				relos = append(relos, r)
				at = append(at, i)
			}
		}
		require.NotEmpty(t, relos, name)
		fixups, err := btf.CORERelocate(relos, []*btf.Spec{tspec}, binary.LittleEndian, coll.Types.TypeID)
		require.NoError(t, err, name)
		for i, f := range fixups {
			desc := describeRelo(t, coll.Types, relos[i])
			if prev, ok := got[desc]; ok {
				assert.Equal(t, prev, f.String(), "%s relocated twice differently", desc)
			}
			got[desc] = f.String()
			// Applying it works on the instruction clang emitted.
			ins := prog.Instructions[at[i]]
			require.NoError(t, f.Apply(&ins), "%s: %s", desc, f)
		}
	}
	return got
}

// TestClangCORE compiles a program against Default's header with clang,
// loads it with ebpf.LoadCollectionSpec (no kernel involved) and relocates
// it against both layouts. Against Default nothing changes; against
// Alternate every offset, size and enum value becomes Alternate's, and
// the field no kernel has is poisoned in both.
func TestClangCORE(t *testing.T) {
	clang := needClang(t)
	obj := compile(t, clang, Default().Header(), coreProgram)
	coll, err := ebpf.LoadCollectionSpec(obj)
	require.NoError(t, err)

	sections := map[string]string{}
	for name, p := range coll.Programs {
		sections[name] = p.SectionName
	}
	assert.Equal(t, map[string]string{
		"dump_cgroup": "iter/cgroup", "wait_show": "view/cgroup", "wait_record": "tp_btf/sched_stat_wait",
	}, sections)

	// description → {against Default, against Alternate}.
	want := map[string][2]string{
		"byte_off bpf_iter__cgroup.meta":                 {"byte_off=0->0", "byte_off=0->0"},
		"byte_off bpf_iter__cgroup.cgroup":               {"byte_off=8->8", "byte_off=8->8"},
		"byte_off bpf_iter_meta.seq":                     {"byte_off=0->0", "byte_off=0->0"},
		"byte_off bpf_iter_meta.seq_num":                 {"byte_off=16->16", "byte_off=16->16"},
		"byte_off cgroup.kn":                             {"byte_off=48->48", "byte_off=48->256"},
		"byte_off cgroup.level":                          {"byte_off=56->56", "byte_off=56->216"},
		"byte_off cgroup.ancestors[0]":                   {"byte_off=152->152", "byte_off=152->2224"},
		"byte_off cgroup.self.serial_nr":                 {"byte_off=24->24", "byte_off=24->80"},
		"byte_off cgroup.self.parent":                    {"byte_off=8->8", "byte_off=8->184"},
		"byte_sz cgroup.subsys":                          {"byte_sz=24->24", "byte_sz=24->96"},
		"type_size cgroup":                               {"type_size=152->152", "type_size=152->2224"},
		"enumval_value cgroup_subsys_id::memory_cgrp_id": {"enumval_value=1->1", "enumval_value=1->4"},
		"byte_off kernfs_node.id":                        {"byte_off=0->0", "byte_off=0->96"},
		"byte_off kernfs_node.parent":                    {"byte_off=8->8", "byte_off=8->8"},
		"field_exists cgroup___future.no_such_field":     {"field_exists=1->0", "field_exists=1->0"},
		"byte_off cgroup___future.no_such_field":         {"byte_off=poison", "byte_off=poison"},
		"byte_off task_struct.sched_task_group":          {"byte_off=56->56", "byte_off=56->712"},
		"byte_off task_group.css.cgroup":                 {"byte_off=8->8", "byte_off=8->0"},
		"byte_off task_struct.pid":                       {"byte_off=0->0", "byte_off=0->1264"},
		"byte_off task_struct.comm[0]":                   {"byte_off=120->120", "byte_off=120->1752"},
		"field_exists task_struct.cgroups":               {"field_exists=1->1", "field_exists=1->1"},
		"byte_off task_struct.cgroups":                   {"byte_off=64->64", "byte_off=64->2376"},
		"byte_off css_set.dfl_cgrp":                      {"byte_off=0->0", "byte_off=0->112"},
	}
	for i, l := range layouts() {
		got := relocateCollection(t, coll, l)
		expect := map[string]string{}
		for k, v := range want {
			expect[k] = v[i]
		}
		assert.Equal(t, expect, got, "fixups against %s", l.Name())
	}
}

// TestClangCORERealKernelHeader compiles a program against the running
// kernel's own vmlinux.h (bpftool btf dump) — the way the examples are
// built — and relocates it against both layouts: every field resolves by
// name, to the layout's offset, with none poisoned.
func TestClangCORERealKernelHeader(t *testing.T) {
	clang := needClang(t)
	bpftool, err := exec.LookPath("bpftool")
	if err != nil {
		t.Skip("bpftool not in PATH")
	}
	if _, err := os.Stat("/sys/kernel/btf/vmlinux"); err != nil {
		t.Skip("no /sys/kernel/btf/vmlinux")
	}
	header, err := exec.Command(bpftool, "btf", "dump", "file", "/sys/kernel/btf/vmlinux", "format", "c").Output()
	if err != nil {
		t.Skipf("bpftool btf dump: %v", err)
	}
	// The seed's programs (RFC §4.1, cgroup_iter's selftest §8.3), with the
	// view program declared as the RFC's selftest does.
	src := `#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";
u64 out[8];

SEC("iter/cgroup")
int dump_cgroup(struct bpf_iter__cgroup *ctx)
{
	struct cgroup *cgrp = ctx->cgroup;

	if (!cgrp)
		return 0;
	if (ctx->meta->seq_num == 0)
		BPF_SEQ_PRINTF(ctx->meta->seq, "prologue\n");
	BPF_SEQ_PRINTF(ctx->meta->seq, "%8llu %d\n", cgrp->kn->id, cgrp->level);
	return 0;
}

SEC("tp_btf/sched_stat_wait")
int BPF_PROG(wait_record, struct task_struct *p, u64 delta)
{
	struct cgroup *cgrp = p->sched_task_group->css.cgroup;

	out[0] = cgrp->kn->id + delta;
	out[1] = p->pid;
	out[2] = (u64)cgrp->self.parent;
	return 0;
}
`
	obj := compile(t, clang, header, src)
	coll, err := ebpf.LoadCollectionSpec(obj)
	require.NoError(t, err)
	for _, l := range layouts() {
		got := relocateCollection(t, coll, l)
		var descs []string
		for desc, fix := range got {
			descs = append(descs, desc)
			require.NotContains(t, fix, "poison", "%s against %s", desc, l.Name())
			kind, path, _ := strings.Cut(desc, " ")
			require.Equal(t, "byte_off", kind, desc)
			strct, field, _ := strings.Cut(path, ".")
			off, err := l.Offset(strct, field)
			require.NoError(t, err, desc)
			_, target, _ := strings.Cut(fix, "->")
			assert.Equal(t, strconv.Itoa(int(off)), target, "%s against %s", desc, l.Name())
		}
		sort.Strings(descs)
		assert.Equal(t, []string{
			"byte_off bpf_iter__cgroup.cgroup", "byte_off bpf_iter__cgroup.meta",
			"byte_off bpf_iter_meta.seq", "byte_off bpf_iter_meta.seq_num",
			"byte_off cgroup.kn", "byte_off cgroup.level", "byte_off cgroup.self.parent",
			"byte_off kernfs_node.id", "byte_off task_group.css.cgroup",
			"byte_off task_struct.pid", "byte_off task_struct.sched_task_group",
		}, descs, l.Name())
		t.Logf("against %s: %v", l.Name(), got)
	}
}

// TestCOREPoisonedInstruction: clang's instruction for the missing field,
// relocated, is the poison call the interpreter traps on.
func TestCOREPoisonedInstruction(t *testing.T) {
	clang := needClang(t)
	coll, err := ebpf.LoadCollectionSpec(compile(t, clang, Default().Header(), coreProgram))
	require.NoError(t, err)
	prog := coll.Programs["wait_show"]
	tspec, err := Alternate().Spec()
	require.NoError(t, err)
	poisoned := 0
	for i := range prog.Instructions {
		ins := &prog.Instructions[i]
		r := btf.CORERelocationMetadata(ins)
		if r == nil {
			continue
		}
		fixups, err := btf.CORERelocate([]*btf.CORERelocation{r}, []*btf.Spec{tspec}, binary.LittleEndian, coll.Types.TypeID)
		require.NoError(t, err)
		require.NoError(t, fixups[0].Apply(ins))
		if strings.HasSuffix(fixups[0].String(), "poison") {
			poisoned++
			assert.True(t, ins.IsBuiltinCall(), "%v", ins)
			assert.Equal(t, asm.BuiltinFunc(btf.COREBadRelocationSentinel), asm.BuiltinFunc(ins.Constant))
		}
	}
	assert.Equal(t, 1, poisoned)
}
