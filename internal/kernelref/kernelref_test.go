package kernelref

import (
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const cgroupIterObj = "../../examples/cgroup_iter/cgroup_iter.bpf.o"

func skipUnlessAvailable(t *testing.T) {
	t.Helper()
	if err := Available(); err != nil {
		t.Skip(err)
	}
}

// TestCgroupIterSelftest runs the cgroup_iter example in the real kernel
// with the kernel selftest's tree and subtests, and checks the outputs have
// the selftest's expected shape and order.
func TestCgroupIterSelftest(t *testing.T) {
	skipUnlessAvailable(t)
	cases := append(SelftestCases(),
		// Up from a child to the cgroup2 root (id 1), without a terminal.
		IterCase{Name: "up_to_root", Start: "parent/child2", Order: OrderUp},
		// terminal_cgroup in the middle of a pre-order walk.
		IterCase{Name: "pre_until_child1", Start: ".", Order: OrderPre, Terminal: "parent/child1"},
	)
	res, err := CgroupIterOutputs(cgroupIterObj, SelftestTree, cases)
	if err != nil && strings.Contains(err.Error(), ErrUnavailable.Error()) {
		t.Skip(err)
	}
	require.NoError(t, err)

	for _, p := range []string{".", "parent", "parent/child1", "parent/child2"} {
		assert.NotZero(t, res.IDs[p], p)
	}
	assert.Len(t, res.IDs, 4)
	t.Logf("work cgroup %s, ids %v", res.Path, res.IDs)

	line := regexp.MustCompile(`^ *[0-9]+$`)
	for _, c := range cases {
		out := res.Outputs[c.Name]
		t.Logf("%s (%s from %s):\n%s", c.Name, c.Order, c.Start, out)
		lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
		require.GreaterOrEqual(t, len(lines), 3, c.Name)
		assert.Equal(t, "prologue", lines[0], c.Name)
		assert.Equal(t, "epilogue", lines[len(lines)-1], c.Name)
		for _, l := range lines[1 : len(lines)-1] {
			assert.Regexp(t, line, l, c.Name)
			assert.GreaterOrEqual(t, len(l), 8, "%%8llu pads to 8 columns")
		}
	}

	want := SelftestExpected(res.IDs)
	for name, w := range want {
		assert.Equal(t, w, res.Outputs[name], name)
	}

	up := res.Outputs["up_to_root"]
	assert.True(t, strings.HasPrefix(up, fmt.Sprintf("prologue\n%8d\n%8d\n%8d\n", res.IDs["parent/child2"], res.IDs["parent"], res.IDs["."])), up)
	assert.True(t, strings.HasSuffix(up, fmt.Sprintf("%8d\nepilogue\n", 1)), "the walk up ends at the cgroup2 root, id 1: %q", up)

	assert.Equal(t, fmt.Sprintf("prologue\n%8d\n%8d\n%8d\nepilogue\n", res.IDs["."], res.IDs["parent"], res.IDs["parent/child1"]),
		res.Outputs["pre_until_child1"])
}

func TestSelftestExpected(t *testing.T) {
	ids := map[string]uint64{".": 5, "parent": 6, "parent/child1": 7, "parent/child2": 12345678}
	want := SelftestExpected(ids)
	assert.Equal(t, "prologue\n       6\n       7\n12345678\nepilogue\n", want["preorder"])
	assert.Equal(t, "prologue\n       7\n12345678\n       6\nepilogue\n", want["postorder"])
	assert.Equal(t, "prologue\n       6\n       5\nepilogue\n", want["ancestors_up_walk"])
	assert.Equal(t, "prologue\n       6\nepilogue\n", want["early_termination"])
	assert.Equal(t, "prologue\n       6\nepilogue\n", want["self_only"])
	assert.Len(t, want, len(SelftestCases()))
}

func TestOrderString(t *testing.T) {
	for o, s := range map[Order]string{OrderSelf: "self", OrderPre: "pre", OrderPost: "post", OrderUp: "up", 9: "Order(9)"} {
		assert.Equal(t, s, o.String())
	}
}

// TestKernelRejectsReachablePoison documents what the loader's poisoning
// mirrors: relocated against types whose struct cgroup has no kn, libbpf's
// (and cilium's) poisoned "call 0xbad2310" is reachable, and the kernel
// verifier refuses the program.
func TestKernelRejectsReachablePoison(t *testing.T) {
	skipUnlessAvailable(t)
	u64 := &btf.Int{Name: "unsigned long long", Size: 8}
	seqFile := &btf.Struct{Name: "seq_file", Size: 8}
	kn := &btf.Struct{Name: "kernfs_node", Size: 128, Members: []btf.Member{{Name: "id", Type: u64, Offset: 96 * 8}}}
	cg := &btf.Struct{Name: "cgroup", Size: 512} // no kn
	meta := &btf.Struct{Name: "bpf_iter_meta", Size: 24, Members: []btf.Member{
		{Name: "seq", Type: &btf.Pointer{Target: seqFile}},
		{Name: "session_id", Type: u64, Offset: 64},
		{Name: "seq_num", Type: u64, Offset: 128},
	}}
	ctx := &btf.Struct{Name: "bpf_iter__cgroup", Size: 16, Members: []btf.Member{
		{Name: "meta", Type: &btf.Pointer{Target: meta}},
		{Name: "cgroup", Type: &btf.Pointer{Target: cg}, Offset: 64},
	}}
	b, err := btf.NewBuilder([]btf.Type{ctx, kn}, nil)
	require.NoError(t, err)
	types, err := b.Spec()
	require.NoError(t, err)

	spec, err := ebpf.LoadCollectionSpec(cgroupIterObj)
	require.NoError(t, err)
	coll, err := ebpf.NewCollectionWithOptions(spec, ebpf.CollectionOptions{
		Programs: ebpf.ProgramOptions{KernelTypes: types},
	})
	if err == nil {
		coll.Close()
	}
	require.Error(t, err)
	var ve *ebpf.VerifierError
	require.ErrorAs(t, err, &ve)
	t.Logf("verifier: %v", err)
	assert.Contains(t, fmt.Sprintf("%+v", ve), "invalid func unknown#195896080")
}
