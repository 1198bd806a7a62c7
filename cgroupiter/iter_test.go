package cgroupiter_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/simfs/simfs/bpf"
	"github.com/simfs/simfs/cgroupiter"
	"github.com/simfs/simfs/kernel"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// expectChunks is what reads of size chunk give for a walk whose cgroups
// print the given outputs, by bpf_seq_read's and cgroup_iter's rules: the
// first read shows cgroups until the buffer holds chunk bytes (the walk
// completes, epilogue included, only if the last cgroup is reached that
// way), later reads drain the buffer, and the read after that is EOF for a
// complete walk and EOPNOTSUPP for an incomplete one.
func expectChunks(outputs []string, epilogue string, chunk int) []string {
	var buf string
	complete := true
	for i, o := range outputs {
		buf += o
		if len(buf) >= chunk && i < len(outputs)-1 {
			complete = false
			break
		}
	}
	if complete {
		buf += epilogue
	}
	var out []string
	for len(buf) > 0 {
		n := min(chunk, len(buf))
		out = append(out, fmt.Sprintf("%d:%q", n, buf[:n]))
		buf = buf[n:]
	}
	if complete {
		return append(out, "EOF")
	}
	return append(out, "err "+unix.EOPNOTSUPP.Error())
}

// TestSmallReads: a walk that does not fit in the first read's count
// fails with EOPNOTSUPP once the buffered bytes are read, whatever the
// reader does; one whose last cgroup is reached in the first read is
// complete. (TestKernelReadSizes compares these with the running kernel.)
func TestSmallReads(t *testing.T) {
	m, p := boot(t, nil)
	ids := selftestTree(t, p)
	prog := printer(t, m, p, false, 0)
	link, err := attach(p, prog, cgroupPath(selftestWork, "parent"), orderPre)
	require.NoError(t, err)
	lines := []string{"prologue\n" + fmt.Sprintf("%8d\n", ids["parent"]), fmt.Sprintf("%8d\n", ids["parent/child1"]), fmt.Sprintf("%8d\n", ids["parent/child2"])}
	for _, chunk := range []int{1, 2, 9, 10, 17, 18, 19, 27, 28, 36, 37, 45, 128} {
		fd, err := p.IterCreate(link)
		require.NoError(t, err)
		got := readChunks(p, fd, chunk)
		assert.Equal(t, expectChunks(lines, "epilogue\n", chunk), got, "reads of %d bytes", chunk)
		// Every later read says the same.
		if got[len(got)-1] == "EOF" {
			n, err := p.Read(fd, make([]byte, 8))
			assert.Zero(t, n)
			assert.NoError(t, err)
		} else {
			_, err := p.Read(fd, make([]byte, 1<<20))
			assert.ErrorIs(t, err, unix.EOPNOTSUPP)
		}
		p.Close(fd)
	}
	// A zero-byte read shows the first cgroup and returns 0 (vfs_read does
	// not short-circuit it); what it buffered comes next.
	fd, err := p.IterCreate(link)
	require.NoError(t, err)
	n, err := p.Read(fd, nil)
	require.NoError(t, err)
	assert.Zero(t, n)
	assert.Equal(t, []string{fmt.Sprintf("%d:%q", len(lines[0]), lines[0]), "err " + unix.EOPNOTSUPP.Error()}, readChunks(p, fd, 128))
	p.Close(fd)
}

// TestManyCgroups: with the example's 9 bytes a cgroup, 3700 cgroups
// overflow the 32 KiB buffer; a reader with a large buffer (cat's 128 KiB)
// gets the cgroups that fit, then EOPNOTSUPP. 3000 fit, epilogue included.
func TestManyCgroups(t *testing.T) {
	m, p := boot(t, nil)
	prog := printer(t, m, p, false, 0)
	for _, tc := range []struct {
		n        int
		complete bool
	}{{3000, true}, {3700, false}} {
		dir := fmt.Sprintf("%s/many%d", kernel.CgroupPath, tc.n)
		mkdirs(t, p, dir)
		want := "prologue\n" + fmt.Sprintf("%8d\n", cgroupID(t, p, dir))
		for i := 0; i < tc.n; i++ {
			c := fmt.Sprintf("%s/c%d", dir, i)
			mkdirs(t, p, c)
			want += fmt.Sprintf("%8d\n", cgroupID(t, p, c))
		}
		link, err := attach(p, prog, dir, orderPre)
		require.NoError(t, err)
		require.NoError(t, p.ObjPin(link, fmt.Sprintf("%s/many%d", kernel.BPFFSPath, tc.n)))
		fd, err := p.Open(fmt.Sprintf("%s/many%d", kernel.BPFFSPath, tc.n), unix.O_RDONLY, 0)
		require.NoError(t, err)
		buf := make([]byte, 128<<10)
		n, err := p.Read(fd, buf)
		require.NoError(t, err)
		first := string(buf[:n])
		n, err = p.Read(fd, buf)
		if tc.complete {
			assert.Equal(t, want+"epilogue\n", first)
			assert.NoError(t, err)
			assert.Zero(t, n)
		} else {
			// count + len < size: the last line that fits ends at 32760.
			assert.Len(t, first, 9+3639*9)
			assert.Equal(t, want[:len(first)], first)
			assert.ErrorIs(t, err, unix.EOPNOTSUPP)
			_, err = p.Read(fd, buf)
			assert.ErrorIs(t, err, unix.EOPNOTSUPP, "and so on")
		}
		p.Close(fd)
		p.Close(link)
		// Process.ReadFile reads 4096 bytes at a time, like cat with a
		// page: far fewer than 3000 cgroups then fail.
		_, err = p.ReadFile(fmt.Sprintf("%s/many%d", kernel.BPFFSPath, tc.n))
		assert.ErrorIs(t, err, unix.EOPNOTSUPP)
	}
}

// TestTooBigForTheBuffer: one cgroup printing more than 32767 bytes fails
// the first read with E2BIG, and the next with EOPNOTSUPP (start was
// called, so *pos > 0); a cgroup printing 32512 bytes fits alone.
func TestTooBigForTheBuffer(t *testing.T) {
	m, p := boot(t, nil)
	mkdirs(t, p, kernel.CgroupPath+"/a", kernel.CgroupPath+"/a/b")
	big := loadAsm(t, p, "iter/cgroup", writerProg(t, m.Layout(), 128)) // 32768 bytes
	link, err := attach(p, big, kernel.CgroupPath+"/a", orderPre)
	require.NoError(t, err)
	fd, err := p.IterCreate(link)
	require.NoError(t, err)
	_, err = p.Read(fd, make([]byte, 1<<20))
	assert.ErrorIs(t, err, unix.E2BIG)
	_, err = p.Read(fd, make([]byte, 1<<20))
	assert.ErrorIs(t, err, unix.EOPNOTSUPP)

	fits := loadAsm(t, p, "iter/cgroup", writerProg(t, m.Layout(), 127)) // 32512 bytes
	link2, err := attach(p, fits, kernel.CgroupPath+"/a", orderPre)
	require.NoError(t, err)
	fd2, err := p.IterCreate(link2)
	require.NoError(t, err)
	got := readChunks(p, fd2, 1<<20)
	// a's output fills the buffer past the 32 KiB mark for b: a alone, the
	// walk incomplete.
	assert.Equal(t, []string{fmt.Sprintf("32512:%q", strings.Repeat("x", 32512)), "err " + unix.EOPNOTSUPP.Error()}, got)
	// Self only: the epilogue's two bytes fit after a's 32512.
	link3, err := attach(p, fits, kernel.CgroupPath+"/a", orderSelf)
	require.NoError(t, err)
	out, err := readIterCreate(t, p, link3, 1<<20)
	require.NoError(t, err)
	assert.Equal(t, strings.Repeat("x", 32512)+"E\n", out)
}

// TestDeadCgroups: a removed cgroup that something still holds is dying:
// the walkers still list it, and cgroup_iter skips it without running the
// program. It still uses up its seq_num, so a post-order walk whose first
// cgroup is dead prints no prologue (TestKernelDeadCgroups compares with
// the running kernel).
func TestDeadCgroups(t *testing.T) {
	m, p := boot(t, nil)
	ids := selftestTree(t, p)
	prog := printer(t, m, p, false, 0)
	child1 := cgroupPath(selftestWork, "parent/child1")
	hold, err := attach(p, prog, child1, orderSelf)
	require.NoError(t, err)
	require.NoError(t, p.Rmdir(child1))
	cg1 := m.Cgroups().Root()
	for _, rel := range []string{"cgroup_iter_work", "parent", "child1"} {
		for _, c := range cg1.Children() {
			if c.Name() == rel {
				cg1 = c
			}
		}
	}
	require.Equal(t, ids["parent/child1"], cg1.ID())
	require.True(t, cg1.Dead())
	require.False(t, cg1.Released(), "the link holds it")

	parent := cgroupPath(selftestWork, "parent")
	for order, want := range map[uint32]string{
		orderPre:  fmt.Sprintf("prologue\n%8d\n%8d\nepilogue\n", ids["parent"], ids["parent/child2"]),
		orderPost: fmt.Sprintf("%8d\n%8d\nepilogue\n", ids["parent/child2"], ids["parent"]),
	} {
		link, err := attach(p, prog, parent, order)
		require.NoError(t, err)
		got, err := readIterCreate(t, p, link, 128)
		require.NoError(t, err)
		assert.Equal(t, want, got, "order %d", order)
		p.Close(link)
	}
	// The link on the dead cgroup reads the epilogue only.
	got, err := readIterCreate(t, p, hold, 128)
	require.NoError(t, err)
	assert.Equal(t, "epilogue\n", got)
	// Attaching to it now fails: it is no longer online.
	_, err = p.LinkCreate(prog, kernel.LinkCreateAttr{CgroupID: ids["parent/child1"], Order: orderSelf})
	assert.ErrorIs(t, err, unix.ENOENT)
	p.Close(hold)
	assert.True(t, cg1.Released(), "the link's reference was the last")
}

// TestDeadSelfOnly is the newer selftest cgroup_iter__dead_self_only: the
// session is created, then the link destroyed, the cgroup fd closed and the
// cgroup removed; the session still holds the cgroup, and reads exactly
// "epilogue\n".
func TestDeadSelfOnly(t *testing.T) {
	m, p := boot(t, nil)
	selftestTree(t, p)
	prog := printer(t, m, p, false, 0)
	dead := selftestWork + "/dead"
	mkdirs(t, p, dead)
	cfd, err := p.Open(dead, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	require.NoError(t, err)
	link, err := p.LinkCreate(prog, kernel.LinkCreateAttr{CgroupFD: cfd, Order: orderSelf})
	require.NoError(t, err)
	iter, err := p.IterCreate(link)
	require.NoError(t, err)
	require.NoError(t, p.Close(link))
	assert.Empty(t, m.Objects(bpf.TypeLink), "the iterator fd does not hold the link")
	require.NoError(t, p.Close(cfd))
	require.NoError(t, p.Rmdir(dead))
	got, err := readAll(t, p, iter, 128)
	require.NoError(t, err)
	assert.Equal(t, "epilogue\n", got)
	require.NoError(t, p.Close(iter))
	_, err = m.Cgroups().Lookup("/cgroup_iter_work/dead")
	assert.ErrorIs(t, err, unix.ENOENT)
}

// TestRootByDefault: neither cgroup_fd nor cgroup_id starts at the
// hierarchy's root (id 1), whose parent ends an upward walk at once.
func TestRootByDefault(t *testing.T) {
	m, p := boot(t, nil)
	prog := printer(t, m, p, false, 0)
	for _, order := range []uint32{orderSelf, orderUp} {
		link, err := attach(p, prog, "", order)
		require.NoError(t, err)
		got, err := readIterCreate(t, p, link, 128)
		require.NoError(t, err)
		assert.Equal(t, fmt.Sprintf("prologue\n%8d\nepilogue\n", 1), got)
		require.NoError(t, p.Close(link), "puts the root")
	}
	// By id, too.
	mkdirs(t, p, kernel.CgroupPath+"/x")
	id := cgroupID(t, p, kernel.CgroupPath+"/x")
	link, err := p.LinkCreate(prog, kernel.LinkCreateAttr{CgroupID: id, Order: orderUp})
	require.NoError(t, err)
	got, err := readIterCreate(t, p, link, 128)
	require.NoError(t, err)
	assert.Equal(t, fmt.Sprintf("prologue\n%8d\n%8d\nepilogue\n", id, 1), got)
}

// TestMeta: session_id is new for every session and the same for all the
// calls of one; seq_num counts the cgroups shown, and the epilogue sees the
// last one's.
func TestMeta(t *testing.T) {
	m, p := boot(t, nil)
	ids := selftestTree(t, p)
	prog := loadAsm(t, p, "iter/cgroup", metaProg(t, m.Layout(), 0))
	link, err := attach(p, prog, cgroupPath(selftestWork, "parent"), orderPre)
	require.NoError(t, err)
	var sessions []string
	for i := 0; i < 2; i++ {
		got, err := readIterCreate(t, p, link, 4096)
		require.NoError(t, err)
		var sid uint64
		_, err = fmt.Sscanf(got, "%d ", &sid)
		require.NoError(t, err)
		want := fmt.Sprintf("%d 0 %d\n%d 1 %d\n%d 2 %d\n%d 2 0\n", sid, ids["parent"], sid, ids["parent/child1"], sid, ids["parent/child2"], sid)
		assert.Equal(t, want, got)
		sessions = append(sessions, got)
	}
	assert.NotEqual(t, sessions[0], sessions[1], "a new session_id per session")
	// Returning 1 stops after that cgroup; the epilogue still runs.
	stop := loadAsm(t, p, "iter/cgroup", metaProg(t, m.Layout(), 1))
	link, err = attach(p, stop, cgroupPath(selftestWork, "parent"), orderPost)
	require.NoError(t, err)
	got, err := readIterCreate(t, p, link, 4096)
	require.NoError(t, err)
	assert.Regexp(t, fmt.Sprintf(`^\d+ 0 %d\n\d+ 0 0\n$`, ids["parent/child1"]), got)
}

// TestLinkInfo: what fdinfo and `link show` report, and the program type.
func TestLinkInfo(t *testing.T) {
	m, p := boot(t, nil)
	ids := selftestTree(t, p)
	prog := printer(t, m, p, false, 0)
	pi, err := p.ObjInfo(prog)
	require.NoError(t, err)
	assert.Equal(t, "iter/cgroup", pi.ProgType)
	assert.Equal(t, "cgroup", pi.Target)
	assert.Equal(t, "cgroup_id_print", pi.Name, "BPF_OBJ_NAME_LEN")

	link, err := attach(p, prog, cgroupPath(selftestWork, "parent"), orderPost)
	require.NoError(t, err)
	li, err := p.ObjInfo(link)
	require.NoError(t, err)
	assert.Equal(t, "iter", li.LinkType)
	assert.Equal(t, pi.ID, li.ProgID)
	assert.Equal(t, [][2]string{
		{"target_name", "cgroup"},
		{"cgroup_path", "/cgroup_iter_work/parent"},
		{"order", "descendants_post"},
		{"cgroup_id", fmt.Sprint(ids["parent"])},
	}, li.Attrs)

	l, err := m.BPF().LinkByID(li.ID)
	require.NoError(t, err)
	defer l.Put()
	il, ok := l.Ops().(*cgroupiter.Link)
	require.True(t, ok)
	assert.Equal(t, cgroupiter.DescendantsPost, il.Order())
	assert.Equal(t, ids["parent"], il.Start().ID())
	for o, s := range map[cgroupiter.Order]string{cgroupiter.SelfOnly: "self_only", cgroupiter.DescendantsPre: "descendants_pre", cgroupiter.AncestorsUp: "ancestors_up", cgroupiter.OrderUnspec: "order_unspec", 9: "order(9)"} {
		assert.Equal(t, s, o.String())
	}

	// The sleepable variant is the same type.
	sl := loadAsm(t, p, "iter.s/cgroup", metaProg(t, m.Layout(), 0))
	si, err := p.ObjInfo(sl)
	require.NoError(t, err)
	assert.Equal(t, "iter/cgroup", si.ProgType)
	// Iterator fds are not objects: BPF_OBJ_PIN of one is EINVAL.
	it, err := p.IterCreate(link)
	require.NoError(t, err)
	assert.ErrorIs(t, p.ObjPin(it, kernel.BPFFSPath+"/it"), unix.EINVAL)
	// BPF_ITER_CREATE wants an iterator link.
	_, err = p.IterCreate(prog)
	assert.ErrorIs(t, err, unix.EINVAL)
}

// TestReferences: the link holds its start cgroup and program; each session
// holds its own, so an anonymous session (BPF_ITER_CREATE, whose fd does
// not hold the link) outlives the link and the rmdir. A file opened from a
// pin holds the pin's inode, and through it the link.
func TestReferences(t *testing.T) {
	m, p := boot(t, nil)
	mkdirs(t, p, kernel.CgroupPath+"/r")
	cg, err := m.Cgroups().Lookup("/r")
	require.NoError(t, err)
	prog := printer(t, m, p, false, 0)
	link, err := attach(p, prog, kernel.CgroupPath+"/r", orderSelf)
	require.NoError(t, err)
	iter, err := p.IterCreate(link)
	require.NoError(t, err)
	pin := kernel.BPFFSPath + "/r"
	require.NoError(t, p.ObjPin(link, pin))
	require.NoError(t, p.Close(link))
	fd, err := p.Open(pin, unix.O_RDONLY, 0)
	require.NoError(t, err)
	require.NoError(t, p.Unlink(pin))
	assert.Len(t, m.Objects(bpf.TypeLink), 1, "the open file holds the pin inode, which holds the link")
	require.NoError(t, p.Close(fd))
	assert.Empty(t, m.Objects(bpf.TypeLink), "the inode died with its last file")

	require.NoError(t, p.Close(prog))
	require.NoError(t, p.Rmdir(kernel.CgroupPath+"/r"))
	assert.False(t, cg.Released(), "the session holds the cgroup")
	assert.Len(t, m.Objects(bpf.TypeProg), 1, "and the program")
	// rmdir made it dead: self_only shows nothing but the epilogue.
	got, err := readAll(t, p, iter, 128)
	require.NoError(t, err)
	assert.Equal(t, "epilogue\n", got)
	require.NoError(t, p.Close(iter))
	assert.True(t, cg.Released())
	assert.Empty(t, m.Objects(bpf.TypeProg))
}

// TestRunErrors: the verifier would refuse a program that returns 2, or
// reaches a CO-RE-poisoned instruction; the simulator fails the read with
// the run's errno, and every later read with the whole error, which says
// why (the poisoned instruction names its field).
func TestRunErrors(t *testing.T) {
	m, p := boot(t, nil)
	selftestTree(t, p)
	parent := cgroupPath(selftestWork, "parent")
	bad := loadAsm(t, p, "iter/cgroup", metaProg(t, m.Layout(), 2))
	link, err := attach(p, bad, parent, orderPre)
	require.NoError(t, err)
	fd, err := p.IterCreate(link)
	require.NoError(t, err)
	_, err = p.Read(fd, make([]byte, 4096))
	assert.ErrorIs(t, err, unix.EINVAL)
	_, err = p.Read(fd, make([]byte, 4096))
	assert.ErrorIs(t, err, unix.EINVAL)
	assert.ErrorContains(t, err, "returned 2, outside [0, 1]")
	p.Close(fd)

	const why = "CO-RE byte_off relocation of cgroup.kn: the target's struct cgroup has no field kn"
	for _, always := range []bool{true, false} {
		fd, log, err := p.ProgLoad(kernel.ProgLoadAttr{Section: "iter/cgroup", Name: "trap", License: "GPL",
			Insns: trapProg(t, m.Layout(), always), Poisoned: map[int]string{poisonedSlot(always): why}})
		require.NoError(t, err, log)
		link, err := attach(p, fd, parent, orderPre)
		require.NoError(t, err)
		iter, err := p.IterCreate(link)
		require.NoError(t, err)
		got := readChunks(p, iter, 4096)
		if always {
			// The first cgroup fails: nothing to return but the errno.
			assert.Equal(t, []string{"err " + unix.EINVAL.Error()}, got)
		} else {
			// The second fails: its output is dropped, the first's returned.
			assert.Equal(t, []string{`3:"ok\n"`}, got[:1])
		}
		_, err = p.Read(iter, make([]byte, 4096))
		assert.ErrorIs(t, err, unix.EINVAL)
		assert.ErrorContains(t, err, why)
		p.Close(iter)
		p.Close(link)
		p.Close(fd)
	}
}

// TestConcurrentSessions reads many sessions at once while cgroups come
// and go under the walk (run with -race).
func TestConcurrentSessions(t *testing.T) {
	m, p := boot(t, nil)
	ids := selftestTree(t, p)
	prog := printer(t, m, p, false, 0)
	link, err := attach(p, prog, selftestWork, orderPre)
	require.NoError(t, err)
	require.NoError(t, p.ObjPin(link, kernel.BPFFSPath+"/walk"))
	var wg, churn sync.WaitGroup
	stop := make(chan struct{})
	churns := 0
	churn.Add(1)
	go func() {
		defer churn.Done()
		q := m.NewProcess(kernel.ProcessOptions{})
		defer q.Exit()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			d := fmt.Sprintf("%s/parent/child1/t%d", selftestWork, i%4)
			if q.Mkdir(d, 0755) != nil {
				q.Rmdir(d)
			}
			churns++
		}
	}()
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			q := m.NewProcess(kernel.ProcessOptions{})
			defer q.Exit()
			for i := 0; i < 50; i++ {
				var out []byte
				var err error
				if i%2 == 0 {
					out, err = q.ReadFile(kernel.BPFFSPath + "/walk")
				} else {
					out, err = iterCreateOnce(q, kernel.BPFFSPath+"/walk")
				}
				if !assert.NoError(t, err) {
					return
				}
				s := string(out)
				assert.True(t, strings.HasPrefix(s, fmt.Sprintf("prologue\n%8d\n%8d\n%8d\n", ids["."], ids["parent"], ids["parent/child1"])), s)
				assert.True(t, strings.HasSuffix(s, fmt.Sprintf("%8d\nepilogue\n", ids["parent/child2"])), s)
			}
		}()
	}
	wg.Wait()
	close(stop)
	churn.Wait()
	t.Logf("%d mkdir/rmdir during the reads", churns)
}

// iterCreateOnce gets the link pinned at pin and reads the first 4096
// bytes of an anonymous session of it.
func iterCreateOnce(q *kernel.Process, pin string) ([]byte, error) {
	lfd, err := q.ObjGet(pin, 0)
	if err != nil {
		return nil, err
	}
	defer q.Close(lfd)
	fd, err := q.IterCreate(lfd)
	if err != nil {
		return nil, err
	}
	defer q.Close(fd)
	buf := make([]byte, 4096)
	n, err := q.Read(fd, buf)
	return buf[:n], err
}
