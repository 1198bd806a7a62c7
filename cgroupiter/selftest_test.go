package cgroupiter_test

import (
	"fmt"
	"testing"

	"github.com/simfs/simfs/bpf"
	"github.com/simfs/simfs/internal/kernelref"
	"github.com/simfs/simfs/kernel"
	"github.com/simfs/simfs/vmlinux"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// selftestWork is the selftest's ROOT: its own work cgroup, not the
// hierarchy's root.
const selftestWork = kernel.CgroupPath + "/cgroup_iter_work"

// selftestTree builds ROOT, ROOT/parent, then parent/child1 and
// parent/child2 (the order fixes the siblings' walk order) and returns the
// ids keyed as kernelref keys them ("." for ROOT).
func selftestTree(t testing.TB, p *kernel.Process) map[string]uint64 {
	t.Helper()
	ids := map[string]uint64{}
	mkdirs(t, p, selftestWork)
	for _, rel := range []string{".", "parent", "parent/child1", "parent/child2"} {
		if rel != "." {
			mkdirs(t, p, cgroupPath(selftestWork, rel))
		}
		ids[rel] = cgroupID(t, p, cgroupPath(selftestWork, rel))
	}
	return ids
}

// TestSelftest is a port of the kernel's cgroup_iter selftest
// (tools/testing/selftests/bpf/prog_tests/cgroup_iter.c, Linux 6.1) on the
// committed examples/cgroup_iter object, against both simulated layouts.
// Each case loads the object with its globals set, attaches with the
// parent's cgroup fd and the case's order, and reads with the selftest's
// 128-byte buffer, once through BPF_ITER_CREATE and once through a bpffs
// pin of the link; both must give the selftest's exact output, and a read
// after the end must give 0.
func TestSelftest(t *testing.T) {
	for _, layout := range []*vmlinux.Layout{vmlinux.Default(), vmlinux.Alternate()} {
		t.Run(layout.Name(), func(t *testing.T) {
			m, p := boot(t, layout)
			ids := selftestTree(t, p)
			want := kernelref.SelftestExpected(ids)
			cases := kernelref.SelftestCases()
			require.Len(t, want, len(cases))
			for _, c := range cases {
				t.Run(c.Name, func(t *testing.T) {
					var terminal uint64
					if c.Terminal != "" {
						terminal = ids[c.Terminal]
					}
					prog := printer(t, m, p, c.TerminateEarly, terminal)
					link, err := attach(p, prog, cgroupPath(selftestWork, c.Start), uint32(c.Order))
					require.NoError(t, err)
					defer p.Close(link)

					got, err := readIterCreate(t, p, link, 128)
					require.NoError(t, err)
					assert.Equal(t, want[c.Name], got, "BPF_ITER_CREATE")

					pin := kernel.BPFFSPath + "/" + c.Name
					require.NoError(t, p.ObjPin(link, pin))
					defer p.Unlink(pin)
					got, err = readPinned(t, p, pin, 128)
					require.NoError(t, err)
					assert.Equal(t, want[c.Name], got, "bpffs pin")
					// Every open is a new session that walks again.
					got, err = readPinned(t, p, pin, 4096)
					require.NoError(t, err)
					assert.Equal(t, want[c.Name], got, "bpffs pin, second open")
				})
			}
		})
	}
}

// The literal outputs of one tree, to make the selftest's shape visible.
func TestSelftestLiteral(t *testing.T) {
	m, p := boot(t, nil)
	ids := selftestTree(t, p)
	prog := printer(t, m, p, false, 0)
	link, err := attach(p, prog, cgroupPath(selftestWork, "parent"), orderPre)
	require.NoError(t, err)
	got, err := readIterCreate(t, p, link, 128)
	require.NoError(t, err)
	assert.Equal(t, fmt.Sprintf("prologue\n%8d\n%8d\n%8d\nepilogue\n", ids["parent"], ids["parent/child1"], ids["parent/child2"]), got)
	t.Logf("pre-order from parent:\n%s", got)
}

// The selftest's invalid_cgroup and invalid_cgroup_spec subtests, and the
// other attach errors, with the errnos Linux 6.18 gives (checked against
// the running kernel by TestKernelAttachErrnos).
func TestAttachErrors(t *testing.T) {
	m, p := boot(t, nil)
	ids := selftestTree(t, p)
	prog := printer(t, m, p, false, 0)
	parent := cgroupPath(selftestWork, "parent")
	pfd, err := p.Open(parent, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	require.NoError(t, err)
	defer p.Close(pfd)
	fileFD, err := p.Open(parent+"/cgroup.procs", unix.O_RDONLY, 0)
	require.NoError(t, err)
	defer p.Close(fileFD)
	tmpFD, err := p.Open("/tmp", unix.O_RDONLY|unix.O_DIRECTORY, 0)
	require.NoError(t, err)
	defer p.Close(tmpFD)
	mkdirs(t, p, selftestWork+"/gone")
	goneFD, err := p.Open(selftestWork+"/gone", unix.O_RDONLY|unix.O_DIRECTORY, 0)
	require.NoError(t, err)
	defer p.Close(goneFD)
	goneID := cgroupID(t, p, selftestWork+"/gone")
	require.NoError(t, p.Rmdir(selftestWork+"/gone"))

	fds := len(p.FDs())
	links := len(m.Objects(bpf.TypeLink))
	for _, c := range attachErrorCases(pfd, fileFD, tmpFD, goneFD, ids["parent"], goneID) {
		_, err := p.LinkCreate(prog, c.attr)
		assert.ErrorIs(t, err, c.errno, c.name)
	}
	// Flags are refused too (bpf_iter_link_attach).
	_, err = p.LinkCreate(prog, kernel.LinkCreateAttr{CgroupFD: pfd, Order: orderPre, Flags: 1})
	assert.ErrorIs(t, err, unix.EINVAL)
	assert.Len(t, p.FDs(), fds, "no fd leaked")
	assert.Len(t, m.Objects(bpf.TypeLink), links, "no link made")
}

type attachCase struct {
	name  string
	attr  kernel.LinkCreateAttr
	errno unix.Errno
}

// attachErrorCases are the failing BPF_LINK_CREATEs both the kernel and
// simfs are asked; fds are the caller's.
func attachErrorCases(parentFD, fileFD, otherDirFD, goneFD int, parentID, goneID uint64) []attachCase {
	return []attachCase{
		{"invalid_cgroup: cgroup_fd (u32)-1", kernel.LinkCreateAttr{CgroupFD: -1, Order: orderPre}, unix.EBADF},
		{"invalid_cgroup_spec: fd and id", kernel.LinkCreateAttr{CgroupFD: parentFD, CgroupID: parentID, Order: orderPre}, unix.EINVAL},
		{"order unspec", kernel.LinkCreateAttr{CgroupFD: parentFD}, unix.EINVAL},
		{"order unspec is checked before the fd", kernel.LinkCreateAttr{CgroupFD: -1}, unix.EINVAL},
		{"order 5", kernel.LinkCreateAttr{CgroupFD: parentFD, Order: 5}, unix.EINVAL},
		{"unknown id", kernel.LinkCreateAttr{CgroupID: 999999999, Order: orderPre}, unix.ENOENT},
		{"removed cgroup's id", kernel.LinkCreateAttr{CgroupID: goneID, Order: orderPre}, unix.ENOENT},
		{"fd of a directory that is no cgroup", kernel.LinkCreateAttr{CgroupFD: otherDirFD, Order: orderPre}, unix.EBADF},
		{"fd of a cgroup's file", kernel.LinkCreateAttr{CgroupFD: fileFD, Order: orderPre}, unix.EBADF},
		{"fd of a removed cgroup", kernel.LinkCreateAttr{CgroupFD: goneFD, Order: orderPre}, unix.ENOENT},
	}
}
