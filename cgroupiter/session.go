package cgroupiter

import (
	"errors"
	"fmt"

	"github.com/simfs/simfs/bpf"
	"github.com/simfs/simfs/cgroup"
	"github.com/simfs/simfs/kobj"
	"golang.org/x/sys/unix"
)

// session is one open cgroup iterator: struct cgroup_iter_priv and the
// seq_operations of kernel/bpf/cgroup_iter.c, as a bpf.IterTarget. The
// bpf.IterSession calls its methods under its own lock, one at a time.
type session struct {
	it    *Iter
	prog  *bpf.Prog
	start *cgroup.Cgroup
	order Order

	// seq and meta are the struct seq_file and struct bpf_iter_meta the
	// program reads through ctx->meta.
	seq, meta *kobj.Region
	ctx       [CtxSize]byte

	// started stands for *pos > 0 in cgroup_iter_seq_start: the first
	// read began the walk, and no later read may begin it again.
	started    bool
	visitedAll bool
	terminate  bool
	// walk is the order of the first read's walk and pos the position of
	// the cgroup being shown.
	walk []*cgroup.Cgroup
	pos  int
	// startFailed says that the last Start returned an error: the Stop that
	// follows stands for seq_stop(ERR_PTR), which runs no epilogue.
	startFailed bool
	// runErr is the first failed run of the program (see the package
	// documentation).
	runErr error
	closed bool
}

// errNotOneSession is cgroup_iter_seq_start's answer to a read after an
// incomplete first read.
var errNotOneSession = fmt.Errorf("cgroup iterator: the walk did not complete in the first read, and cgroup_iter does not resume one: %w", unix.EOPNOTSUPP)

// Start is cgroup_iter_seq_start.
func (st *session) Start(s *bpf.IterSession, index int64) (any, error) {
	if st.started {
		switch {
		case st.runErr != nil:
			st.startFailed = true
			return nil, st.runErr
		case st.visitedAll:
			return nil, nil
		}
		st.startFailed = true
		return nil, errNotOneSession
	}
	st.started = true
	st.terminate = false
	st.visitedAll = false
	st.walk = st.walkOrder()
	st.pos = 0
	if len(st.walk) == 0 {
		return nil, nil
	}
	return st.walk[0], nil
}

// walkOrder lists the cgroups of the walk, dead ones included (the css
// walkers return dying cgroups until they are released).
func (st *session) walkOrder() []*cgroup.Cgroup {
	var out []*cgroup.Cgroup
	switch st.order {
	case SelfOnly:
		out = append(out, st.start)
	case AncestorsUp:
		for c := st.start; c != nil; c = c.Parent() {
			out = append(out, c)
		}
	case DescendantsPre:
		var pre func(c *cgroup.Cgroup)
		pre = func(c *cgroup.Cgroup) {
			out = append(out, c)
			for _, ch := range c.Children() {
				pre(ch)
			}
		}
		pre(st.start)
	case DescendantsPost:
		var post func(c *cgroup.Cgroup)
		post = func(c *cgroup.Cgroup) {
			for _, ch := range c.Children() {
				post(ch)
			}
			out = append(out, c)
		}
		post(st.start)
	}
	return out
}

// Next is cgroup_iter_seq_next.
func (st *session) Next(s *bpf.IterSession, obj any, index *int64) (any, error) {
	*index++
	if st.terminate {
		return nil, nil
	}
	st.pos++
	if st.pos >= len(st.walk) {
		return nil, nil
	}
	return st.walk[st.pos], nil
}

// Show is cgroup_iter_seq_show: a dead cgroup is skipped without running
// the program (and without giving its seq_num back); a return of 1 ends
// the walk after this cgroup.
func (st *session) Show(s *bpf.IterSession, obj any) (int, error) {
	cg := obj.(*cgroup.Cgroup)
	// The kernel runs the program under cgroup_mutex, so the cgroup
	// cannot be removed and freed meanwhile; here a reference keeps its
	// memory mapped while the program runs (it may die meanwhile).
	if !tryGetLive(cg) {
		return 0, nil
	}
	defer cg.Put()
	addr, err := st.it.objs.Cgroup(cg)
	if err != nil {
		err = fmt.Errorf("cgroup iterator: struct cgroup of %s: %w", cg.Path(), err)
		return -int(st.fail(err)), err
	}
	ret, err := st.run(s, addr)
	if err != nil {
		return -int(st.fail(err)), err
	}
	if ret != 0 {
		st.terminate = true
	}
	return 0, nil
}

// Stop is cgroup_iter_seq_stop: after the last cgroup (obj == nil) the
// program runs once more with a NULL cgroup, unless the epilogue already
// ran in this session (bpf_iter_get_info with in_stop).
func (st *session) Stop(s *bpf.IterSession, obj any) {
	if st.startFailed {
		st.startFailed = false
		return
	}
	if obj != nil {
		return
	}
	if !s.DoneStop() {
		if _, err := st.run(s, 0); err != nil {
			// visited_all stays false: the next read reports the error.
			st.fail(err)
			return
		}
	}
	st.visitedAll = true
}

// Close is cgroup_iter_seq_fini and iter_release: the session's references
// go.
func (st *session) Close(s *bpf.IterSession) {
	if st.closed {
		return
	}
	st.closed = true
	if st.meta != nil {
		st.meta.Free()
	}
	if st.seq != nil {
		st.seq.Free()
	}
	st.walk = nil
	st.start.Put()
	st.prog.Put()
}

// run runs the program with ctx {meta, cgroup} (cgroup 0: the epilogue).
func (st *session) run(s *bpf.IterSession, cgAddr uint64) (uint64, error) {
	var err error
	st.it.sys.WithCPU(func() { err = st.meta.Put("seq_num", s.SeqNum()) })
	if err != nil {
		return 0, err
	}
	putU64(st.ctx[0:], st.meta.Addr)
	putU64(st.ctx[8:], cgAddr)
	return st.prog.Run(&bpf.RunContext{Ctx: st.ctx[:], Seq: &s.Buf, SeqAddr: st.seq.Addr, Task: s.Task})
}

// fail records a failed run and returns its errno.
func (st *session) fail(err error) unix.Errno {
	if st.runErr == nil {
		st.runErr = err
	}
	var errno unix.Errno
	if errors.As(err, &errno) {
		return errno
	}
	return unix.EINVAL
}

func putU64(b []byte, v uint64) {
	for i := 0; i < 8; i++ {
		b[i] = byte(v >> (8 * i))
	}
}

var _ bpf.IterTarget = (*session)(nil)
