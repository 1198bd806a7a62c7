package kernelref

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// SelftestTree builds the kernel cgroup_iter selftest's tree under root
// (the selftest's ROOT, its work cgroup): parent, then parent/child1 and
// parent/child2, in that order (the order fixes the walk order of
// siblings).
func SelftestTree(root string) error {
	for _, d := range []string{"parent", "parent/child1", "parent/child2"} {
		if err := os.Mkdir(filepath.Join(root, d), 0o755); err != nil {
			return err
		}
	}
	return nil
}

// SelftestCases are the kernel selftest's subtests that read an iterator
// (tools/testing/selftests/bpf/prog_tests/cgroup_iter.c, Linux 6.1).
func SelftestCases() []IterCase {
	return []IterCase{
		{Name: "preorder", Start: "parent", Order: OrderPre},
		{Name: "postorder", Start: "parent", Order: OrderPost},
		{Name: "ancestors_up_walk", Start: "parent", Order: OrderUp, Terminal: "."},
		{Name: "early_termination", Start: "parent", Order: OrderPre, TerminateEarly: true},
		{Name: "self_only", Start: "parent", Order: OrderSelf},
	}
}

// SelftestExpected gives the output the selftest asserts for each of
// SelftestCases, for a tree with the given ids (as IterOutputs.IDs gives
// them): "prologue\n", one "%8llu\n" line per cgroup, "epilogue\n".
func SelftestExpected(ids map[string]uint64) map[string]string {
	lines := func(cgroups ...string) string {
		var b strings.Builder
		b.WriteString("prologue\n")
		for _, c := range cgroups {
			fmt.Fprintf(&b, "%8d\n", ids[c])
		}
		b.WriteString("epilogue\n")
		return b.String()
	}
	const parent, child1, child2, root = "parent", "parent/child1", "parent/child2", "."
	return map[string]string{
		"preorder":          lines(parent, child1, child2),
		"postorder":         lines(child1, child2, parent),
		"ancestors_up_walk": lines(parent, root),
		"early_termination": lines(parent),
		"self_only":         lines(parent),
	}
}
