package loader

import (
	"os"
	"testing"

	"github.com/cilium/ebpf/btf"
	"github.com/stretchr/testify/require"
)

// The committed objects the tests load. They were built by `make examples`
// and `make -C loader/testdata`; the tests need no clang.
const (
	pinningObj  = "../examples/pinning_kernfs/pinning_kernfs.bpf.o"
	cgroupIter  = "../examples/cgroup_iter/cgroup_iter.bpf.o"
	featuresObj = "testdata/features.bpf.o"
)

// layout places the fields the test objects read in a simulated kernel.
// Offsets are in bytes; a negative offset leaves the field out.
type layout struct {
	cgroupLevel, cgroupKn int
	kernfsID              int
	seqNum                int
	noKernfsNode          bool
	// task_struct.sched_task_group, task_group.css, css.cgroup
	taskGroup, tgCSS, cssCgroup int
}

// defaultLayout differs from both the real kernel's and the objects'
// compile-time offsets everywhere it can.
var defaultLayout = layout{
	cgroupLevel: 4, cgroupKn: 24, kernfsID: 16, seqNum: 24,
	taskGroup: 40, tgCSS: 16, cssCgroup: 8,
}

func member(name string, typ btf.Type, off int) []btf.Member {
	if off < 0 {
		return nil
	}
	return []btf.Member{{Name: name, Type: typ, Offset: btf.Bits(off * 8)}}
}

func concat(ms ...[]btf.Member) []btf.Member {
	var out []btf.Member
	for _, m := range ms {
		out = append(out, m...)
	}
	return out
}

// targetBTF builds a small "vmlinux" BTF with btf.NewBuilder, standing for
// the simulator's kernel types.
func targetBTF(t testing.TB, l layout) *btf.Spec {
	t.Helper()
	u64 := &btf.Int{Name: "unsigned long long", Size: 8}
	s32 := &btf.Int{Name: "int", Size: 4, Encoding: btf.Signed}
	seqFile := &btf.Struct{Name: "seq_file", Size: 8, Members: member("private", &btf.Pointer{Target: &btf.Void{}}, 0)}

	types := []btf.Type{seqFile}
	var kn btf.Type = &btf.Fwd{Name: "kernfs_node"}
	if !l.noKernfsNode {
		kn = &btf.Struct{Name: "kernfs_node", Size: 64, Members: member("id", u64, l.kernfsID)}
		// Listed on its own so it stays when cgroup.kn is left out.
		types = append(types, kn)
	}
	cg := &btf.Struct{Name: "cgroup", Size: 128, Members: concat(
		member("level", s32, l.cgroupLevel),
		member("kn", &btf.Pointer{Target: kn}, l.cgroupKn),
	)}
	meta := &btf.Struct{Name: "bpf_iter_meta", Size: 32, Members: concat(
		member("seq", &btf.Pointer{Target: seqFile}, 0),
		member("session_id", u64, 8),
		member("seq_num", u64, l.seqNum),
	)}
	ctx := &btf.Struct{Name: "bpf_iter__cgroup", Size: 16, Members: concat(
		member("meta", &btf.Pointer{Target: meta}, 0),
		member("cgroup", &btf.Pointer{Target: cg}, 8),
	)}
	css := &btf.Struct{Name: "cgroup_subsys_state", Size: 64, Members: member("cgroup", &btf.Pointer{Target: cg}, l.cssCgroup)}
	tg := &btf.Struct{Name: "task_group", Size: 128, Members: member("css", css, l.tgCSS)}
	task := &btf.Struct{Name: "task_struct", Size: 256, Members: concat(
		member("pid", s32, 8),
		member("tgid", s32, 12),
		member("sched_task_group", &btf.Pointer{Target: tg}, l.taskGroup),
	)}
	types = append(types, ctx, task)

	b, err := btf.NewBuilder(types, nil)
	require.NoError(t, err)
	spec, err := b.Spec()
	require.NoError(t, err)
	return spec
}

func loadObj(t testing.TB, path string, l layout) *Object {
	t.Helper()
	obj, err := LoadFile(path, targetBTF(t, l))
	require.NoError(t, err)
	return obj
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return b
}
