// Package fusefs serves a simulated directory tree — one vfs superblock,
// bpffs or cgroup2 on kernfs — over FUSE, so that ls, stat, cat, echo,
// rm, mkdir, rmdir, mv and ln work on it as on a patched kernel. It is the
// bridge between the simulator's vfs and the kernel's FUSE: each FUSE
// request becomes the vfs call a Linux system call would make (Lookup,
// OpenInode, MkdirChild, UnlinkChild, ...), made with the caller's
// credential, and each change the simulator makes to its tree on its own
// reaches the kernel's caches. It has no kernel counterpart; it stands
// where fs/fuse's server side would be, on top of go-fuse v2's fs package.
//
// # What the kernel sees
//
// Every FUSE operation is implemented with the simulator's answer; none is
// left to go-fuse's defaults (which, for a missing Unlink or Rmdir, remove
// the entry and report success). Inode numbers, modes, link counts,
// owners, sizes and times are the simulator's (a cgroup directory's inode
// number is its cgroup id). Regular files are opened with FOPEN_DIRECT_IO:
// a generated file (a kernfs seq file, a pinned iterator) reports size 0
// and every read reaches the simulator at the reader's offset, so each
// open sees fresh output and a file removed while open answers what the
// simulator answers (ENODEV for kernfs). Files also get FOPEN_NOFLUSH:
// close(2) has nothing to tell the simulator that the last close
// (RELEASE) does not, and the FLUSH round trip is saved. READ replies are
// written with one writev(2): go-fuse's splice path, which only pays off
// for data in a file descriptor, is switched off. With cached entries and
// attributes an open+read+close of a generated file costs OPEN, READ, the
// READ that finds EOF and an asynchronous RELEASE, and nothing else
// (docs/PERFORMANCE.md, "FUSE").
//
// # Credentials
//
// The uid and gid of a request are the caller's fsuid and fsgid from the
// request header; the vfs checks permissions with them. The mount uses the
// default_permissions option, so the kernel first runs generic_permission
// on the simulator's attributes with the caller's full credential
// (supplementary groups, capabilities) — on every path component, also for
// cached entries, which a server alone cannot see. The header has no
// supplementary groups; when the vfs refuses a non-root caller (EACCES,
// EPERM) the request is retried once with the groups read from
// /proc/PID/status, so both checks agree. The kernel applies the umask to
// the modes of mkdir, mknod and create (FUSE_DONT_MASK is not negotiated),
// so the vfs gets umask 0. Reading /proc/PID/status costs about as much as
// a FUSE round trip (22 µs measured), which is why it is not done on every
// request; default_permissions adds no request once attributes are cached
// (docs/PERFORMANCE.md, "FUSE"). Options.AllowOther lets other users reach the
// mount at all; without it the kernel turns them away.
//
// # Caching and invalidation
//
// The kernel caches lookups and attributes for Options.EntryTimeout and
// AttrTimeout (an hour by default); negative lookups are never cached.
// With timeouts of 0 every path walk costs a LOOKUP per component (and,
// with default_permissions, a GETATTR per directory): open+read+close of
// a file one directory deep measured 177–211 µs instead of 101 µs. The
// timeouts are safe because every change is invalidated: a
// vfs.TreeWatcher hears every change of a directory's entries, including
// kernfs removals that no event reports, and a vfs.Notifier hears
// attribute changes. Both callbacks only queue; one worker goroutine sends
// NOTIFY_DELETE, NOTIFY_INVAL_ENTRY and NOTIFY_INVAL_INODE. The callbacks
// run in the goroutine that made the change, which is often a FUSE request
// handler, and the kernel holds the directory's (or the file's) lock until
// that request is answered; a notification sent from the handler would
// wait for that lock forever. A notification sent later takes the lock
// after any LOOKUP that read the simulator before the change has been
// answered, so it always overrides that stale answer; an attribute
// invalidation for an inode the kernel does not know yet (its first reply
// may still be on its way) is retried for a short while. Invalidation
// follows a change within microseconds, not atomically with it;
// Server.Settle waits for it, for a caller that changed the tree outside
// FUSE and must see the result at once.
//
// # Threading and locking
//
// go-fuse serves requests concurrently, each in its own goroutine. The
// vfs has its own lock; handlers call the vfs without holding any lock of
// this package. Server.mu guards the map from vfs inodes to go-fuse nodes
// and is never held while calling the vfs for a write or while sending a
// notification (order: Server.mu, then the vfs lock for Alive checks). The
// worker takes no lock while it notifies, so a handler never waits for a
// lock the worker holds; handlers never wait for the worker.
//
// There is one go-fuse node per vfs inode at a time, created on lookup
// (non-persistent: the kernel's FORGET drops it), so hard links share a
// node id. Nodes hold no vfs reference: the kernel caching an inode must
// not keep a simulated inode alive (an unlinked pin dies at its last
// close). Open files hold one through their vfs.File; files the kernel
// never released when the connection ends (an aborted connection sends no
// RELEASE) are closed by the server.
//
// # Transports: /dev/fuse and io_uring
//
// By default requests travel through read(2) and writev(2) on /dev/fuse,
// served by go-fuse's loop. With Options.IOURing, when the process is root
// (the mount is made directly, so the /dev/fuse fd is at hand), the fuse
// module's enable_uring switch is on and io_uring is not disabled, the
// connection negotiates FUSE over io_uring (fs/fuse/dev_uring.c; Linux
// 6.14 and later): uring.go registers, for every possible CPU, an io_uring
// with a few ring entries (a header and a 128 KiB payload buffer each) on a
// thread pinned to that CPU. The kernel queues a request on the ring of the
// CPU its caller runs on, so the request and its answer wake a thread on
// the same CPU instead of one on another (halted) CPU: a FUSE round trip
// costs less and, mostly, varies far less (docs/PERFORMANCE.md, "FUSE").
// The ring threads decode and answer requests with go-fuse's
// ProtocolServer on the same RawFileSystem as the /dev/fuse loop, which
// still carries FORGET, INTERRUPT and the server's notifications. A
// registration the kernel refuses leaves the connection on /dev/fuse; any
// other failure to start the rings unmounts and mounts again without them;
// Server.IOURing says which transport serves and why.
//
// Differences with io_uring: an INTERRUPT for a request being answered
// from a ring is not matched by go-fuse (it knows only its own requests)
// and is answered EAGAIN, which the kernel re-sends until the request is
// answered (the simulator's handlers do not block, so that is short); when
// the serving process is killed, the kernel keeps the connection until its
// io_uring teardown (a work item) drops the rings, and requests made in
// that moment fail with ECONNABORTED instead of ENOTCONN (ClearStale
// accepts both).
//
// # Limits (what differs from a real bpffs or cgroup2 mount)
//
//   - statfs(2) reports f_type FUSE_SUPER_MAGIC (0x65735546): the kernel
//     sets it, and the FUSE reply has no field for the simulator's magic
//     (BPF_FS_MAGIC, CGROUP2_SUPER_MAGIC). f_bsize, f_frsize and
//     f_namelen are the simulator's; block and inode counts are 0, as
//     bpffs and kernfs report; f_fsid is 0. Tools that check the magic
//     (libbpf, cilium's mountinfo, runc's cgroup code) reject the mount.
//     /proc/mounts shows the type as fuse.<Options.Subtype>.
//   - The last close of a file reaches the simulator asynchronously
//     (FUSE sends RELEASE in the background): an unlinked pin held open
//     dies shortly after close(2) returns, not before.
//   - lseek(SEEK_SET/SEEK_CUR/SEEK_END) is done by the kernel, so a
//     file system's own lseek answer (ENODEV for a removed kernfs file)
//     is not seen; files whose lseek is ESPIPE (iterators) are opened
//     non-seekable, which gives ESPIPE too. Only SEEK_DATA/SEEK_HOLE
//     reach the simulator.
//   - poll(2) is not forwarded (go-fuse disables it), so kernfs files that
//     support poll (cgroup.events) cannot be waited on; mmap of files is
//     refused (direct I/O); file locks are kept by the kernel.
//   - Capabilities other than "uid 0 is privileged" are not seen by the
//     vfs: a non-root process with CAP_DAC_OVERRIDE passes the kernel's
//     check and may then be refused by the simulator.
//   - fsync answers EINVAL as Linux does for kernfs and bpffs files (0 on
//     a vfs.RamFS), xattrs EOPNOTSUPP unless the superblock implements
//     Xattrs, statx's extra fields (birth time) are absent.
//   - A vfs mount inside the served tree is not entered: a superblock is
//     served on its own, its mountpoints appear as plain directories.
//   - With Options.Passthrough (off by default) the semantics of a read
//     change, see there.
//   - As a non-root user the mount goes through fusermount3 or fusermount;
//     that path is not exercised by the tests (the project's machines have
//     neither and mount as root).
package fusefs
