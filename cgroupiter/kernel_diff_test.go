package cgroupiter_test

// Differential tests: the same cgroup_iter object, the same tree shape and
// the same reads in the running kernel (package kernelref, root and
// bpf() needed; skipped elsewhere) and in simfs. Cgroup ids differ between
// the two, so outputs are compared after each "%8llu" line has been checked
// against its cgroup's id and replaced by the cgroup's path.

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/simfs/simfs/internal/kernelref"
	"github.com/simfs/simfs/kernel"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

func skipWithoutKernel(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("differential test against the running kernel")
	}
	if err := kernelref.Available(); err != nil {
		t.Skip(err)
	}
}

var idLine = regexp.MustCompile(`(?m)^ *[0-9]+$`)

// byPath rewrites every "%8llu" line of out as "<path>", after checking it
// is exactly fmt.Sprintf("%8d", id) of a known cgroup; paths maps ids to
// names. Unknown ids are an error.
func byPath(t *testing.T, side, out string, paths map[uint64]string) string {
	t.Helper()
	return idLine.ReplaceAllStringFunc(out, func(line string) string {
		var id uint64
		_, err := fmt.Sscan(line, &id)
		require.NoError(t, err, "%s: %q", side, line)
		assert.Equal(t, fmt.Sprintf("%8d", id), line, "%s: %%8llu formatting", side)
		p, ok := paths[id]
		if !assert.True(t, ok, "%s: id %d is no cgroup of the tree", side, id) {
			return line
		}
		return "<" + p + ">"
	})
}

// invert maps ids to the paths kernelref keys them by, the hierarchy's
// root (id 1) as "/".
func invert(ids map[string]uint64) map[uint64]string {
	out := map[uint64]string{1: "/"}
	for p, id := range ids {
		out[id] = p
	}
	return out
}

// simTree builds in simfs the tree kernelref built: the work cgroup at the
// same path under the root, then the same directories in the same order.
func simTree(t *testing.T, p *kernel.Process, workPath string, dirs []string) (work string, ids map[string]uint64) {
	t.Helper()
	work = kernel.CgroupPath + workPath
	mkdirs(t, p, work)
	ids = map[string]uint64{".": cgroupID(t, p, work)}
	for _, d := range dirs {
		mkdirs(t, p, cgroupPath(work, d))
		ids[d] = cgroupID(t, p, cgroupPath(work, d))
	}
	return work, ids
}

// TestKernelSelftest runs the selftest's cases, and two more, in the
// running kernel and in simfs, and compares the outputs line by line.
func TestKernelSelftest(t *testing.T) {
	skipWithoutKernel(t)
	cases := append(kernelref.SelftestCases(),
		kernelref.IterCase{Name: "up_to_root", Start: "parent/child2", Order: kernelref.OrderUp},
		kernelref.IterCase{Name: "pre_until_child1", Start: ".", Order: kernelref.OrderPre, Terminal: "parent/child1"},
		kernelref.IterCase{Name: "post_from_work", Start: ".", Order: kernelref.OrderPost},
		kernelref.IterCase{Name: "self_early", Start: "parent/child1", Order: kernelref.OrderSelf, TerminateEarly: true},
	)
	res, err := kernelref.CgroupIterOutputs(cgroupIterObj, kernelref.SelftestTree, cases)
	if errors.Is(err, kernelref.ErrUnavailable) {
		t.Skip(err)
	}
	require.NoError(t, err)

	m, p := boot(t, nil)
	_, ids := simTree(t, p, res.Path, []string{"parent", "parent/child1", "parent/child2"})
	work := kernel.CgroupPath + res.Path
	kpaths, spaths := invert(res.IDs), invert(ids)
	for _, c := range cases {
		var terminal uint64
		if c.Terminal != "" {
			terminal = ids[c.Terminal]
		}
		prog := printer(t, m, p, c.TerminateEarly, terminal)
		link, err := attach(p, prog, cgroupPath(work, c.Start), uint32(c.Order))
		require.NoError(t, err)
		got, err := readIterCreate(t, p, link, 512) // io.ReadAll's first read
		require.NoError(t, err)
		p.Close(link)

		kernelOut := res.Outputs[c.Name]
		want := byPath(t, "kernel", kernelOut, kpaths)
		assert.Equal(t, want, byPath(t, "simfs", got, spaths), c.Name)
		t.Logf("%s (%s from %s)\nkernel:\n%ssimfs:\n%s", c.Name, c.Order, c.Start, kernelOut, got)
	}
}

// kernelSide is the cgroup_iter object loaded in the running kernel, with
// a private cgroup2 mount and its work cgroup.
type kernelSide struct {
	coll *ebpf.Collection
	prog *ebpf.Program
	cg   *kernelref.Cgroup2
}

func newKernelSide(t *testing.T) *kernelSide {
	t.Helper()
	skipWithoutKernel(t)
	spec, err := ebpf.LoadCollectionSpec(cgroupIterObj)
	require.NoError(t, err)
	coll, err := ebpf.NewCollection(spec)
	if errors.Is(err, unix.EPERM) {
		t.Skip(err)
	}
	require.NoError(t, err)
	t.Cleanup(func() { coll.Close() })
	cg, err := kernelref.MountCgroup2()
	if errors.Is(err, kernelref.ErrUnavailable) {
		t.Skip(err)
	}
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, cg.Close()) })
	return &kernelSide{coll: coll, prog: coll.Programs["cgroup_id_printer"], cg: cg}
}

func (k *kernelSide) path(rel string) string { return filepath.Join(k.cg.Work, rel) }

func (k *kernelSide) mkdirs(t *testing.T, rels ...string) {
	t.Helper()
	for _, r := range rels {
		require.NoError(t, os.Mkdir(k.path(r), 0o755))
	}
}

// workPath is the work cgroup's path from the cgroup2 root.
func (k *kernelSide) workPath() string { return strings.TrimPrefix(k.cg.Work, k.cg.Mount) }

func (k *kernelSide) ids(t *testing.T) map[uint64]string {
	t.Helper()
	ids, err := k.cg.IDs()
	require.NoError(t, err)
	return invert(ids)
}

// attach opens the cgroup at rel and creates a link on it.
func (k *kernelSide) attach(t *testing.T, rel string, order kernelref.Order) io.Closer {
	t.Helper()
	fd, err := unix.Open(k.path(rel), unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	require.NoError(t, err)
	defer unix.Close(fd)
	l, err := kernelref.AttachCgroupIter(k.prog, order, uint32(fd), 0)
	require.NoError(t, err)
	return l
}

// kernelChunks records the reads of one session of l as readChunks does.
func kernelChunks(t *testing.T, l io.Closer, chunk int) []string {
	t.Helper()
	r, err := l.(interface{ Open() (io.ReadCloser, error) }).Open()
	require.NoError(t, err)
	defer r.Close()
	var out []string
	buf := make([]byte, chunk)
	for i := 0; i < 100000; i++ {
		n, err := r.Read(buf)
		if n > 0 {
			out = append(out, fmt.Sprintf("%d:%q", n, buf[:n]))
		}
		switch {
		case err == io.EOF:
			return append(out, "EOF")
		case err != nil:
			var errno unix.Errno
			if !errors.As(err, &errno) {
				t.Fatalf("read: %v", err)
			}
			return append(out, "err "+errno.Error())
		case n == 0:
			return append(out, "EOF")
		}
	}
	return append(out, "no end")
}

// shape splits readChunks' items into the read sizes and the ending, and
// the bytes they carried.
func shape(items []string) (sizes []string, data string) {
	for _, it := range items {
		n, q, ok := strings.Cut(it, ":")
		if !ok {
			sizes = append(sizes, it)
			continue
		}
		s, err := unquote(q)
		if err != nil {
			sizes = append(sizes, "bad "+it)
			continue
		}
		sizes = append(sizes, n)
		data += s
	}
	return sizes, data
}

func unquote(q string) (string, error) {
	var s string
	_, err := fmt.Sscanf(q, "%q", &s)
	return s, err
}

// TestKernelReadSizes reads pre-order sessions from parent with reads of
// many sizes in both kernels: the same read sizes, the same ending (EOF or
// EOPNOTSUPP), the same bytes.
func TestKernelReadSizes(t *testing.T) {
	k := newKernelSide(t)
	dirs := []string{"parent", "parent/child1", "parent/child2"}
	k.mkdirs(t, dirs...)
	kl := k.attach(t, "parent", kernelref.OrderPre)
	defer kl.Close()

	m, p := boot(t, nil)
	work, ids := simTree(t, p, k.workPath(), dirs)
	prog := printer(t, m, p, false, 0)
	sl, err := attach(p, prog, cgroupPath(work, "parent"), orderPre)
	require.NoError(t, err)

	kpaths, spaths := k.ids(t), invert(ids)
	for _, chunk := range []int{0, 1, 2, 9, 10, 17, 18, 19, 27, 28, 36, 44, 45, 128, 512} {
		var kitems []string
		if chunk == 0 {
			kitems = kernelZeroRead(t, kl)
		} else {
			kitems = kernelChunks(t, kl, chunk)
		}
		fd, err := p.IterCreate(sl)
		require.NoError(t, err)
		var sitems []string
		if chunk == 0 {
			n, err := p.Read(fd, nil)
			require.NoError(t, err)
			require.Zero(t, n)
			sitems = readChunks(p, fd, 128)
		} else {
			sitems = readChunks(p, fd, chunk)
		}
		p.Close(fd)
		ksizes, kdata := shape(kitems)
		ssizes, sdata := shape(sitems)
		assert.Equal(t, ksizes, ssizes, "reads of %d bytes", chunk)
		assert.Equal(t, byPath(t, "kernel", kdata, kpaths), byPath(t, "simfs", sdata, spaths), "reads of %d bytes", chunk)
		t.Logf("reads of %d bytes: kernel %v, simfs %v", chunk, ksizes, ssizes)
	}
}

// kernelZeroRead does a read of 0 bytes, then reads of 128.
func kernelZeroRead(t *testing.T, l io.Closer) []string {
	r, err := l.(interface{ Open() (io.ReadCloser, error) }).Open()
	require.NoError(t, err)
	defer r.Close()
	f := r.(*os.File)
	n, err := unix.Read(int(f.Fd()), nil)
	require.NoError(t, err)
	require.Zero(t, n)
	var out []string
	buf := make([]byte, 128)
	for {
		n, err := unix.Read(int(f.Fd()), buf)
		switch {
		case err != nil:
			return append(out, "err "+err.(unix.Errno).Error())
		case n == 0:
			return append(out, "EOF")
		}
		out = append(out, fmt.Sprintf("%d:%q", n, buf[:n]))
	}
}

// TestKernelDeadCgroups: a removed cgroup held by a link is skipped by
// walks, and its seq_num is used up, in both kernels; a link on it reads
// the epilogue only; so does an anonymous session whose link, cgroup fd
// and cgroup are gone (the newer selftest's dead_self_only).
func TestKernelDeadCgroups(t *testing.T) {
	k := newKernelSide(t)
	dirs := []string{"parent", "parent/child1", "parent/child2", "dead"}
	k.mkdirs(t, dirs...)
	m, p := boot(t, nil)
	work, ids := simTree(t, p, k.workPath(), dirs)
	prog := printer(t, m, p, false, 0)
	kpaths, spaths := k.ids(t), invert(ids)

	// dead_self_only: session first, then the link, the fd and the cgroup
	// go.
	kdead := k.attach(t, "dead", kernelref.OrderSelf)
	kr, err := kdead.(interface{ Open() (io.ReadCloser, error) }).Open()
	require.NoError(t, err)
	require.NoError(t, kdead.Close())
	require.NoError(t, unix.Rmdir(k.path("dead")))
	kb, err := io.ReadAll(kr)
	require.NoError(t, err)
	kr.Close()
	sdead, err := attach(p, prog, cgroupPath(work, "dead"), orderSelf)
	require.NoError(t, err)
	siter, err := p.IterCreate(sdead)
	require.NoError(t, err)
	p.Close(sdead)
	require.NoError(t, p.Rmdir(cgroupPath(work, "dead")))
	sb, err := readAll(t, p, siter, 128)
	require.NoError(t, err)
	p.Close(siter)
	assert.Equal(t, "epilogue\n", string(kb))
	assert.Equal(t, string(kb), sb, "dead_self_only")

	// child1 removed while a link holds it.
	khold := k.attach(t, "parent/child1", kernelref.OrderSelf)
	defer khold.Close()
	require.NoError(t, unix.Rmdir(k.path("parent/child1")))
	shold, err := attach(p, prog, cgroupPath(work, "parent/child1"), orderSelf)
	require.NoError(t, err)
	defer p.Close(shold)
	require.NoError(t, p.Rmdir(cgroupPath(work, "parent/child1")))

	for _, order := range []kernelref.Order{kernelref.OrderPre, kernelref.OrderPost, kernelref.OrderUp} {
		kl := k.attach(t, "parent", order)
		_, kdata := shape(kernelChunks(t, kl, 512))
		kl.Close()
		sl, err := attach(p, prog, cgroupPath(work, "parent"), uint32(order))
		require.NoError(t, err)
		fd, err := p.IterCreate(sl)
		require.NoError(t, err)
		_, sdata := shape(readChunks(p, fd, 512))
		p.Close(fd)
		p.Close(sl)
		assert.Equal(t, byPath(t, "kernel", kdata, kpaths), byPath(t, "simfs", sdata, spaths), "order %s", order)
		t.Logf("%s from parent, child1 dead:\nkernel:\n%ssimfs:\n%s", order, kdata, sdata)
	}
	_, kdata := shape(kernelChunks(t, khold, 512))
	fd, err := p.IterCreate(shold)
	require.NoError(t, err)
	_, sdata := shape(readChunks(p, fd, 512))
	p.Close(fd)
	assert.Equal(t, "epilogue\n", kdata)
	assert.Equal(t, kdata, sdata, "self only on the dead child1")
}

// TestKernelManyCgroups: 3000 cgroups fit the 32 KiB buffer, 3700 do not;
// a reader with cat's 128 KiB buffer gets the same bytes and then the same
// EOF or EOPNOTSUPP in both kernels.
func TestKernelManyCgroups(t *testing.T) {
	k := newKernelSide(t)
	m, p := boot(t, nil)
	prog := printer(t, m, p, false, 0)
	work := kernel.CgroupPath + k.workPath()
	mkdirs(t, p, work)
	for _, n := range []int{3000, 3700} {
		dir := fmt.Sprintf("many%d", n)
		k.mkdirs(t, dir)
		mkdirs(t, p, cgroupPath(work, dir))
		for i := 0; i < n; i++ {
			c := fmt.Sprintf("%s/c%d", dir, i)
			k.mkdirs(t, c)
			mkdirs(t, p, cgroupPath(work, c))
		}
		kl := k.attach(t, dir, kernelref.OrderPre)
		ksizes, kdata := shape(kernelChunks(t, kl, 128<<10))
		kl.Close()
		sl, err := attach(p, prog, cgroupPath(work, dir), orderPre)
		require.NoError(t, err)
		fd, err := p.IterCreate(sl)
		require.NoError(t, err)
		ssizes, sdata := shape(readChunks(p, fd, 128<<10))
		p.Close(fd)
		p.Close(sl)
		assert.Equal(t, ksizes, ssizes, "%d cgroups", n)
		// Line by line: the same cgroups (by name) in the same order.
		sIDs := map[string]uint64{}
		for i := -1; i < n; i++ {
			rel := dir
			if i >= 0 {
				rel = fmt.Sprintf("%s/c%d", dir, i)
			}
			sIDs[rel] = cgroupID(t, p, cgroupPath(work, rel))
		}
		assert.Equal(t, byPath(t, "kernel", kdata, k.ids(t)), byPath(t, "simfs", sdata, invert(sIDs)), "%d cgroups", n)
		t.Logf("%d cgroups: kernel reads %v, simfs reads %v", n, ksizes, ssizes)
	}
}

// TestKernelAttachErrnos checks TestAttachErrors' table against the
// running kernel.
func TestKernelAttachErrnos(t *testing.T) {
	k := newKernelSide(t)
	k.mkdirs(t, "parent", "gone")
	open := func(path string, flags int) int {
		fd, err := unix.Open(path, flags|unix.O_CLOEXEC, 0)
		require.NoError(t, err)
		t.Cleanup(func() { unix.Close(fd) })
		return fd
	}
	parentFD := open(k.path("parent"), unix.O_RDONLY|unix.O_DIRECTORY)
	fileFD := open(k.path("parent/cgroup.procs"), unix.O_RDONLY)
	tmpFD := open(os.TempDir(), unix.O_RDONLY|unix.O_DIRECTORY)
	goneFD := open(k.path("gone"), unix.O_RDONLY|unix.O_DIRECTORY)
	parentID, err := kernelref.CgroupID(k.path("parent"))
	require.NoError(t, err)
	goneID, err := kernelref.CgroupID(k.path("gone"))
	require.NoError(t, err)
	require.NoError(t, unix.Rmdir(k.path("gone")))

	for _, c := range attachErrorCases(parentFD, fileFD, tmpFD, goneFD, parentID, goneID) {
		l, err := kernelref.AttachCgroupIter(k.prog, kernelref.Order(c.attr.Order), uint32(c.attr.CgroupFD), c.attr.CgroupID)
		if err == nil {
			l.Close()
			if c.attr.Order == 5 {
				t.Logf("%s: this kernel has BPF_CGROUP_ITER_CHILDREN (after 6.18); simfs follows 6.1", c.name)
				continue
			}
		}
		assert.ErrorIs(t, err, c.errno, c.name)
	}
}
