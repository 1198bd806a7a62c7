package kernfs

import (
	"bytes"
	"io"
	"sync"
	"sync/atomic"

	"github.com/simfs/simfs/seqfile"
	"github.com/simfs/simfs/vfs"
	"golang.org/x/sys/unix"
)

// PageSize is PAGE_SIZE: the write size limit and the direct-read chunk.
const PageSize = seqfile.PageSize

// maxNonLFS is MAX_NON_LFS, the s_maxbytes kernfs superblocks keep: lseek
// past it is EINVAL.
const maxNonLFS = 1<<31 - 1

// Ops are a kernfs file's operations (struct kernfs_ops). Every field may
// be nil. Handlers run with the open file's mutex and an active reference
// on the node held, never with the VFS lock; they may start VFS
// transactions.
type Ops struct {
	// Open runs last in open(2) (nobody else can see the OpenFile yet).
	Open func(of *OpenFile) error
	// Release runs exactly once per open file: at close, or when the node
	// is removed while the file is still open, whichever comes first. It
	// runs with the root's open-file mutex held and must not start VFS
	// transactions or wait for kernfs operations.
	Release func(of *OpenFile)
	// SeqShow produces the file's contents (one record, single_open
	// style). A buffer overflow is not an error: the read grows the buffer
	// and calls SeqShow again, so it must write the same data each time.
	// Returning seqfile.ErrSkip gives an empty read.
	SeqShow func(of *OpenFile, m *seqfile.Buffer) error
	// Read serves reads of files without SeqShow, at most PageSize bytes a
	// call (kernfs_file_read_iter).
	Read func(of *OpenFile, p []byte, off int64) (int, error)
	// Write handles one write(2). buf holds the whole write (kernfs copies
	// it and NUL-terminates it: handlers that parse text use [CString]).
	// It returns how many bytes it consumed. Without Write, writes fail
	// with EINVAL.
	Write func(of *OpenFile, buf []byte, off int64) (int, error)
	// AtomicWriteLen, if positive, makes a longer write fail with E2BIG
	// (cgroup files use PageSize); otherwise a write is cut to PageSize.
	AtomicWriteLen int
}

// CString returns buf up to its first NUL byte: the string a C write
// handler sees in kernfs's NUL-terminated copy.
func CString(buf []byte) string {
	if i := bytes.IndexByte(buf, 0); i >= 0 {
		buf = buf[:i]
	}
	return string(buf)
}

// openNode is kernfs_open_node: the open files of a node and its poll
// event counter.
type openNode struct {
	event atomic.Uint64
	files []*OpenFile // under Root.openMu
}

// OpenFile is one open file description of a kernfs file (struct
// kernfs_open_file).
type OpenFile struct {
	node *Node
	file *vfs.File
	// mu is of->mutex: it serializes this file's operations.
	mu  sync.Mutex
	seq *seqfile.File

	// Priv belongs to the file's Ops (of->priv).
	Priv any

	released  bool   // under Root.openMu
	event     uint64 // under mu: the event count the last read saw
	seqActive bool   // under mu: a seq read holds an active reference
	inOp      bool   // under mu: a handler is running with an active reference
}

// Node returns the node the file is open on.
func (of *OpenFile) Node() *Node { return of.node }

// File returns the VFS open file.
func (of *OpenFile) File() *vfs.File { return of.file }

// Caller returns the credentials the file was opened with (f_cred).
func (of *OpenFile) Caller() *vfs.Caller { return of.file.Caller() }

var (
	_ vfs.FileOps   = (*Node)(nil)
	_ vfs.Seeker    = (*Node)(nil)
	_ vfs.Truncater = (*Node)(nil)
)

// Open implements vfs.FileOps (kernfs_fop_open).
func (n *Node) Open(f *vfs.File) error {
	r := n.root
	if !n.getActive() {
		return unix.ENODEV
	}
	defer n.putActive()
	ops := n.ops
	if r.flags&ExtraOpenPermCheck != 0 {
		mode := f.Stat().Mode
		acc := f.Flags() & unix.O_ACCMODE
		hasRead := ops.SeqShow != nil || ops.Read != nil
		hasWrite := ops.Write != nil
		if acc != unix.O_RDONLY && (mode&0222 == 0 || !hasWrite) {
			return unix.EACCES
		}
		if acc != unix.O_WRONLY && (mode&0444 == 0 || !hasRead) {
			return unix.EACCES
		}
	}
	of := &OpenFile{node: n, file: f}
	if ops.SeqShow != nil {
		of.seq = seqfile.NewPooled(seqOps{of}, &r.seqBufs)
	}
	f.Private = of
	r.openMu.Lock()
	on := n.open.Load()
	if on == nil {
		on = &openNode{}
		n.open.Store(on)
	}
	on.files = append(on.files, of)
	of.event = on.event.Load()
	r.openMu.Unlock()
	if ops.Open != nil {
		if err := ops.Open(of); err != nil {
			r.unlinkOpen(of)
			return err
		}
	}
	return nil
}

func (r *Root) unlinkOpen(of *OpenFile) {
	r.openMu.Lock()
	defer r.openMu.Unlock()
	on := of.node.open.Load()
	for i, x := range on.files {
		if x == of {
			on.files = append(on.files[:i], on.files[i+1:]...)
			break
		}
	}
}

// releaseFile is kernfs_release_file. Caller holds r.openMu.
func (r *Root) releaseFile(of *OpenFile) {
	if of.released {
		return
	}
	of.released = true
	if rel := of.node.ops.Release; rel != nil {
		rel(of)
	}
}

// drainOpenFiles is kernfs_drain_open_files: files still open on a removed
// node get their Release now.
func (r *Root) drainOpenFiles(n *Node) {
	on := n.open.Load()
	if on == nil || n.ops == nil || n.ops.Release == nil {
		return
	}
	r.openMu.Lock()
	defer r.openMu.Unlock()
	for _, of := range on.files {
		r.releaseFile(of)
	}
}

// Release implements vfs.FileOps (kernfs_fop_release).
func (n *Node) Release(f *vfs.File) {
	of, ok := f.Private.(*OpenFile)
	if !ok {
		return
	}
	r := n.root
	r.openMu.Lock()
	r.releaseFile(of)
	r.openMu.Unlock()
	r.unlinkOpen(of)
	if of.seq != nil {
		of.seq.Release() // seq_release
	}
}

// Read implements vfs.FileOps (kernfs_fop_read_iter): seq files read
// through seqfile, others through Ops.Read.
func (n *Node) Read(f *vfs.File, p []byte, off int64) (int, error) {
	of := f.Private.(*OpenFile)
	if of.seq != nil {
		return of.seq.Read(p, off)
	}
	l := min(len(p), PageSize)
	of.mu.Lock()
	defer of.mu.Unlock()
	if !n.getActive() {
		return 0, unix.ENODEV
	}
	defer n.putActive()
	if on := n.open.Load(); on != nil {
		of.event = on.event.Load()
	}
	if n.ops.Read == nil {
		return 0, unix.EINVAL
	}
	buf := make([]byte, l)
	of.inOp = true
	k, err := n.ops.Read(of, buf, off)
	of.inOp = false
	if err != nil {
		return 0, err
	}
	return copy(p, buf[:k]), nil
}

// Write implements vfs.FileOps (kernfs_fop_write_iter).
func (n *Node) Write(f *vfs.File, p []byte, off int64) (int, error) {
	of := f.Private.(*OpenFile)
	l := len(p)
	if awl := n.ops.AtomicWriteLen; awl > 0 {
		if l > awl {
			return 0, unix.E2BIG
		}
	} else {
		l = min(l, PageSize)
	}
	buf := make([]byte, l+1) // NUL-terminated copy
	copy(buf, p[:l])
	buf = buf[:l]
	of.mu.Lock()
	defer of.mu.Unlock()
	if !n.getActive() {
		return 0, unix.ENODEV
	}
	defer n.putActive()
	if n.ops.Write == nil {
		return 0, unix.EINVAL
	}
	of.inOp = true
	k, err := n.ops.Write(of, buf, off)
	of.inOp = false
	if err != nil {
		return 0, err
	}
	return k, nil
}

// Seek implements vfs.Seeker (kernfs_fop_llseek): generic_file_llseek with
// the node's size as end of file, under an active reference.
func (n *Node) Seek(f *vfs.File, pos, off int64, whence int) (int64, error) {
	if whence < io.SeekStart || whence > unix.SEEK_HOLE {
		return pos, unix.EINVAL
	}
	of := f.Private.(*OpenFile)
	of.mu.Lock()
	defer of.mu.Unlock()
	if !n.getActive() {
		return pos, unix.ENODEV
	}
	defer n.putActive()
	eof := n.size
	switch whence {
	case io.SeekEnd:
		off += eof
	case io.SeekCurrent:
		if off == 0 {
			return pos, nil
		}
		off += pos
	case unix.SEEK_DATA:
		if uint64(off) >= uint64(eof) {
			return pos, unix.ENXIO
		}
	case unix.SEEK_HOLE:
		if uint64(off) >= uint64(eof) {
			return pos, unix.ENXIO
		}
		off = eof
	}
	if off < 0 || off > maxNonLFS {
		return pos, unix.EINVAL
	}
	return off, nil
}

// Truncate implements vfs.Truncater: kernfs_iop_setattr ignores size
// changes, so truncate(2) and O_TRUNC succeed and st_size stays.
func (n *Node) Truncate(in *vfs.Inode, size int64) (int64, error) { return n.size, nil }

// Poll answers poll(2) on the file (kernfs_fop_poll without ops->poll):
// readable and writable, plus POLLERR|POLLPRI when the node was removed or
// notified since the file was last read.
func (of *OpenFile) Poll() uint32 {
	const def = unix.POLLIN | unix.POLLOUT | 0x40 | 0x100 // DEFAULT_POLLMASK: POLLIN|POLLOUT|POLLRDNORM|POLLWRNORM
	n := of.node
	if !n.getActive() {
		return def | unix.POLLERR | unix.POLLPRI
	}
	defer n.putActive()
	of.mu.Lock()
	seen := of.event
	of.mu.Unlock()
	if on := n.open.Load(); on != nil && on.event.Load() != seen {
		return def | unix.POLLERR | unix.POLLPRI
	}
	return def
}

// RemoveSelf removes the file's node from inside one of its own handlers
// (kernfs_remove_self): it gives up the handler's active reference so that
// the drain does not wait for itself, removes the node, and takes the
// reference back. Of several callers racing on one node only the first
// removes it and gets true; the others wait until that removal is complete
// and the winning handler has returned, and get false. It panics when not
// called from a handler of of.
func (of *OpenFile) RemoveSelf() bool {
	if !of.inOp {
		panic("kernfs: RemoveSelf outside a file operation")
	}
	n := of.node
	r := n.root
	n.putActive() // kernfs_break_active_protection
	r.waitMu.Lock()
	won := false
	if n.suicide&suicidal == 0 {
		n.suicide |= suicidal
		r.waitMu.Unlock()
		r.Remove(nil, n)
		r.waitMu.Lock()
		n.suicide |= suicided
		won = true
	} else {
		for n.suicide&suicided == 0 || n.active.Load() != deactivatedBias {
			r.waitq.Wait()
		}
	}
	n.active.Add(1) // kernfs_unbreak_active_protection
	r.waitMu.Unlock()
	return won
}

// seqOps are kernfs_seq_ops for single-record files: start takes the
// file's mutex and an active reference, stop gives them back.
type seqOps struct{ of *OpenFile }

func (s seqOps) Start(index *int64) (any, error) {
	of := s.of
	of.mu.Lock()
	if !of.node.getActive() {
		return nil, unix.ENODEV
	}
	of.seqActive = true
	if *index != 0 {
		return nil, nil
	}
	return of, nil
}

func (s seqOps) Next(v any, index *int64) (any, error) {
	*index++
	return nil, nil
}

func (s seqOps) Stop(v any) {
	of := s.of
	if of.seqActive {
		of.seqActive = false
		of.node.putActive()
	}
	of.mu.Unlock()
}

func (s seqOps) Show(m *seqfile.Buffer, v any) error {
	of := s.of
	if on := of.node.open.Load(); on != nil {
		of.event = on.event.Load()
	}
	of.inOp = true
	defer func() { of.inOp = false }()
	return of.node.ops.SeqShow(of, m)
}
