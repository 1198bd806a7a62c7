package bpfview_test

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/cilium/ebpf/asm"
	"github.com/simfs/simfs/bpf"
	"github.com/simfs/simfs/events"
	"github.com/simfs/simfs/kernel"
	"github.com/simfs/simfs/vmlinux"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

func boot(t testing.TB, layout *vmlinux.Layout) (*kernel.Machine, *kernel.Process) {
	t.Helper()
	m, err := kernel.Boot(kernel.Config{Layout: layout})
	require.NoError(t, err)
	return m, m.NewProcess(kernel.ProcessOptions{Umask: 022})
}

// cstring packs s and a NUL into u64 words, for stores to the stack.
func cstring(s string) []uint64 {
	b := append([]byte(s), 0)
	for len(b)%8 != 0 {
		b = append(b, 0)
	}
	words := make([]uint64, len(b)/8)
	for i := range words {
		for j := 0; j < 8; j++ {
			words[i] |= uint64(b[8*i+j]) << (8 * j)
		}
	}
	return words
}

// viewProg builds the seed's wait_show without its map: it prints
// "<cgroup id> <extra>\n" with bpf_seq_printf and returns ret. Offsets come
// from the machine's layout, as a CO-RE-relocated program's would.
func viewProg(t require.TestingT, l *vmlinux.Layout, extra int64, ret int32) asm.Instructions {
	kn, err := l.Offset("cgroup", "kn")
	require.NoError(t, err)
	id, err := l.Offset("kernfs_node", "id")
	require.NoError(t, err)
	format := "%llu %lld\n"
	words := cstring(format)
	fmtOff := int16(-16 - 8*len(words))
	insns := asm.Instructions{
		asm.LoadMem(asm.R6, asm.R1, 0, asm.DWord), // seq
		asm.LoadMem(asm.R7, asm.R1, 8, asm.DWord), // cgroup
		asm.LoadMem(asm.R8, asm.R7, int16(kn), asm.DWord),
		asm.LoadMem(asm.R8, asm.R8, int16(id), asm.DWord),
		asm.StoreMem(asm.RFP, -16, asm.R8, asm.DWord),
		asm.LoadImm(asm.R9, extra, asm.DWord),
		asm.StoreMem(asm.RFP, -8, asm.R9, asm.DWord),
	}
	return appendSeqPrintf(insns, format, fmtOff, ret)
}

func loadView(t testing.TB, m *kernel.Machine, p *kernel.Process, extra int64, ret int32) int {
	t.Helper()
	fd, log, err := p.ProgLoad(kernel.ProgLoadAttr{Section: "view/cgroup", Name: "wait_show", License: "GPL", Insns: viewProg(t, m.Layout(), extra, ret)})
	require.NoError(t, err, log)
	return fd
}

func readFile(p *kernel.Process, path string) (string, error) {
	b, err := p.ReadFile(path)
	return string(b), err
}

// The seed selftest's check_pinning, step for step.
func TestCheckPinning(t *testing.T) {
	m, p := boot(t, nil)
	rec := m.Events().Record()
	require.NoError(t, p.Mkdir("/sys/fs/cgroup/pinning_test", 0755))

	for _, kind := range []string{"prog", "map"} {
		t.Run(kind, func(t *testing.T) {
			var fd int
			if kind == "prog" {
				fd = loadView(t, m, p, 0, 0)
			} else {
				var err error
				fd, err = p.MapCreate(bpf.MapSpec{Type: bpf.MapHash, KeySize: 8, ValueSize: 8, MaxEntries: 16})
				require.NoError(t, err)
			}
			kfile := "/sys/fs/cgroup/pinning_test/" + kind
			// Pinning into kernfs before bpffs: ENXIO.
			require.ErrorIs(t, p.ObjPin(fd, kfile), unix.ENXIO)
			require.NoError(t, p.ObjPin(fd, "/sys/fs/bpf/"+kind))
			require.NoError(t, p.ObjPin(fd, kfile))
			require.ErrorIs(t, p.ObjPin(fd, kfile), unix.EEXIST)
			st, err := p.Stat(kfile)
			require.NoError(t, err)
			require.Equal(t, uint32(unix.S_IFREG|0600), st.Mode)
			require.Equal(t, uint32(0), st.UID)
			require.Equal(t, uint32(1), st.Nlink)
			// Not a cgroup view link: read fails.
			_, err = readFile(p, kfile)
			require.ErrorIs(t, err, unix.EACCES)
			// Only "rm" is understood.
			require.ErrorIs(t, p.WriteFile(kfile, []byte("xxx")), unix.EINVAL)
			require.NoError(t, p.WriteFile(kfile, []byte("rm\x00")), "the selftest writes \"rm\\0\"")
			_, err = p.Stat(kfile)
			require.ErrorIs(t, err, unix.ENOENT)
			require.NoError(t, p.Close(fd))
		})
	}

	// A non-view link (a tracing link): its exposure goes when the bpffs
	// pin is unlinked.
	tp, _, err := p.ProgLoad(kernel.ProgLoadAttr{Section: "tp_btf/sched_stat_wait", License: "GPL", Insns: asm.Instructions{asm.Mov.Imm(asm.R0, 0), asm.Return()}})
	require.NoError(t, err)
	lfd, err := p.LinkCreate(tp, kernel.LinkCreateAttr{})
	require.NoError(t, err)
	require.NoError(t, p.ObjPin(lfd, "/sys/fs/bpf/link"))
	require.NoError(t, p.ObjPin(lfd, "/sys/fs/cgroup/pinning_test/link"))
	_, err = readFile(p, "/sys/fs/cgroup/pinning_test/link")
	require.ErrorIs(t, err, unix.EACCES)
	require.NoError(t, p.Unlink("/sys/fs/bpf/link"))
	_, err = p.Stat("/sys/fs/cgroup/pinning_test/link")
	require.ErrorIs(t, err, unix.ENOENT)

	require.NoError(t, p.Rmdir("/sys/fs/cgroup/pinning_test"))
	kinds := rec.Kinds()
	require.Contains(t, kinds, events.Exposed)
	require.Contains(t, kinds, events.ExposureRemoved)
}

// The seed selftest's check_cgroup_seq_show: a view link exposed in a
// cgroup prints two integers, the first the cgroup's id.
func TestCheckCgroupSeqShow(t *testing.T) {
	for _, layout := range []*vmlinux.Layout{vmlinux.Default(), vmlinux.Alternate()} {
		t.Run(layout.Name(), func(t *testing.T) {
			m, p := boot(t, layout)
			require.NoError(t, p.Mkdir("/sys/fs/cgroup/seq_show", 0755))
			fd := loadView(t, m, p, 12345, 0)
			lfd, err := p.LinkCreate(fd, kernel.LinkCreateAttr{})
			require.NoError(t, err)
			require.NoError(t, p.ObjPin(lfd, "/sys/fs/bpf/view"))
			require.NoError(t, p.ObjPin(lfd, "/sys/fs/cgroup/seq_show/view"))
			out, err := readFile(p, "/sys/fs/cgroup/seq_show/view")
			require.NoError(t, err)
			var id, val uint64
			n, err := fmt.Sscanf(out, "%d %d\n", &id, &val)
			require.NoError(t, err)
			require.Equal(t, 2, n)
			st, err := p.Stat("/sys/fs/cgroup/seq_show")
			require.NoError(t, err)
			require.Equal(t, st.Ino, id, "the cgroup id is the directory's inode number")
			require.Equal(t, uint64(12345), val)

			// The same link exposed in another cgroup prints that cgroup.
			require.NoError(t, p.ObjPin(lfd, "/sys/fs/cgroup/view"))
			out, err = readFile(p, "/sys/fs/cgroup/view")
			require.NoError(t, err)
			require.Equal(t, "1 12345\n", out, "the root cgroup's id is 1")
		})
	}
}

func TestReturnOneIsEmpty(t *testing.T) {
	m, p := boot(t, nil)
	fd := loadView(t, m, p, 0, 1)
	lfd, err := p.LinkCreate(fd, kernel.LinkCreateAttr{})
	require.NoError(t, err)
	require.NoError(t, p.ObjPin(lfd, "/sys/fs/bpf/v"))
	require.NoError(t, p.ObjPin(lfd, "/sys/fs/cgroup/v"))
	out, err := readFile(p, "/sys/fs/cgroup/v")
	require.NoError(t, err)
	require.Empty(t, out)
}

func TestViewReturnRange(t *testing.T) {
	m, p := boot(t, nil)
	fd := loadView(t, m, p, 0, 7)
	lfd, err := p.LinkCreate(fd, kernel.LinkCreateAttr{})
	require.NoError(t, err)
	require.NoError(t, p.ObjPin(lfd, "/sys/fs/bpf/v"))
	require.NoError(t, p.ObjPin(lfd, "/sys/fs/cgroup/v"))
	_, err = readFile(p, "/sys/fs/cgroup/v")
	require.ErrorIs(t, err, unix.EINVAL, "the verifier would refuse a return value outside [0, 1]")
}

// rmdir is not blocked by exposures; a later unpin does not fail; the
// exposure holds no reference on the object.
func TestRmdirThenUnpin(t *testing.T) {
	m, p := boot(t, nil)
	rec := m.Events().Record()
	require.NoError(t, p.Mkdir("/sys/fs/cgroup/a", 0755))
	fd := loadView(t, m, p, 0, 0)
	lfd, err := p.LinkCreate(fd, kernel.LinkCreateAttr{})
	require.NoError(t, err)
	require.NoError(t, p.ObjPin(lfd, "/sys/fs/bpf/v"))
	require.NoError(t, p.ObjPin(lfd, "/sys/fs/cgroup/a/v1"))
	require.NoError(t, p.ObjPin(lfd, "/sys/fs/cgroup/a/v2"))
	require.NoError(t, p.Rmdir("/sys/fs/cgroup/a"))
	require.Empty(t, m.View().Exposures())
	require.NoError(t, p.Close(lfd))
	require.NoError(t, p.Close(fd))
	link, err := m.BPF().LinkByID(1)
	require.NoError(t, err)
	link.Put()
	require.NoError(t, p.Unlink("/sys/fs/bpf/v"))
	require.True(t, link.Freed(), "exposures never keep an object alive")
	var reasons []string
	for _, e := range rec.Events() {
		if e.Kind == events.ExposureRemoved {
			reasons = append(reasons, e.Reason)
		}
	}
	require.Equal(t, []string{"rmdir", "rmdir"}, reasons)
}

// The back pointer names the first bpffs pin only: exposures made while
// it lives watch it, and go with it even if a second pin remains; after it
// dies the object cannot be exposed again (RFC patch 2's caveat).
func TestBackPointerFirstPinOnly(t *testing.T) {
	m, p := boot(t, nil)
	fd := loadView(t, m, p, 0, 0)
	lfd, err := p.LinkCreate(fd, kernel.LinkCreateAttr{})
	require.NoError(t, err)
	require.NoError(t, p.ObjPin(lfd, "/sys/fs/bpf/first"))
	require.NoError(t, p.ObjPin(lfd, "/sys/fs/bpf/second"))
	require.NoError(t, p.ObjPin(lfd, "/sys/fs/cgroup/v"))
	require.NoError(t, p.Unlink("/sys/fs/bpf/first"))
	_, err = p.Stat("/sys/fs/cgroup/v")
	require.ErrorIs(t, err, unix.ENOENT)
	require.ErrorIs(t, p.ObjPin(lfd, "/sys/fs/cgroup/v"), unix.ENXIO)
	_ = m
}

func TestExposeErrnos(t *testing.T) {
	m, p := boot(t, nil)
	fd := loadView(t, m, p, 0, 0)
	require.NoError(t, p.ObjPin(fd, "/sys/fs/bpf/p"))
	require.ErrorIs(t, p.ObjPin(fd, "/sys/fs/cgroup/nodir/x"), unix.ENOENT)
	require.ErrorIs(t, p.ObjPin(fd, "/sys/fs/cgroup/cgroup.procs"), unix.EEXIST)
	require.ErrorIs(t, p.ObjPin(fd, "/sys/fs/cgroup/cgroup.procs/x"), unix.ENOTDIR)
	require.ErrorIs(t, p.ObjPin(fd, "/tmp/x"), unix.EPERM, "neither kernfs nor bpffs")
	// umask shapes the exposure's mode; the owner is always root.
	user := m.NewProcess(kernel.ProcessOptions{UID: 1000, GID: 1000, Umask: 0077})
	require.NoError(t, p.Chmod("/sys/fs/bpf/p", 0666))
	ufd, err := user.ObjGet("/sys/fs/bpf/p", 0)
	require.NoError(t, err)
	require.NoError(t, p.Chmod("/sys/fs/cgroup", 0777))
	require.NoError(t, user.ObjPin(ufd, "/sys/fs/cgroup/u"))
	st, err := p.Stat("/sys/fs/cgroup/u")
	require.NoError(t, err)
	require.Equal(t, uint32(unix.S_IFREG|0600), st.Mode)
	require.Equal(t, uint32(0), st.UID)
	_, err = readFile(user, "/sys/fs/cgroup/u")
	require.ErrorIs(t, err, unix.EACCES, "0600 root-owned: the pinning user cannot read it")
	// "rm" with a trailing newline, as echo writes it.
	require.NoError(t, p.WriteFile("/sys/fs/cgroup/u", []byte("rm\n")))
	_, err = p.Stat("/sys/fs/cgroup/u")
	require.ErrorIs(t, err, unix.ENOENT)
	require.ErrorIs(t, p.ObjPin(999, "/sys/fs/cgroup/x"), unix.EINVAL)
}

func TestManyExposuresOneInode(t *testing.T) {
	m, p := boot(t, nil)
	fd := loadView(t, m, p, 0, 0)
	lfd, err := p.LinkCreate(fd, kernel.LinkCreateAttr{})
	require.NoError(t, err)
	require.NoError(t, p.ObjPin(lfd, "/sys/fs/bpf/v"))
	var ids []uint64
	for i := 0; i < 20; i++ {
		dir := fmt.Sprintf("/sys/fs/cgroup/c%d", i)
		require.NoError(t, p.Mkdir(dir, 0755))
		require.NoError(t, p.ObjPin(lfd, dir+"/v"))
		st, err := p.Stat(dir)
		require.NoError(t, err)
		ids = append(ids, st.Ino)
	}
	for i, id := range ids {
		out, err := readFile(p, fmt.Sprintf("/sys/fs/cgroup/c%d/v", i))
		require.NoError(t, err)
		got, err := strconv.ParseUint(strings.Fields(out)[0], 10, 64)
		require.NoError(t, err)
		require.Equal(t, id, got)
	}
	require.Len(t, m.View().Exposures(), 20)
	require.NoError(t, p.Unlink("/sys/fs/bpf/v"))
	require.Empty(t, m.View().Exposures())
	for i := range ids {
		_, err := p.Stat(fmt.Sprintf("/sys/fs/cgroup/c%d/v", i))
		require.ErrorIs(t, err, unix.ENOENT)
	}
}

// The index keeps a directory's emptied list until the cgroup goes or
// empty lists outnumber the live exposures; exposures made, removed and
// listed across that pruning behave as ever.
func TestEmptyDirListsPruned(t *testing.T) {
	m, p := boot(t, nil)
	rec := m.Events().Record()
	fd := loadView(t, m, p, 0, 0)
	lfd, err := p.LinkCreate(fd, kernel.LinkCreateAttr{})
	require.NoError(t, err)
	const n = 1100 // more empty lists than the pruning slack
	for i := 0; i <= n; i++ {
		require.NoError(t, p.Mkdir(fmt.Sprintf("/sys/fs/cgroup/c%d", i), 0755))
	}
	require.NoError(t, p.ObjPin(lfd, "/sys/fs/bpf/v"))
	for i := 0; i < n; i++ {
		require.NoError(t, p.ObjPin(lfd, fmt.Sprintf("/sys/fs/cgroup/c%d/v", i)))
	}
	require.NoError(t, p.Unlink("/sys/fs/bpf/v"))
	require.Empty(t, m.View().Exposures())
	require.NoError(t, p.ObjPin(lfd, "/sys/fs/bpf/v"))
	require.NoError(t, p.ObjPin(lfd, fmt.Sprintf("/sys/fs/cgroup/c%d/v", n))) // a new list: prunes
	for _, i := range []int{0, 1, 2} {
		require.NoError(t, p.ObjPin(lfd, fmt.Sprintf("/sys/fs/cgroup/c%d/v", i)))
		require.NoError(t, p.ObjPin(lfd, fmt.Sprintf("/sys/fs/cgroup/c%d/w", i)))
	}
	require.Len(t, m.View().Exposures(), 7)
	require.NoError(t, p.WriteFile("/sys/fs/cgroup/c0/v", []byte("rm")))
	require.NoError(t, p.Rmdir("/sys/fs/cgroup/c1")) // with its two
	require.NoError(t, p.Rmdir("/sys/fs/cgroup/c3")) // an empty list's cgroup
	require.NoError(t, p.WriteFile("/sys/fs/cgroup/c2/w", []byte("rm")))
	require.Len(t, m.View().Exposures(), 3)
	require.NoError(t, p.Unlink("/sys/fs/bpf/v"))
	require.Empty(t, m.View().Exposures())
	var reasons []string
	for _, e := range rec.Events() {
		if e.Kind == events.ExposureRemoved {
			reasons = append(reasons, e.Reason)
		}
	}
	require.Len(t, reasons, n+7)
	require.Equal(t, []string{"rm", "rmdir", "rmdir", "rm", "unpin", "unpin", "unpin"}, reasons[n:])
}

// appendSeqPrintf ends a view program: it stores format at fmtOff below
// the frame, calls bpf_seq_printf(seq in r6, format, its arguments: the
// two u64 at r10-16) and returns ret.
func appendSeqPrintf(insns asm.Instructions, format string, fmtOff int16, ret int32) asm.Instructions {
	for i, w := range cstring(format) {
		insns = append(insns, asm.LoadImm(asm.R9, int64(w), asm.DWord), asm.StoreMem(asm.RFP, fmtOff+int16(8*i), asm.R9, asm.DWord))
	}
	return append(insns,
		asm.Mov.Reg(asm.R1, asm.R6),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, int32(fmtOff)),
		asm.Mov.Imm(asm.R3, int32(len(format)+1)),
		asm.Mov.Reg(asm.R4, asm.RFP),
		asm.Add.Imm(asm.R4, -16),
		asm.Mov.Imm(asm.R5, 16),
		asm.FnSeqPrintf.Call(),
		asm.Mov.Imm(asm.R0, ret),
		asm.Return(),
	)
}
