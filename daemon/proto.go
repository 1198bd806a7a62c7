package daemon

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"syscall"

	"github.com/simfs/simfs/events"
	"github.com/simfs/simfs/kernel"
	"github.com/simfs/simfs/sched"
	"golang.org/x/sys/unix"
)

// Version is the protocol version. A client states it in hello; a daemon
// that speaks another version answers EPROTONOSUPPORT and hangs up.
const Version = 1

// Op names.
const (
	OpHello      = "hello"
	OpInfo       = "info"
	OpProgLoad   = "prog.load"
	OpObjLoad    = "obj.load"
	OpMapCreate  = "map.create"
	OpLinkCreate = "link.create"
	OpPin        = "pin"
	OpShow       = "show"
	OpMapDump    = "map.dump"
	OpMapLookup  = "map.lookup"
	OpMapUpdate  = "map.update"
	OpMapDelete  = "map.delete"
	OpProgRun    = "prog.run"
	OpTaskSpawn  = "task.spawn"
	OpTaskExit   = "task.exit"
	OpEvents     = "events"
	OpStat       = "stat"
	OpReadDir    = "readdir"
	OpReadFile   = "read"
	OpWriteFile  = "write"
	OpMkdir      = "mkdir"
	OpRmdir      = "rmdir"
	OpUnlink     = "unlink"
	OpRename     = "rename"
	OpObjGet     = "obj.get"
	OpClose      = "close"
	OpFDs        = "fds"
	OpSchedRun   = "sched.run"
	OpSchedShow  = "sched.show"
)

// Request is one line from a client.
type Request struct {
	V    int             `json:"v"`
	ID   uint64          `json:"id"`
	Op   string          `json:"op"`
	Args json.RawMessage `json:"args,omitempty"`
}

// Response is one line from the daemon: the answer to the request with the
// same id, or (with Event set) one event of an events stream.
type Response struct {
	V      int             `json:"v"`
	ID     uint64          `json:"id"`
	OK     bool            `json:"ok"`
	Result json.RawMessage `json:"result,omitempty"`
	// Errno is the symbolic errno name ("ENXIO") when OK is false.
	Errno string `json:"errno,omitempty"`
	// Error is the full message when OK is false.
	Error string `json:"error,omitempty"`
	// Event is set on the lines of an events stream.
	Event *events.Event `json:"event,omitempty"`
	// Dropped counts events the stream lost so far (a slow reader).
	Dropped uint64 `json:"dropped,omitempty"`
}

// Mount is one file system a daemon serves over FUSE: Host is the mount
// point on the host, Sim the simulated path it shows ("/sys/fs/bpf").
type Mount struct {
	Host string `json:"host"`
	Sim  string `json:"sim"`
	// Transport is how the FUSE requests of the mount travel: "io_uring"
	// (FUSE over io_uring) or "/dev/fuse".
	Transport string `json:"transport,omitempty"`
}

// DaemonInfo describes a running daemon (OpInfo, OpHello and the
// registry file).
type DaemonInfo struct {
	ID      string  `json:"id"`
	Pid     int     `json:"pid"`
	Socket  string  `json:"socket"`
	Mounts  []Mount `json:"mounts"`
	Version int     `json:"version"`
	// Features lists what the simulated kernel of this daemon can do
	// (program types, "cgroup2", "tasks", "elf"), so that clients and the
	// demo can tell a missing kernel API from a failure.
	Features []string `json:"features,omitempty"`
}

// HelloArgs opens a session: the connection becomes a simulated process
// with the peer's uid and gid (SO_PEERCRED) and this umask.
type HelloArgs struct {
	Version int    `json:"version"`
	Umask   uint32 `json:"umask"`
	Comm    string `json:"comm,omitempty"`
}

// HelloResult names the simulated process.
type HelloResult struct {
	Version int        `json:"version"`
	Pid     int        `json:"pid"`
	UID     uint32     `json:"uid"`
	GID     uint32     `json:"gid"`
	Daemon  DaemonInfo `json:"daemon"`
}

// ProgLoadArgs loads one program and pins it at Path. Exactly one of Asm
// (text assembly, see the package documentation for the .map directive)
// and Object (a clang-built ELF object) is set.
type ProgLoadArgs struct {
	Path string `json:"path"`
	// Type is the section name that selects the program type
	// ("view/cgroup", "syscall", "tp_btf/sched_stat_wait"); for text
	// assembly it is required unless the text has a .type directive, for
	// ELF objects it comes from the section name.
	Type    string `json:"type,omitempty"`
	Name    string `json:"name,omitempty"`
	License string `json:"license,omitempty"`
	Asm     string `json:"asm,omitempty"`
	Object  []byte `json:"object,omitempty"`
	// Program picks a program of an ELF object by function name (needed
	// when the object has more than one).
	Program string `json:"program,omitempty"`
}

// ProgLoadResult is the loaded program.
type ProgLoadResult struct {
	ID   uint32 `json:"id"`
	Type string `json:"type"`
	Name string `json:"name,omitempty"`
	Path string `json:"path"`
	Log  string `json:"log,omitempty"`
	// Maps are maps an ELF object's program uses, by name.
	Maps map[string]uint32 `json:"maps,omitempty"`
}

// ObjLoadArgs loads every program and map of an ELF object and pins them
// under Dir (prog loadall): programs by function name, maps by name with
// dots replaced by underscores (bpffs refuses names with a dot), as
// libbpf's pin path sanitising does.
type ObjLoadArgs struct {
	Object []byte `json:"object"`
	Dir    string `json:"dir"`
}

// Pinned is one object an ObjLoad pinned.
type Pinned struct {
	ObjType string `json:"obj_type"`
	ID      uint32 `json:"id"`
	Name    string `json:"name"`
	Type    string `json:"type"`
	Path    string `json:"path"`
}

// ObjLoadResult lists what was pinned.
type ObjLoadResult struct {
	Pinned []Pinned `json:"pinned"`
}

// MapCreateArgs creates a map and pins it at Path.
type MapCreateArgs struct {
	Path       string `json:"path"`
	Type       string `json:"type"` // hash, array, percpu_hash, percpu_array
	KeySize    uint32 `json:"key_size"`
	ValueSize  uint32 `json:"value_size"`
	MaxEntries uint32 `json:"max_entries"`
	Flags      uint32 `json:"flags,omitempty"`
	Name       string `json:"name,omitempty"`
}

// LinkCreateArgs creates the link a pinned program's type calls for and
// pins it at Link. Cgroup (a simulated cgroup directory) and Order
// ("self", "pre", "post", "up") are for cgroup iterators.
type LinkCreateArgs struct {
	Prog   string `json:"prog"`
	Link   string `json:"link"`
	Cgroup string `json:"cgroup,omitempty"`
	Order  string `json:"order,omitempty"`
}

// ObjResult names one object.
type ObjResult struct {
	ObjType string `json:"obj_type"`
	ID      uint32 `json:"id"`
	Path    string `json:"path,omitempty"`
	// Exposed says Path is a kernfs file that exposes the object (the
	// RFC), not a bpffs pin.
	Exposed bool `json:"exposed,omitempty"`
}

// PinArgs pins the object pinned at Src again at Dst (in bpffs, or in a
// cgroup directory: the RFC's exposure).
type PinArgs struct {
	Src string `json:"src"`
	Dst string `json:"dst"`
}

// ShowArgs lists the live objects of one type: "prog", "map" or "link".
type ShowArgs struct {
	Type string `json:"type"`
}

// Object is one object of a ShowResult: BPF_OBJ_GET_INFO_BY_FD's answer,
// the bpffs paths that pin it (found by walking the simulated bpffs, as
// bpftool -f does) and the kernfs files that expose it (the RFC's
// exposures, which hold no reference).
type Object struct {
	kernel.Info
	Pinned  []string `json:"pinned,omitempty"`
	Exposed []string `json:"exposed,omitempty"`
}

// ShowResult lists objects by id.
type ShowResult struct {
	Objects []Object `json:"objects"`
}

// ObjGetArgs is BPF_OBJ_GET: the fd stays open in the connection's
// process until OpClose or the connection ends (a way to hold an object
// across an unpin).
type ObjGetArgs struct {
	Path string `json:"path"`
	// Flags: 0, or "rdonly" / "wronly" (BPF_F_RDONLY, BPF_F_WRONLY).
	Flags string `json:"flags,omitempty"`
}

// FDResult is an open fd and the object it holds.
type FDResult struct {
	FD      int    `json:"fd"`
	ObjType string `json:"obj_type,omitempty"`
	ID      uint32 `json:"id,omitempty"`
}

// CloseArgs is close(2).
type CloseArgs struct {
	FD int `json:"fd"`
}

// FDsResult lists the process's open fds.
type FDsResult struct {
	FDs []int `json:"fds"`
}

// MapKeyArgs addresses one element (Key and Value are raw bytes; in JSON
// base64, as encoding/json writes []byte).
type MapKeyArgs struct {
	Path  string `json:"path"`
	Key   []byte `json:"key,omitempty"`
	Value []byte `json:"value,omitempty"`
	Flags uint64 `json:"flags,omitempty"`
}

// MapEntry is a key and its value.
type MapEntry struct {
	Key   []byte `json:"key"`
	Value []byte `json:"value"`
}

// MapDumpResult is every entry in key order (BPF_MAP_GET_NEXT_KEY's).
type MapDumpResult struct {
	KeySize   uint32     `json:"key_size"`
	ValueSize uint32     `json:"value_size"`
	Entries   []MapEntry `json:"entries"`
}

// PathArgs names one path.
type PathArgs struct {
	Path string `json:"path"`
}

// ProgRunArgs is BPF_PROG_TEST_RUN on a pinned program.
type ProgRunArgs struct {
	Path   string `json:"path"`
	Ctx    []byte `json:"ctx,omitempty"`
	Repeat int    `json:"repeat,omitempty"`
}

// ProgRunResult is the last run's return value and context, and the mean
// duration of one run.
type ProgRunResult struct {
	Retval     uint64 `json:"retval"`
	CtxOut     []byte `json:"ctx_out,omitempty"`
	DurationNs int64  `json:"duration_ns"`
}

// TaskSpawnArgs spawns a simulated task in a cgroup directory.
type TaskSpawnArgs struct {
	Cgroup string `json:"cgroup"`
}

// TaskArgs names a simulated task.
type TaskArgs struct {
	Pid int `json:"pid"`
}

// TaskResult is a task and its cgroup.
type TaskResult struct {
	Pid      int    `json:"pid"`
	Cgroup   string `json:"cgroup,omitempty"`
	CgroupID uint64 `json:"cgroup_id,omitempty"`
}

// SchedRunArgs runs the simulated scheduler for Ticks ticks at once.
type SchedRunArgs struct {
	Ticks int `json:"ticks"`
}

// SchedResult is the scheduler's state and (sched.show) its tasks.
type SchedResult struct {
	sched.Status
	Tasks []SchedTask `json:"tasks,omitempty"`
}

// SchedTask is one task's scheduling statistics and its cgroup.
type SchedTask struct {
	sched.TaskStats
	Cgroup   string `json:"cgroup,omitempty"`
	CgroupID uint64 `json:"cgroup_id,omitempty"`
}

// EventsArgs starts an events stream on the connection; after the answer
// every line is an event until the client hangs up.
type EventsArgs struct {
	Buffer int `json:"buffer,omitempty"`
}

// StatResult is stat(2) of a simulated path.
type StatResult struct {
	Ino   uint64 `json:"ino"`
	Mode  uint32 `json:"mode"`
	Nlink uint32 `json:"nlink"`
	UID   uint32 `json:"uid"`
	GID   uint32 `json:"gid"`
	Size  int64  `json:"size"`
}

// Dirent is one directory entry.
type Dirent struct {
	Name string `json:"name"`
	Ino  uint64 `json:"ino"`
	Type string `json:"type"` // "dir", "file", "symlink", ...
}

// ReadDirResult lists a directory.
type ReadDirResult struct {
	Entries []Dirent `json:"entries"`
}

// FileArgs reads or writes a simulated file (write: one write(2) of
// Data after open with O_WRONLY|O_CREAT|O_TRUNC, as a shell's > does).
type FileArgs struct {
	Path string `json:"path"`
	Data []byte `json:"data,omitempty"`
}

// FileResult is a file's content.
type FileResult struct {
	Data []byte `json:"data"`
}

// MkdirArgs is mkdir(2).
type MkdirArgs struct {
	Path string `json:"path"`
	Mode uint32 `json:"mode,omitempty"` // 0 means 0755
}

// RenameArgs is renameat2(2).
type RenameArgs struct {
	Old   string `json:"old"`
	New   string `json:"new"`
	Flags uint32 `json:"flags,omitempty"`
}

// Error is a failed request as the client sees it. It wraps the errno, so
// errors.Is(err, unix.ENXIO) works on the client side too.
type Error struct {
	Op    string
	Errno syscall.Errno
	Msg   string
}

func (e *Error) Error() string {
	if e.Msg == "" {
		return e.Op + ": " + ErrnoString(e.Errno)
	}
	return e.Msg + ": " + ErrnoString(e.Errno)
}

// Unwrap returns the errno.
func (e *Error) Unwrap() error { return e.Errno }

// kernelErrnoNames are the kernel-internal errnos (include/linux/errno.h)
// that leak to user space, which libc has no names for.
func kernelErrnoName(e syscall.Errno) string {
	switch e {
	case 512:
		return "ERESTARTSYS"
	case 515:
		return "ENOIOCTLCMD"
	case 524:
		return "ENOTSUPP"
	case 526:
		return "EIOCBQUEUED"
	}
	return ""
}

// ErrnoName is the symbolic name of e ("ENXIO"); errnos without one are
// "errno N".
func ErrnoName(e syscall.Errno) string {
	if n := unix.ErrnoName(e); n != "" {
		return n
	}
	if n := kernelErrnoName(e); n != "" {
		return n
	}
	return fmt.Sprintf("errno %d", int(e))
}

// ErrnoByName is the inverse of ErrnoName (0, false if unknown).
func ErrnoByName(name string) (syscall.Errno, bool) {
	var n int
	if _, err := fmt.Sscanf(name, "errno %d", &n); err == nil && n > 0 {
		return syscall.Errno(n), true
	}
	for e := syscall.Errno(1); e < 4096; e++ {
		if unix.ErrnoName(e) == name || kernelErrnoName(e) == name {
			return e, true
		}
	}
	return 0, false
}

// ErrnoString is "ENXIO (No such device or address)".
func ErrnoString(e syscall.Errno) string {
	msg := e.Error()
	if strings.HasPrefix(msg, "errno ") {
		switch kernelErrnoName(e) {
		case "ENOTSUPP":
			msg = "operation is not supported"
		default:
			return ErrnoName(e)
		}
	}
	if msg != "" {
		msg = strings.ToUpper(msg[:1]) + msg[1:]
	}
	return ErrnoName(e) + " (" + msg + ")"
}

// ErrnoOf finds the errno an error wraps; an error that wraps none is
// EINVAL (a malformed request or program text).
func ErrnoOf(err error) syscall.Errno {
	var e syscall.Errno
	if errors.As(err, &e) && e != 0 {
		return e
	}
	return unix.EINVAL
}

// errorMessage strips the errno's own text from err's message (at the
// end, or in the middle, where a wrapped error put it), so that
// Error.Error says it once.
func errorMessage(err error, e syscall.Errno) string {
	msg := strings.ReplaceAll(err.Error(), ": "+e.Error()+": ", ": ")
	for _, suffix := range []string{": " + e.Error(), e.Error()} {
		if strings.HasSuffix(msg, suffix) {
			return strings.TrimSuffix(msg, suffix)
		}
	}
	return msg
}
