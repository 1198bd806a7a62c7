package fusefs

// FUSE over io_uring: the request transport of fs/fuse/dev_uring.c.
//
// With /dev/fuse a request travels to a server thread blocked in read(2) on
// whichever CPU it last ran, and the reply wakes the caller from there: on a
// machine whose idle CPUs halt, most of a round trip is those two cross-CPU
// wake-ups. With io_uring the kernel keeps one queue per possible CPU and
// puts a request on the queue of the CPU its caller runs on; serving each
// queue from a thread pinned to that CPU makes the wake-ups local.
//
// The protocol (uapi fuse.h, "fuse_uring_*"): each queue thread owns an
// io_uring (128-byte SQEs for the command area) and registers a few ring
// entries with FUSE_IO_URING_CMD_REGISTER, each a 288-byte header buffer
// (in_out: the fuse_in_header or fuse_out_header; op_in: the request's first
// argument; ring_ent_in_out: commit id and payload size) and a payload buffer
// at least as large as the connection's largest request. A completion of an
// entry's command means a request is in its buffers; the answer goes back
// with FUSE_IO_URING_CMD_COMMIT_AND_FETCH, which also makes the entry wait
// for the next request. The kernel switches the connection to the rings
// once every queue has an entry (until then it holds new requests back);
// FORGET and INTERRUPT keep travelling through /dev/fuse, which go-fuse's
// own loop goes on reading. Requests are decoded and answered by go-fuse's
// ProtocolServer, the same code that serves /dev/fuse, on the same
// RawFileSystem.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"
)

const (
	ioringSetupSQE128       = 1 << 10
	ioringSetupSingleIssuer = 1 << 12
	ioringSetupDeferTaskrun = 1 << 13
	ioringEnterGetEvents    = 1
	ioringFeatSingleMmap    = 1
	ioringOpURingCmd        = 46
	ioringOffSQRing         = 0
	ioringOffCQRing         = 0x8000000
	ioringOffSQEs           = 0x10000000
	ioringSQESize           = 128 // with IORING_SETUP_SQE128
	ioringCQESize           = 16

	fuseURingCmdRegister       = 1
	fuseURingCmdCommitAndFetch = 2

	fuseInHeaderSize  = 40
	fuseOutHeaderSize = 16
	uringOpInOffset   = 128       // fuse_uring_req_header.op_in
	uringOpInSize     = 128       // FUSE_URING_OP_IN_OUT_SZ
	uringEntOffset    = 256       // fuse_uring_req_header.ring_ent_in_out
	uringHeaderSize   = 256 + 32  // sizeof(struct fuse_uring_req_header)
	opWrite           = 16        // FUSE_WRITE: its payload is data, read in place
	uringEntries      = 4         // ring entries per queue
	uringMaxWrite     = 128 << 10 // the mount's max_write (and max_read) when serving over io_uring
	enableURingParam  = "/sys/module/fuse/parameters/enable_uring"
	possibleCPUsPath  = "/sys/devices/system/cpu/possible"
	uringPayloadBytes = uringMaxWrite // max(FUSE_MIN_READ_BUFFER, max_write, max_pages*PAGE_SIZE)
	schedBatch        = 3             // SCHED_BATCH
)

// ioURingParams is struct io_uring_params.
type ioURingParams struct {
	sqEntries, cqEntries, flags, sqThreadCPU, sqThreadIdle, features, wqFD uint32
	resv                                                                   [3]uint32
	sqOff                                                                  ioSQRingOffsets
	cqOff                                                                  ioCQRingOffsets
}

// ioSQRingOffsets is struct io_sqring_offsets.
type ioSQRingOffsets struct {
	head, tail, ringMask, ringEntries, flags, dropped, array, resv1 uint32
	userAddr                                                        uint64
}

// ioCQRingOffsets is struct io_cqring_offsets.
type ioCQRingOffsets struct {
	head, tail, ringMask, ringEntries, overflow, cqes, flags, resv1 uint32
	userAddr                                                        uint64
}

// ring is one io_uring, used by the single thread that created it.
type ring struct {
	fd       int
	ringMem  []byte
	sqeMem   []byte
	sqTail   *uint32
	sqMask   uint32
	sqArray  []uint32
	cqHead   *uint32
	cqTail   *uint32
	cqMask   uint32
	cqes     unsafe.Pointer
	tail     uint32 // next SQE to fill
	unsubmit uint32 // SQEs published but not yet passed to io_uring_enter
}

func newRing(entries uint32) (*ring, error) {
	var p ioURingParams
	p.flags = ioringSetupSQE128 | ioringSetupSingleIssuer | ioringSetupDeferTaskrun
	fd, _, errno := unix.Syscall(unix.SYS_IO_URING_SETUP, uintptr(entries), uintptr(unsafe.Pointer(&p)), 0)
	if errno != 0 {
		return nil, fmt.Errorf("io_uring_setup: %w", errno)
	}
	r := &ring{fd: int(fd)}
	if p.features&ioringFeatSingleMmap == 0 {
		r.close()
		return nil, fmt.Errorf("io_uring_setup: kernel lacks IORING_FEAT_SINGLE_MMAP: %w", unix.EOPNOTSUPP)
	}
	size := max(p.sqOff.array+p.sqEntries*4, p.cqOff.cqes+p.cqEntries*ioringCQESize)
	var err error
	if r.ringMem, err = unix.Mmap(r.fd, ioringOffSQRing, int(size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE); err != nil {
		r.close()
		return nil, fmt.Errorf("mmap io_uring rings: %w", err)
	}
	if r.sqeMem, err = unix.Mmap(r.fd, ioringOffSQEs, int(p.sqEntries*ioringSQESize), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE); err != nil {
		r.close()
		return nil, fmt.Errorf("mmap io_uring SQEs: %w", err)
	}
	at := func(off uint32) *uint32 { return (*uint32)(unsafe.Pointer(&r.ringMem[off])) }
	r.sqTail = at(p.sqOff.tail)
	r.sqMask = *at(p.sqOff.ringMask)
	r.sqArray = unsafe.Slice(at(p.sqOff.array), p.sqEntries)
	r.cqHead = at(p.cqOff.head)
	r.cqTail = at(p.cqOff.tail)
	r.cqMask = *at(p.cqOff.ringMask)
	r.cqes = unsafe.Pointer(&r.ringMem[p.cqOff.cqes])
	r.tail = atomic.LoadUint32(r.sqTail)
	return r, nil
}

func (r *ring) close() {
	if r.sqeMem != nil {
		_ = unix.Munmap(r.sqeMem)
	}
	if r.ringMem != nil {
		_ = unix.Munmap(r.ringMem)
	}
	_ = unix.Close(r.fd)
}

// uringCmd queues a FUSE uring command on fuseFD: REGISTER (with the
// entry's iovecs) or COMMIT_AND_FETCH (with the request's commit id).
func (r *ring) uringCmd(fuseFD int, op uint32, qid uint16, user uint64, iov *[2]unix.Iovec, commitID uint64) {
	idx := r.tail & r.sqMask
	sqe := r.sqeMem[idx*ioringSQESize : (idx+1)*ioringSQESize]
	clear(sqe)
	le := binary.LittleEndian
	sqe[0] = ioringOpURingCmd
	le.PutUint32(sqe[4:], uint32(fuseFD))
	le.PutUint32(sqe[8:], op) // cmd_op
	if iov != nil {
		le.PutUint64(sqe[16:], uint64(uintptr(unsafe.Pointer(iov)))) // addr
		le.PutUint32(sqe[24:], 2)                                    // len: header and payload
	}
	le.PutUint64(sqe[32:], user)
	// struct fuse_uring_cmd_req in the command area: flags, commit_id, qid.
	le.PutUint64(sqe[56:], commitID)
	le.PutUint16(sqe[64:], qid)
	r.sqArray[idx] = idx
	r.tail++
	atomic.StoreUint32(r.sqTail, r.tail)
	r.unsubmit++
}

// enter submits the queued commands and, if wait, blocks until at least
// one completion is there.
func (r *ring) enter(wait bool) error {
	var minComplete, flags uintptr
	if wait {
		minComplete, flags = 1, ioringEnterGetEvents
	}
	for {
		n, _, errno := unix.Syscall6(unix.SYS_IO_URING_ENTER, uintptr(r.fd), uintptr(r.unsubmit), minComplete, flags, 0, 0)
		if errno == 0 {
			r.unsubmit -= uint32(n)
			return nil
		}
		switch errno {
		case unix.EINTR:
		case unix.EAGAIN, unix.EBUSY: // out of resources for a moment
			time.Sleep(time.Millisecond)
		default:
			return fmt.Errorf("io_uring_enter: %w", errno)
		}
	}
}

// completions calls f for every completion there is and consumes them.
func (r *ring) completions(f func(user uint64, res int32)) {
	head := atomic.LoadUint32(r.cqHead)
	tail := atomic.LoadUint32(r.cqTail)
	for ; head != tail; head++ {
		cqe := unsafe.Add(r.cqes, uintptr(head&r.cqMask)*ioringCQESize)
		f(*(*uint64)(cqe), *(*int32)(unsafe.Add(cqe, 8)))
	}
	atomic.StoreUint32(r.cqHead, head)
}

// ringEntry is one registered pair of buffers. The buffers are mapped
// outside the Go heap: the kernel writes them whenever a request arrives.
type ringEntry struct {
	hdr     []byte
	payload []byte
	iov     [2]unix.Iovec
	outHdr  [fuseOutHeaderSize]byte
}

// uringTransport serves one FUSE connection's requests from its rings.
type uringTransport struct {
	fuseFD int // a dup of the connection's /dev/fuse fd, closed when every queue has ended
	ps     *fuse.ProtocolServer
	log    *log.Logger
	wg     sync.WaitGroup
	served atomic.Int64 // requests answered over the rings
	// failQueue, if set, makes a queue fail before it registers (tests).
	failQueue func(qid int) error
}

// possibleCPUs counts the CPUs the kernel may ever run (its number of
// queues, num_possible_cpus()).
func possibleCPUs() (int, error) {
	b, err := os.ReadFile(possibleCPUsPath)
	if err != nil {
		return 0, err
	}
	n, err := countCPUList(strings.TrimSpace(string(b)))
	if err != nil {
		return 0, fmt.Errorf("%s: %w", possibleCPUsPath, err)
	}
	return n, nil
}

// countCPUList counts the CPUs of a kernel CPU list ("0-3,8,10-11").
func countCPUList(list string) (int, error) {
	n := 0
	for _, part := range strings.Split(list, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		z := a
		if err == nil && isRange {
			z, err = strconv.Atoi(hi)
		}
		if err != nil || a < 0 || z < a {
			return 0, fmt.Errorf("CPU list %q: %w", list, unix.EINVAL)
		}
		n += z - a + 1
	}
	return n, nil
}

// startURing starts one thread per possible CPU, each registering its
// entries on the connection of fuseFD (which must have finished INIT with
// CAP_OVER_IO_URING). It returns once every queue has registered or failed;
// an error means the connection stays on /dev/fuse (a failed registration
// turns io_uring off for it), but the queues that did register go on
// serving until the connection ends, since the kernel may still use them.
// Wait returns once every queue thread has ended, after the connection did.
func startURing(fuseFD int, ps *fuse.ProtocolServer, logger *log.Logger, failQueue func(qid int) error) (*uringTransport, error) {
	ncpu, err := possibleCPUs()
	if err != nil {
		return nil, err
	}
	dup, err := unix.FcntlInt(uintptr(fuseFD), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("dup /dev/fuse: %w", err)
	}
	t := &uringTransport{fuseFD: dup, ps: ps, log: logger, failQueue: failQueue}
	results := make(chan error, ncpu)
	for q := 0; q < ncpu; q++ {
		t.wg.Add(1)
		go t.serveQueue(uint16(q), results)
	}
	var errs []error
	for q := 0; q < ncpu; q++ {
		if err := <-results; err != nil {
			errs = append(errs, fmt.Errorf("queue %d: %w", q, err))
		}
	}
	go func() {
		t.wg.Wait()
		_ = unix.Close(dup)
	}()
	return t, errors.Join(errs...)
}

// Wait blocks until every queue thread has ended.
func (t *uringTransport) Wait() { t.wg.Wait() }

// serveQueue is one queue's thread: pinned to CPU qid, it registers the
// queue's entries, reports the outcome on started, then answers requests
// until the connection ends (every entry completes with an error).
func (t *uringTransport) serveQueue(qid uint16, started chan<- error) {
	defer t.wg.Done()
	// The thread stays locked until the goroutine ends, so it exits with
	// it and its CPU affinity never reaches another goroutine.
	runtime.LockOSThread()
	var set unix.CPUSet
	set.Set(int(qid))
	_ = unix.SchedSetaffinity(0, &set) // an offline CPU: serve unpinned
	// SCHED_BATCH: a thread woken for a request does not preempt the
	// process running on its CPU. For a synchronous request that process
	// is the caller, about to sleep until the answer; for a background one
	// (the RELEASE of a close) the caller goes on, and the thread answers
	// it together with the caller's next request instead of switching
	// twice in between.
	_ = unix.SchedSetAttr(0, &unix.SchedAttr{Policy: schedBatch}, 0)

	r, err := newRing(2 * uringEntries)
	if err == nil && t.failQueue != nil {
		if err = t.failQueue(int(qid)); err != nil {
			r.close()
		}
	}
	if err != nil {
		started <- err
		return
	}
	defer r.close()
	per := uringHeaderPage + uringPayloadBytes
	mem, err := unix.Mmap(-1, 0, per*uringEntries+uringPayloadBytes, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		started <- fmt.Errorf("mmap ring buffers: %w", err)
		return
	}
	// The buffers are unmapped only once every entry has ended: the
	// kernel writes requests into those it holds, and a later mapping
	// could reuse the addresses. After a failure they stay mapped.
	scratch := mem[per*uringEntries:] // a request's payload, copied before the answer overwrites it
	ents := make([]ringEntry, uringEntries)
	for i := range ents {
		e := &ents[i]
		base := mem[i*per:]
		e.hdr = base[:uringHeaderSize:uringHeaderSize]
		e.payload = base[uringHeaderPage : uringHeaderPage+uringPayloadBytes : uringHeaderPage+uringPayloadBytes]
		e.iov[0].Base, e.iov[1].Base = &e.hdr[0], &e.payload[0]
		e.iov[0].SetLen(len(e.hdr))
		e.iov[1].SetLen(len(e.payload))
		r.uringCmd(t.fuseFD, fuseURingCmdRegister, qid, uint64(i), &e.iov, 0)
	}
	if err := r.enter(false); err != nil {
		started <- err
		return
	}
	// A registration the kernel refuses completes at once with the error;
	// one it accepts completes only when a request arrives.
	alive := len(ents)
	var regErr error
	var ready []uint64
	r.completions(func(user uint64, res int32) {
		if res < 0 {
			alive--
			if regErr == nil {
				regErr = fmt.Errorf("%w: FUSE_IO_URING_CMD_REGISTER: %w", errURingRefused, unix.Errno(-res))
			}
			return
		}
		ready = append(ready, user)
	})
	started <- regErr
	for _, user := range ready {
		t.answer(r, qid, &ents[user], user, scratch)
	}
	for alive > 0 {
		if err := r.enter(true); err != nil {
			t.log.Printf("fusefs: io_uring queue %d: %v", qid, err)
			return
		}
		r.completions(func(user uint64, res int32) {
			if res < 0 { // the connection ended (ENOTCONN) or the ring is going away
				alive--
				return
			}
			t.answer(r, qid, &ents[user], user, scratch)
		})
	}
	_ = unix.Munmap(mem)
}

// uringHeaderPage is where an entry's payload starts in its mapping.
const uringHeaderPage = 4096

// answer serves the request in e and queues its commit.
func (t *uringTransport) answer(r *ring, qid uint16, e *ringEntry, user uint64, scratch []byte) {
	le := binary.LittleEndian
	h := e.hdr
	length := le.Uint32(h[0:])
	opcode := le.Uint32(h[4:])
	unique := le.Uint64(h[8:])
	commitID := le.Uint64(h[uringEntOffset+8:])
	psz := int(le.Uint32(h[uringEntOffset+16:]))
	opIn := int(length) - fuseInHeaderSize - psz // the size of the first argument, in op_in
	n, st := 0, fuse.EIO
	if opIn >= 0 && opIn <= uringOpInSize && psz <= len(e.payload) {
		in := e.payload[:psz]
		if psz > 0 && opcode != opWrite {
			// Names and xattr values are read while the answer is
			// written into the same payload buffer: copy them first.
			in = scratch[:copy(scratch, in)]
		}
		n, st = t.ps.HandleRequest(
			[][]byte{h[:fuseInHeaderSize], h[uringOpInOffset : uringOpInOffset+opIn], in},
			[][]byte{e.outHdr[:], e.payload})
	}
	if n < fuseOutHeaderSize {
		// Not answered (a request go-fuse could not parse): the kernel
		// still waits for one.
		if st.Ok() {
			st = fuse.EIO
		}
		le.PutUint32(e.outHdr[0:], fuseOutHeaderSize)
		le.PutUint32(e.outHdr[4:], uint32(-int32(st)))
		le.PutUint64(e.outHdr[8:], unique)
		n = fuseOutHeaderSize
	}
	copy(h[:fuseOutHeaderSize], e.outHdr[:])
	le.PutUint32(h[uringEntOffset+16:], uint32(n-fuseOutHeaderSize))
	t.served.Add(1)
	r.uringCmd(t.fuseFD, fuseURingCmdCommitAndFetch, qid, user, nil, commitID)
}

// errURingRefused marks a registration the kernel refused: it then serves
// the connection through /dev/fuse.
var errURingRefused = errors.New("the kernel refused the ring registration")

// IOURingAvailable says why Options.IOURing would not be honoured for this
// process (not root, a kernel without FUSE over io_uring or with it off,
// io_uring disabled), or nil when it would.
func IOURingAvailable() error { return uringUsable(os.Geteuid() == 0) }

// uringUsable says why FUSE over io_uring cannot be used, or nil.
func uringUsable(root bool) error {
	if !root {
		return fmt.Errorf("FUSE over io_uring needs a direct mount, which needs root: %w", unix.EPERM)
	}
	b, err := os.ReadFile(enableURingParam)
	if err != nil {
		return fmt.Errorf("this kernel has no FUSE over io_uring (%w)", err)
	}
	if strings.TrimSpace(string(b)) != "Y" {
		return fmt.Errorf("FUSE over io_uring is off in this kernel (as root: echo Y > %s): %w", enableURingParam, unix.EOPNOTSUPP)
	}
	if _, err := possibleCPUs(); err != nil {
		return err
	}
	r, err := newRing(2) // io_uring itself may be disabled (kernel.io_uring_disabled)
	if err != nil {
		return err
	}
	r.close()
	return nil
}

// mountForURing mounts a FUSE connection on dir as go-fuse's direct mount
// does, and returns the /dev/fuse fd for go-fuse to take over.
func mountForURing(dir string, mo *fuse.MountOptions) (int, error) {
	var st unix.Stat_t
	if err := unix.Stat(dir, &st); err != nil {
		return -1, &os.PathError{Op: "stat", Path: dir, Err: err}
	}
	fd, err := unix.Open("/dev/fuse", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, &os.PathError{Op: "open", Path: "/dev/fuse", Err: err}
	}
	mo.MaxWrite = uringMaxWrite
	mo.ExtraCapabilities |= fuse.CAP_OVER_IO_URING
	mo.DirectMount, mo.DirectMountStrict = false, false
	o := []string{
		fmt.Sprintf("fd=%d", fd),
		fmt.Sprintf("rootmode=%o", st.Mode&unix.S_IFMT),
		fmt.Sprintf("user_id=%d", os.Geteuid()),
		fmt.Sprintf("group_id=%d", os.Getegid()),
		fmt.Sprintf("max_read=%d", mo.MaxWrite),
	}
	o = append(o, mo.Options...)
	if mo.AllowOther {
		o = append(o, "allow_other")
	}
	if err := unix.Mount(mo.FsName, dir, "fuse."+mo.Name, unix.MS_NOSUID|unix.MS_NODEV, strings.Join(o, ",")); err != nil {
		_ = unix.Close(fd)
		return -1, &os.PathError{Op: "mount", Path: dir, Err: err}
	}
	return fd, nil
}

// uringProtocolServer returns a ProtocolServer for raw that has seen the
// connection's INIT (the one go-fuse's Server answered), so that it decodes
// requests with the same negotiated version and flags.
func uringProtocolServer(raw fuse.RawFileSystem, mo *fuse.MountOptions, init *fuse.InitIn) (*fuse.ProtocolServer, error) {
	ps := fuse.NewProtocolServer(raw, mo)
	in := *init
	msg := unsafe.Slice((*byte)(unsafe.Pointer(&in)), unsafe.Sizeof(in))
	var out [256]byte
	n, st := ps.HandleRequest([][]byte{msg}, [][]byte{out[:]})
	if !st.Ok() || n < fuseOutHeaderSize || binary.LittleEndian.Uint32(out[4:]) != 0 {
		return nil, fmt.Errorf("replaying INIT for the io_uring server: %v", st)
	}
	return ps, nil
}
