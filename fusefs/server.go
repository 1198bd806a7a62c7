package fusefs

import (
	"errors"
	"fmt"
	"log"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/simfs/simfs/vfs"
	"golang.org/x/sys/unix"
)

// DefaultTimeout is how long the kernel may cache a lookup or an inode's
// attributes when Options leave the timeout at 0. Long timeouts are safe
// because every change of the simulated tree is invalidated (see the package
// documentation); a cached entry only saves a round trip.
const DefaultTimeout = time.Hour

// Options configure a mount.
type Options struct {
	// AllowOther lets users other than the one who mounted reach the
	// mount (the allow_other option). Without it the kernel refuses every
	// other user with EACCES before a request reaches the simulator.
	AllowOther bool

	// Debug logs every FUSE request and reply to Logger.
	Debug bool

	// Logger receives Debug output and diagnostics (a handler that
	// panicked, a notification the kernel refused). nil means
	// log.Default().
	Logger *log.Logger

	// FsName is the source shown in /proc/mounts ("simfs" if empty).
	FsName string

	// Subtype names the file system type: /proc/mounts shows
	// "fuse.<Subtype>" ("fuse.simfs" if empty).
	Subtype string

	// EntryTimeout and AttrTimeout are how long the kernel may cache a
	// name's lookup and an inode's attributes: 0 means DefaultTimeout, a
	// negative value means no caching (every path walk asks the server).
	EntryTimeout time.Duration
	AttrTimeout  time.Duration

	// Passthrough serves reads of files opened read-only from a snapshot:
	// at open the whole output is rendered into a memfd that the kernel
	// reads directly (FUSE passthrough), so reads cost no round trip. It
	// changes semantics, which is why it is off by default: the output is
	// produced at open rather than at the first read; an open file keeps
	// returning its snapshot after the server removes the file, where the
	// simulator would answer ENODEV; opens that overlap share the first
	// one's snapshot (the kernel allows one backing file per inode); and a
	// write open while a snapshot is open fails with EBUSY (the kernel would
	// refuse it with EIO). Output over 1 MiB, a read error while rendering,
	// and kernels without passthrough fall back to ordinary reads. A
	// file's memfd stays registered after its last close and is rewritten
	// for the next open, until the kernel forgets the inode. Together with
	// IOURing it is the fastest configuration measured: a view's
	// open+read+close within 4× of a native cgroup2 read, against about 7×
	// without it (docs/PERFORMANCE.md, "FUSE").
	Passthrough bool

	// IOURing serves requests over FUSE-over-io_uring (fs/fuse/dev_uring.c)
	// instead of read(2) and write(2) on /dev/fuse: one queue per CPU, each
	// served by a thread pinned to that CPU, so a request and its answer
	// need no cross-CPU wake-up. It needs root (a direct mount) and a
	// kernel that has it switched on (the fuse module's enable_uring
	// parameter); without them the mount serves /dev/fuse and
	// Server.IOURing says why.
	IOURing bool

	// Task, if set, maps the pid of the process behind a request to the
	// simulated task stored in vfs.Caller.Task (nil if there is none).
	Task func(pid uint32) any

	// The fields below exist for the benchmark that chose the defaults;
	// they are not part of the supported interface.
	noDefaultPermissions bool // let the server alone check permissions
	flushOnClose         bool // send FLUSH on every close (no FOPEN_NOFLUSH)
	counts               *opCounts
	mountOptions         func(*fuse.MountOptions)
	uringFailQueue       func(qid int) error // a queue that fails to start (tests)
}

// Server is one mounted vfs tree.
type Server struct {
	v     *vfs.VFS
	root  *vfs.Inode
	sb    *vfs.Superblock
	dir   string
	opts  Options
	log   *log.Logger
	fuse  *fuse.Server
	euid0 bool

	entryTimeout time.Duration
	attrTimeout  time.Duration

	mu         sync.Mutex
	nodes      map[*vfs.Inode]*node
	open       map[*vfs.File]struct{} // files the kernel has not released
	gen        uint64
	nforgotten int

	inval invalidator

	pending       sync.Map     // passthrough opens in flight, see rawFS
	keptSnapshots atomic.Int64 // memfds open for passthrough snapshots
	snapshotFiles atomic.Int64 // memfds ever made (the tests count them)
	uring         *uringTransport
	uringErr      error // why IOURing was asked for and is not used
	noPassthrough atomic.Bool

	unmountOnce sync.Once
	unmountErr  error
	done        chan struct{}
}

// Serve mounts the directory tree rooted at root (normally a superblock's
// root) on dir and serves it until Unmount. As root it mounts directly
// (DirectMount, no helper needed); otherwise it needs fusermount3 or
// fusermount and says so when neither is installed. The error wraps a
// syscall.Errno where one caused it.
func Serve(v *vfs.VFS, root *vfs.Inode, dir string, opts Options) (*Server, error) {
	if !root.IsDir() {
		return nil, fmt.Errorf("fusefs: serve %s: root inode %d is not a directory: %w", dir, root.Ino(), unix.ENOTDIR)
	}
	s := &Server{
		v:            v,
		root:         root,
		sb:           root.Superblock(),
		dir:          dir,
		opts:         opts,
		log:          opts.Logger,
		euid0:        os.Geteuid() == 0,
		entryTimeout: timeout(opts.EntryTimeout),
		attrTimeout:  timeout(opts.AttrTimeout),
		nodes:        make(map[*vfs.Inode]*node),
		open:         make(map[*vfs.File]struct{}),
		done:         make(chan struct{}),
	}
	if s.log == nil {
		s.log = log.Default()
	}
	if err := s.canMount(); err != nil {
		return nil, err
	}

	rootNode := &node{srv: s, in: root}
	s.nodes[root] = rootNode
	zero := time.Duration(0)
	fsOpts := &fs.Options{
		EntryTimeout:    &s.entryTimeout,
		AttrTimeout:     &s.attrTimeout,
		NegativeTimeout: &zero, // the invalidator relies on negative entries never being cached
		NullPermissions: true,  // modes are the simulator's, 0 included
		RootStableAttr:  &fs.StableAttr{Ino: root.Ino()},
		Logger:          s.log,
	}
	mo := &fsOpts.MountOptions
	mo.AllowOther = opts.AllowOther
	mo.Debug = opts.Debug
	mo.Logger = s.log
	mo.FsName = nonEmpty(opts.FsName, "simfs")
	mo.Name = nonEmpty(opts.Subtype, "simfs")
	if !opts.noDefaultPermissions {
		mo.Options = append(mo.Options, "default_permissions")
	}
	// go-fuse would first try to splice every READ reply through a pipe;
	// for data in memory (all of the simulator's) that costs three extra
	// system calls per READ before it falls back to writev.
	mo.DisableSplice = true
	if s.euid0 {
		// /dev/fuse is root's; there is no reason to try a helper.
		mo.DirectMountStrict = true
	}
	if opts.mountOptions != nil {
		opts.mountOptions(mo)
	}
	raw := &rawFS{RawFileSystem: fs.NewNodeFS(rootNode, fsOpts), pending: &s.pending, counts: opts.counts}
	mountPoint, fuseFD := dir, -1
	if opts.IOURing {
		if s.uringErr = uringUsable(s.euid0); s.uringErr == nil {
			var err error
			if fuseFD, err = mountForURing(dir, mo); err != nil {
				return nil, fmt.Errorf("fusefs: mount %s: %w", dir, err)
			}
			// go-fuse takes over a connection mounted by its caller
			// through the magic mount point /dev/fd/N.
			mountPoint = fmt.Sprintf("/dev/fd/%d", fuseFD)
		}
	}
	srv, err := fuse.NewServer(raw, mountPoint, mo)
	if err != nil {
		if fuseFD >= 0 {
			_ = unix.Unmount(dir, unix.MNT_DETACH)
		}
		return nil, fmt.Errorf("fusefs: mount %s: %w", dir, err)
	}
	s.fuse = srv
	if fuseFD >= 0 {
		if err := s.startURing(raw, mo, fuseFD); err != nil {
			// The connection would wait for rings forever: it is
			// gone; mount again on /dev/fuse and say why.
			opts.IOURing = false
			s2, err2 := Serve(v, root, dir, opts)
			if err2 == nil {
				s2.uringErr = err
			}
			return s2, err2
		}
	}
	s.inval.start(s)
	go func() {
		srv.Serve()
		if s.uring != nil {
			s.uring.Wait()
		}
		s.closeOrphans()
		s.closeSnapshots()
		s.inval.stop()
		close(s.done)
	}()
	if err := srv.WaitMount(); err != nil {
		_ = s.Unmount()
		s.Wait()
		return nil, fmt.Errorf("fusefs: mount %s: %w", dir, err)
	}
	return s, nil
}

// IOURing reports whether requests travel over FUSE-over-io_uring and, when
// Options.IOURing asked for it and they do not, why.
func (s *Server) IOURing() (bool, error) {
	return s.uring != nil && s.uringErr == nil, s.uringErr
}

// startURing gives the connection on fuseFD, which negotiated
// CAP_OVER_IO_URING, its rings. A registration the kernel refused leaves
// the connection on /dev/fuse (recorded in uringErr); any other failure
// leaves it waiting for rings, so it is unmounted and the error returned.
func (s *Server) startURing(raw fuse.RawFileSystem, mo *fuse.MountOptions, fuseFD int) error {
	ps, err := uringProtocolServer(raw, mo, s.fuse.KernelSettings())
	var t *uringTransport
	if err == nil {
		t, err = startURing(fuseFD, ps, s.log, s.opts.uringFailQueue)
	}
	if err == nil || errors.Is(err, errURingRefused) {
		s.uring, s.uringErr = t, err
		return nil
	}
	_ = unix.Unmount(s.dir, unix.MNT_DETACH)
	s.fuse.Serve() // returns once the kernel has ended the connection
	if t != nil {
		t.Wait()
	}
	return err
}

// track records a vfs.File the kernel holds (add) or released.
func (s *Server) track(f *vfs.File, add bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if add {
		s.open[f] = struct{}{}
	} else {
		delete(s.open, f)
	}
}

// closeOrphans closes the files the kernel never released: a connection
// that ends with files open (aborted, or the server's process going away
// in a test) sends no RELEASE, and the simulator must not keep their
// inodes alive.
func (s *Server) closeOrphans() {
	s.mu.Lock()
	files := make([]*vfs.File, 0, len(s.open))
	for f := range s.open {
		files = append(files, f)
	}
	s.open = make(map[*vfs.File]struct{})
	s.mu.Unlock()
	for _, f := range files {
		_ = f.Close()
	}
}

// canMount says why a mount cannot work before trying one.
func (s *Server) canMount() error {
	if _, err := os.Stat("/dev/fuse"); err != nil {
		return fmt.Errorf("fusefs: cannot mount %s: no FUSE device: %w", s.dir, err)
	}
	if s.euid0 {
		return nil
	}
	for _, bin := range []string{"fusermount3", "fusermount"} {
		if _, err := exec.LookPath(bin); err == nil {
			return nil
		}
	}
	return fmt.Errorf("fusefs: cannot mount %s: not root and neither fusermount3 nor fusermount is installed (install fuse3 or run as root): %w", s.dir, unix.EPERM)
}

func timeout(d time.Duration) time.Duration {
	switch {
	case d == 0:
		return DefaultTimeout
	case d < 0:
		return 0
	}
	return d
}

func nonEmpty(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// Dir returns the mount point.
func (s *Server) Dir() string { return s.dir }

// Settle waits until every change of the simulated tree made before the
// call has been announced to the kernel, so that a path walk that starts
// afterwards sees it despite cached entries. Call it after changing the
// tree from outside FUSE (a daemon command) when the caller must see the
// change at once; never from a FUSE request handler or a vfs callback,
// which the kernel may be waiting on.
func (s *Server) Settle() { s.inval.settle() }

// Unmount detaches the mount. If files are still open on it the detach is
// lazy: new path walks fail at once, open files keep working until they
// are closed, and the server keeps answering them. Unmount does not wait;
// Wait does.
func (s *Server) Unmount() error {
	s.unmountOnce.Do(func() { s.unmountErr = s.unmount() })
	return s.unmountErr
}

func (s *Server) unmount() error {
	if !s.euid0 {
		if err := s.fuse.Unmount(); err != nil {
			if out, err2 := exec.Command(fusermountBinary(), "-u", "-z", s.dir).CombinedOutput(); err2 != nil {
				return fmt.Errorf("fusefs: unmount %s: %v; lazy: %v: %s", s.dir, err, err2, out)
			}
		}
		return nil
	}
	var err error
	for delay := time.Millisecond; delay < 100*time.Millisecond; delay *= 2 {
		if err = unix.Unmount(s.dir, 0); err == nil || !errors.Is(err, unix.EBUSY) {
			break
		}
		time.Sleep(delay)
	}
	if errors.Is(err, unix.EBUSY) {
		err = unix.Unmount(s.dir, unix.MNT_DETACH)
	}
	if err != nil && !errors.Is(err, unix.EINVAL) { // EINVAL: no longer mounted
		return fmt.Errorf("fusefs: unmount %s: %w", s.dir, err)
	}
	return nil
}

func fusermountBinary() string {
	for _, bin := range []string{"fusermount3", "fusermount"} {
		if p, err := exec.LookPath(bin); err == nil {
			return p
		}
	}
	return "fusermount"
}

// Wait blocks until the kernel has closed the connection (after Unmount,
// once no file on the mount is open any more) and every goroutine of the
// server has ended.
func (s *Server) Wait() { <-s.done }

// ClearStale detects a FUSE mount on dir whose server is gone (a daemon
// that was killed leaves one behind: every request fails with ENOTCONN)
// and detaches it. It reports whether it cleared one; stacked stale mounts
// are all cleared. The probe is statfs(2), which always reaches the server:
// stat(2) may be answered from attributes the kernel still caches. Another
// error of the probe is returned as is.
func ClearStale(dir string) (bool, error) {
	cleared := false
	for i := 0; i < 16; i++ {
		var st unix.Statfs_t
		err := unix.Statfs(dir, &st)
		// ECONNABORTED: the request came while the kernel was still
		// taking the connection of a killed io_uring server down.
		if !errors.Is(err, unix.ENOTCONN) && !errors.Is(err, unix.ECONNABORTED) {
			if err != nil {
				return cleared, &os.PathError{Op: "statfs", Path: dir, Err: err}
			}
			return cleared, nil
		}
		if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil {
			return cleared, &os.PathError{Op: "umount", Path: dir, Err: err}
		}
		cleared = true
	}
	return cleared, &os.PathError{Op: "umount", Path: dir, Err: syscall.ELOOP}
}
