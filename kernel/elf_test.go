package kernel_test

import (
	"fmt"
	"os"
	"sort"
	"testing"

	"github.com/cilium/ebpf/btf"
	"github.com/simfs/simfs/bpf"
	"github.com/simfs/simfs/kernel"
	"github.com/simfs/simfs/loader"
	"github.com/simfs/simfs/vmlinux"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

const (
	cgroupIterObj    = "../examples/cgroup_iter/cgroup_iter.bpf.o"
	pinningKernfsObj = "../examples/pinning_kernfs/pinning_kernfs.bpf.o"
	featuresObj      = "../loader/testdata/features.bpf.o"
)

func layouts() []*vmlinux.Layout { return []*vmlinux.Layout{vmlinux.Default(), vmlinux.Alternate()} }

func bootLayout(t *testing.T, l *vmlinux.Layout) (*kernel.Machine, *kernel.Process) {
	t.Helper()
	m, err := kernel.Boot(kernel.Config{Layout: l})
	require.NoError(t, err)
	return m, m.NewProcess(kernel.ProcessOptions{Umask: 022})
}

func keys(m map[string]int) []string {
	var k []string
	for n := range m {
		k = append(k, n)
	}
	sort.Strings(k)
	return k
}

func mapInfo(t *testing.T, p *kernel.Process, fd int) kernel.Info {
	t.Helper()
	in, err := p.ObjInfo(fd)
	require.NoError(t, err)
	return in
}

func attachIter(t *testing.T, p *kernel.Process, prog int, dir string, order uint32) int {
	t.Helper()
	cfd, err := p.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	require.NoError(t, err)
	defer p.Close(cfd)
	link, err := p.LinkCreate(prog, kernel.LinkCreateAttr{CgroupFD: cfd, Order: order})
	require.NoError(t, err)
	return link
}

func readIter(t *testing.T, p *kernel.Process, link int) (string, error) {
	t.Helper()
	fd, err := p.IterCreate(link)
	require.NoError(t, err)
	defer p.Close(fd)
	var out []byte
	buf := make([]byte, 4096)
	for {
		n, err := p.Read(fd, buf)
		out = append(out, buf[:n]...)
		if err != nil || n == 0 {
			return string(out), err
		}
	}
}

// TestLoadCgroupIterExample loads the committed cgroup_iter object through
// the kernel API on machines of both layouts and runs it.
func TestLoadCgroupIterExample(t *testing.T) {
	for _, l := range layouts() {
		t.Run(l.Name(), func(t *testing.T) {
			m, p := bootLayout(t, l)
			obj, err := m.OpenObjectFile(cgroupIterObj)
			require.NoError(t, err)
			pr := obj.Program("cgroup_id_printer")
			require.NotNil(t, pr)
			assert.Nil(t, pr.Poisoned)
			require.NoError(t, obj.SetVariable("terminate_early", []byte{1, 0, 0, 0}))

			fds, err := p.LoadObject(obj, kernel.LoadObjectOptions{})
			require.NoError(t, err)
			defer fds.Close()
			assert.Equal(t, []string{"cgroup_id_printer"}, keys(fds.Progs))
			assert.Equal(t, []string{".bss", ".rodata"}, keys(fds.Maps))
			assert.Contains(t, fds.Logs["cgroup_id_printer"], "processed")

			ro := mapInfo(t, p, fds.Maps[".rodata"])
			assert.True(t, ro.Frozen, ".rodata is frozen")
			assert.NotZero(t, ro.MapFlags&unix.BPF_F_RDONLY_PROG)
			assert.ErrorIs(t, p.MapUpdate(fds.Maps[".rodata"], make([]byte, 4), make([]byte, ro.ValueSize), 0), unix.EPERM)
			bss := mapInfo(t, p, fds.Maps[".bss"])
			assert.False(t, bss.Frozen)
			assert.Equal(t, "array", bss.MapType)
			pi := mapInfo(t, p, fds.Progs["cgroup_id_printer"])
			assert.Equal(t, "iter/cgroup", pi.ProgType)
			assert.ElementsMatch(t, []uint32{ro.ID, bss.ID}, pi.MapIDs)

			require.NoError(t, p.Mkdir(kernel.CgroupPath+"/a", 0755))
			require.NoError(t, p.Mkdir(kernel.CgroupPath+"/a/b", 0755))
			st, err := p.Stat(kernel.CgroupPath + "/a")
			require.NoError(t, err)
			link := attachIter(t, p, fds.Progs["cgroup_id_printer"], kernel.CgroupPath+"/a", 2)
			defer p.Close(link)
			got, err := readIter(t, p, link)
			require.NoError(t, err)
			assert.Equal(t, fmt.Sprintf("prologue\n%8d\nepilogue\n", st.Ino), got, "terminate_early set before the load")

			// .bss stays writable from user space, and the program sees it.
			bssVal, err := p.MapLookup(fds.Maps[".bss"], make([]byte, 4))
			require.NoError(t, err)
			assert.Equal(t, byte(1), bssVal[0])
			bssVal[0] = 0
			require.NoError(t, p.MapUpdate(fds.Maps[".bss"], make([]byte, 4), bssVal, 0))
			got, err = readIter(t, p, link)
			require.NoError(t, err)
			bst, err := p.Stat(kernel.CgroupPath + "/a/b")
			require.NoError(t, err)
			assert.Equal(t, fmt.Sprintf("prologue\n%8d\n%8d\nepilogue\n", st.Ino, bst.Ino), got)
		})
	}
}

// TestLoadPinningKernfsExample loads the seed's object on both layouts:
// wait_record on the simulated sched_stat_wait records a wait for the
// task's cgroup, and wait_show, exposed in that cgroup's directory,
// prints it.
func TestLoadPinningKernfsExample(t *testing.T) {
	for _, l := range layouts() {
		t.Run(l.Name(), func(t *testing.T) {
			m, p := bootLayout(t, l)
			obj, err := m.OpenObjectFile(pinningKernfsObj)
			require.NoError(t, err)
			fds, err := p.LoadObject(obj, kernel.LoadObjectOptions{})
			require.NoError(t, err)
			defer fds.Close()
			assert.Equal(t, []string{"wait_record", "wait_show"}, keys(fds.Progs))
			assert.Equal(t, []string{".rodata", "wait_map"}, keys(fds.Maps))
			assert.Equal(t, "tp_btf/sched_stat_wait", mapInfo(t, p, fds.Progs["wait_record"]).ProgType)
			assert.Equal(t, "view/cgroup", mapInfo(t, p, fds.Progs["wait_show"]).ProgType)
			wm := mapInfo(t, p, fds.Maps["wait_map"])
			assert.Equal(t, "hash", wm.MapType)
			assert.Equal(t, uint32(65532), wm.MaxEntries)

			rec, err := p.LinkCreate(fds.Progs["wait_record"], kernel.LinkCreateAttr{})
			require.NoError(t, err)
			defer p.Close(rec)
			dir := kernel.CgroupPath + "/w"
			require.NoError(t, p.Mkdir(dir, 0755))
			pid, err := p.TaskSpawn(dir)
			require.NoError(t, err)
			tk := m.Task(pid)
			addr, err := m.KernelObjects().Task(tk)
			require.NoError(t, err)
			require.NoError(t, m.SchedStatWait().Fire(tk, addr, 700))
			require.NoError(t, m.SchedStatWait().Fire(tk, addr, 5000))
			require.NoError(t, m.SchedStatWait().Fire(tk, addr, 300))

			show, err := p.LinkCreate(fds.Progs["wait_show"], kernel.LinkCreateAttr{})
			require.NoError(t, err)
			defer p.Close(show)
			require.NoError(t, p.ObjPin(show, kernel.BPFFSPath+"/wait_show"))
			require.NoError(t, p.ObjPin(show, dir+"/wait"))
			got, err := p.ReadFile(dir + "/wait")
			require.NoError(t, err)
			st, err := p.Stat(dir)
			require.NoError(t, err)
			assert.Equal(t, fmt.Sprintf("%d 5000\n", st.Ino), string(got), "the maximum wait")
		})
	}
}

// TestLoadObjectFeatures loads the loader's test object, which has maps of
// every definition kind, every kind of global data and bpf-to-bpf calls,
// and runs its iterator.
func TestLoadObjectFeatures(t *testing.T) {
	for _, l := range layouts() {
		t.Run(l.Name(), func(t *testing.T) {
			m, p := bootLayout(t, l)
			obj, err := m.OpenObjectFile(featuresObj)
			require.NoError(t, err)

			// tracepoint/ has no simulated type: like libbpf, the whole
			// object fails, and before anything is created.
			_, err = p.LoadObject(obj, kernel.LoadObjectOptions{})
			assert.ErrorIs(t, err, unix.EINVAL)
			assert.ErrorContains(t, err, `prog on_exit: section "tracepoint/sched/sched_process_exit" is not a program type simfs simulates`)
			assert.Empty(t, m.Objects(bpf.TypeMap))
			assert.Empty(t, m.Objects(bpf.TypeProg))
			_, err = p.LoadObject(obj, kernel.LoadObjectOptions{Programs: []string{"on_switch"}})
			assert.ErrorContains(t, err, "raw_tp/sched_switch", "no such simulated tracepoint")
			_, err = p.LoadObject(obj, kernel.LoadObjectOptions{Programs: []string{"nope"}})
			assert.ErrorIs(t, err, unix.ENOENT)

			fds, err := p.LoadObject(obj, kernel.LoadObjectOptions{Programs: []string{"dump_cgroup", "dump_cgroup_sleepable", "show", "on_wait"}})
			require.NoError(t, err)
			defer fds.Close()
			assert.Equal(t, []string{".bss", ".data", ".data.tuning", ".rodata", ".rodata.banner", ".rodata.str1.1", "legacy_counts", "seen"}, keys(fds.Maps))
			assert.Len(t, fds.Progs, 4)
			assert.True(t, mapInfo(t, p, fds.Maps[".rodata.banner"]).Frozen)
			assert.False(t, mapInfo(t, p, fds.Maps[".data.tuning"]).Frozen)
			assert.Equal(t, ".rodata.str1.1", mapInfo(t, p, fds.Maps[".rodata.str1.1"]).Name, "15 bytes fit")

			require.NoError(t, p.Mkdir(kernel.CgroupPath+"/a", 0755))
			require.NoError(t, p.Mkdir(kernel.CgroupPath+"/a/b", 0755))
			a, _ := p.Stat(kernel.CgroupPath + "/a")
			b, _ := p.Stat(kernel.CgroupPath + "/a/b")
			cfd, err := p.Open(kernel.CgroupPath, unix.O_RDONLY|unix.O_DIRECTORY, 0)
			require.NoError(t, err)
			link, err := p.LinkCreate(fds.Progs["dump_cgroup"], kernel.LinkCreateAttr{CgroupFD: cfd, Order: 2})
			require.NoError(t, err)
			p.Close(cfd)
			defer p.Close(link)
			got, err := readIter(t, p, link)
			require.NoError(t, err)
			// The root (level 0 < min_level) prints nothing; twice(1) is 2;
			// magic from .data; banner from .rodata.banner; "end\n" from
			// .rodata.str1.1.
			assert.Equal(t, fmt.Sprintf("%d 1 2 1122334455667788 simfs\n%d 2 2 1122334455667788 simfs\nend\n", a.Ino, b.Ino), got)
			bss, err := p.MapLookup(fds.Maps[".bss"], make([]byte, 4))
			require.NoError(t, err)
			assert.Equal(t, byte(2), bss[0], "visits in .bss")
			got, err = readIter(t, p, link)
			require.NoError(t, err)
			assert.Contains(t, got, fmt.Sprintf("%d 1 4 ", a.Ino), "seen counts the second visit")
		})
	}
}

// withoutField returns BTF for the cgroup iterator's context in which
// struct cgroup lacks field, everything else as in l.
func withoutField(t *testing.T, l *vmlinux.Layout, field string) *btf.Spec {
	t.Helper()
	st, err := l.Struct("bpf_iter__cgroup")
	require.NoError(t, err)
	ctx := btf.Copy(st.Type()).(*btf.Struct)
	// ctx->cgroup is in an anonymous union (__bpf_md_ptr).
	var find func(members []btf.Member) *btf.Struct
	find = func(members []btf.Member) *btf.Struct {
		for _, mb := range members {
			switch {
			case mb.Name == "cgroup":
				return btf.UnderlyingType(mb.Type.(*btf.Pointer).Target).(*btf.Struct)
			case mb.Name == "":
				if u, ok := btf.UnderlyingType(mb.Type).(*btf.Union); ok {
					if cg := find(u.Members); cg != nil {
						return cg
					}
				}
			}
		}
		return nil
	}
	cg := find(ctx.Members)
	require.NotNil(t, cg)
	var extra []btf.Type
	var kept []btf.Member
	for _, mb := range cg.Members {
		if mb.Name == field {
			extra = append(extra, mb.Type)
			continue
		}
		kept = append(kept, mb)
	}
	require.Len(t, extra, 1, "struct cgroup has %s", field)
	cg.Members = kept
	if p, ok := extra[0].(*btf.Pointer); ok {
		extra[0] = p.Target
	}
	b, err := btf.NewBuilder(append([]btf.Type{ctx}, extra...), nil)
	require.NoError(t, err)
	spec, err := b.Spec()
	require.NoError(t, err)
	return spec
}

// TestMissingField: relocated against kernel types whose struct cgroup has
// no kn, cgroup_id_printer's read of cgrp->kn is poisoned, as libbpf does.
// The program loads (the flow check treats the poisoned instruction as the
// end of its path, so a read guarded by bpf_core_field_exists would run
// fine) and the walk fails when it reaches the read, naming the field —
// never a silent wrong read. (The kernel's verifier, which can prove such
// guards, refuses a reachable poisoned call at load instead: "invalid func
// unknown#195896080", which libbpf explains with the same relocation.) A
// strict open fails earlier, naming it too.
func TestMissingField(t *testing.T) {
	for _, l := range layouts() {
		t.Run(l.Name(), func(t *testing.T) {
			_, p := bootLayout(t, l)
			f, err := os.Open(cgroupIterObj)
			require.NoError(t, err)
			defer f.Close()
			obj, err := loader.Load(f, withoutField(t, l, "kn"))
			require.NoError(t, err)
			require.NotEmpty(t, obj.Program("cgroup_id_printer").Poisoned)
			fds, err := p.LoadObject(obj, kernel.LoadObjectOptions{})
			require.NoError(t, err)
			defer fds.Close()
			require.NoError(t, p.Mkdir("/sys/fs/cgroup/m", 0755))
			link := attachIter(t, p, fds.Progs["cgroup_id_printer"], "/sys/fs/cgroup/m", 1)
			out, err := readIter(t, p, link)
			require.Error(t, err)
			assert.ErrorIs(t, err, unix.EINVAL)
			assert.ErrorContains(t, err, "CO-RE byte_off relocation of cgroup.kn")
			assert.Empty(t, out, "nothing read through the poisoned field")

			_, err = f.Seek(0, 0)
			require.NoError(t, err)
			_, err = loader.LoadWithOptions(f, loader.Options{Target: withoutField(t, l, "kn"), Strict: true})
			assert.ErrorIs(t, err, unix.EINVAL)
			assert.ErrorContains(t, err, "cgroup.kn")
		})
	}
}

// TestWrongLayout: an object relocated for one machine's types is refused
// by a machine with another layout rather than read the wrong bytes.
func TestWrongLayout(t *testing.T) {
	def, _ := bootLayout(t, vmlinux.Default())
	obj, err := def.OpenObjectFile(cgroupIterObj)
	require.NoError(t, err)
	_, p := bootLayout(t, vmlinux.Alternate())
	_, err = p.LoadObject(obj, kernel.LoadObjectOptions{})
	assert.ErrorIs(t, err, unix.EINVAL)
	assert.ErrorContains(t, err, "relocated against other kernel types")
}
