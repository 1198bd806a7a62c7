package daemon

import (
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"sort"
	"syscall"

	"github.com/simfs/simfs/bpf"
	"github.com/simfs/simfs/bpffs"
	"github.com/simfs/simfs/kernel"
	"github.com/simfs/simfs/vfs"
	"golang.org/x/sys/unix"
)

type handler func(c *conn, args json.RawMessage) (any, error)

func handlerFor(op string) (handler, bool) {
	h, ok := map[string]handler{
		OpInfo:       (*conn).opInfo,
		OpProgLoad:   decode((*conn).opProgLoad),
		OpObjLoad:    decode((*conn).opObjLoad),
		OpMapCreate:  decode((*conn).opMapCreate),
		OpLinkCreate: decode((*conn).opLinkCreate),
		OpPin:        decode((*conn).opPin),
		OpShow:       decode((*conn).opShow),
		OpMapDump:    decode((*conn).opMapDump),
		OpMapLookup:  decode((*conn).opMapLookup),
		OpMapUpdate:  decode((*conn).opMapUpdate),
		OpMapDelete:  decode((*conn).opMapDelete),
		OpProgRun:    decode((*conn).opProgRun),
		OpTaskSpawn:  decode((*conn).opTaskSpawn),
		OpTaskExit:   decode((*conn).opTaskExit),
		OpStat:       decode((*conn).opStat),
		OpReadDir:    decode((*conn).opReadDir),
		OpReadFile:   decode((*conn).opReadFile),
		OpWriteFile:  decode((*conn).opWriteFile),
		OpMkdir:      decode((*conn).opMkdir),
		OpRmdir:      decode((*conn).opRmdir),
		OpUnlink:     decode((*conn).opUnlink),
		OpRename:     decode((*conn).opRename),
		OpObjGet:     decode((*conn).opObjGet),
		OpClose:      decode((*conn).opClose),
		OpFDs:        (*conn).opFDs,
		OpSchedRun:   decode((*conn).opSchedRun),
		OpSchedShow:  (*conn).opSchedShow,
	}[op]
	return h, ok
}

// decode adapts a handler that takes typed arguments.
func decode[A any](fn func(c *conn, a A) (any, error)) handler {
	return func(c *conn, raw json.RawMessage) (any, error) {
		var a A
		if len(raw) > 0 {
			if err := json.Unmarshal(raw, &a); err != nil {
				return nil, fmt.Errorf("arguments: %v: %w", err, unix.EINVAL)
			}
		}
		return fn(c, a)
	}
}

func (c *conn) dispatch(req Request) (any, error) {
	if req.Op == OpHello {
		var a HelloArgs
		if err := json.Unmarshal(req.Args, &a); err != nil {
			return nil, fmt.Errorf("hello: %v: %w", err, unix.EINVAL)
		}
		return c.hello(a)
	}
	h, ok := handlerFor(req.Op)
	if !ok {
		return nil, fmt.Errorf("unknown op %q: %w", req.Op, unix.ENOSYS)
	}
	return h(c, req.Args)
}

func (c *conn) hello(a HelloArgs) (any, error) {
	if c.proc != nil {
		return nil, fmt.Errorf("hello twice: %w", unix.EPROTO)
	}
	if a.Version != Version {
		return nil, fmt.Errorf("client speaks protocol version %d, this daemon %d: %w", a.Version, Version, unix.EPROTONOSUPPORT)
	}
	uid, gid := uint32(0), uint32(0) // the daemon's own user: see the package doc
	if u, g, _, ok := peerCred(c.nc); ok && u != uint32(unix.Geteuid()) {
		uid, gid = u, g
	}
	comm := a.Comm
	if len(comm) > 15 {
		comm = comm[:15]
	}
	c.proc = c.srv.cfg.Machine.NewProcess(kernel.ProcessOptions{UID: uid, GID: gid, Umask: a.Umask & 0777, Comm: comm})
	return HelloResult{Version: Version, Pid: c.proc.Pid(), UID: uid, GID: gid, Daemon: c.srv.Info()}, nil
}

func (c *conn) opInfo(json.RawMessage) (any, error) { return c.srv.Info(), nil }

// features says what the simulated kernel offers.
func (s *Server) features() []string {
	// The machine always has cgroup2 with tasks and the RFC's exposures.
	f := []string{"elf", "asm-maps", "cgroup2", "tasks", "expose"}
	if s.cfg.Sched != nil {
		f = append(f, "sched")
	}
	for _, pt := range s.cfg.Machine.BPF().ProgTypes() {
		f = append(f, "prog:"+pt.Name)
	}
	sort.Strings(f)
	return f
}

// withObj runs fn with an fd for the object pinned at p (BPF_OBJ_GET with
// flags), closing it afterwards.
func (c *conn) withObj(p string, flags uint32, fn func(fd int) error) error {
	fd, err := c.proc.ObjGet(p, flags)
	if err != nil {
		return err
	}
	defer c.proc.Close(fd)
	return fn(fd)
}

// objName makes a kernel object name (at most 15 bytes of [A-Za-z0-9_.])
// from a path's last element.
func objName(p string) string {
	b := []byte(path.Base(p))
	out := b[:0]
	for _, ch := range b {
		switch {
		case ch >= 'a' && ch <= 'z', ch >= 'A' && ch <= 'Z', ch >= '0' && ch <= '9', ch == '_', ch == '.':
			out = append(out, ch)
		default:
			out = append(out, '_')
		}
	}
	if len(out) > 15 {
		out = out[:15]
	}
	return string(out)
}

func (c *conn) opProgLoad(a ProgLoadArgs) (any, error) {
	if a.Path == "" {
		return nil, fmt.Errorf("prog load: no pin path: %w", unix.EINVAL)
	}
	switch {
	case len(a.Object) > 0 && a.Asm != "":
		return nil, fmt.Errorf("prog load: both an object and assembly: %w", unix.EINVAL)
	case len(a.Object) > 0:
		return c.loadELFProg(a)
	}
	src, err := ParseAsm(a.Asm)
	if err != nil {
		return nil, fmt.Errorf("prog load: %w", err)
	}
	typ := firstNonEmpty(a.Type, src.Type)
	if typ == "" {
		return nil, fmt.Errorf("prog load: no program type (--type or a .type directive): %w", unix.EINVAL)
	}
	name := firstNonEmpty(a.Name, src.Name, objName(a.Path))
	license := firstNonEmpty(a.License, src.License, "GPL")
	fds := map[string]int{}
	defer func() {
		for _, fd := range fds {
			c.proc.Close(fd)
		}
	}()
	mapIDs := map[string]uint32{}
	for _, m := range src.Maps {
		fd, err := c.proc.ObjGet(m.Path, 0)
		if err != nil {
			return nil, fmt.Errorf("prog load: .map %s: %w", m.Name, err)
		}
		fds[m.Name] = fd
		in, err := c.proc.ObjInfo(fd)
		if err != nil {
			return nil, err
		}
		if in.ObjType != "map" {
			return nil, fmt.Errorf("prog load: .map %s: %s is a %s: %w", m.Name, m.Path, in.ObjType, unix.EINVAL)
		}
		mapIDs[m.Name] = in.ID
	}
	code, err := src.Assemble(func(n string) int { return fds[n] })
	if err != nil {
		return nil, fmt.Errorf("prog load: %w", err)
	}
	fd, vlog, err := c.proc.ProgLoad(kernel.ProgLoadAttr{Section: typ, Name: name, License: license, Raw: code})
	if err != nil {
		return nil, fmt.Errorf("prog load: BPF_PROG_LOAD: %w", err)
	}
	defer c.proc.Close(fd)
	if err := c.proc.ObjPin(fd, a.Path); err != nil {
		return nil, err
	}
	in, err := c.proc.ObjInfo(fd)
	if err != nil {
		return nil, err
	}
	if len(mapIDs) == 0 {
		mapIDs = nil
	}
	return ProgLoadResult{ID: in.ID, Type: in.ProgType, Name: in.Name, Path: a.Path, Log: vlog, Maps: mapIDs}, nil
}

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}

func (c *conn) opMapCreate(a MapCreateArgs) (any, error) {
	if a.Path == "" {
		return nil, fmt.Errorf("map create: no pin path: %w", unix.EINVAL)
	}
	t, ok := mapTypeByName(a.Type)
	if !ok {
		return nil, fmt.Errorf("map create: unknown map type %q (hash, array, percpu_hash, percpu_array): %w", a.Type, unix.EINVAL)
	}
	fd, err := c.proc.MapCreate(bpf.MapSpec{Type: t, KeySize: a.KeySize, ValueSize: a.ValueSize, MaxEntries: a.MaxEntries, Flags: a.Flags, Name: firstNonEmpty(a.Name, objName(a.Path))})
	if err != nil {
		return nil, fmt.Errorf("map create: BPF_MAP_CREATE: %w", err)
	}
	defer c.proc.Close(fd)
	if err := c.proc.ObjPin(fd, a.Path); err != nil {
		return nil, err
	}
	in, err := c.proc.ObjInfo(fd)
	if err != nil {
		return nil, err
	}
	return ObjResult{ObjType: "map", ID: in.ID, Path: a.Path}, nil
}

func mapTypeByName(s string) (bpf.MapType, bool) {
	for _, t := range []bpf.MapType{bpf.MapHash, bpf.MapArray, bpf.MapPercpuHash, bpf.MapPercpuArray} {
		if t.String() == s {
			return t, true
		}
	}
	return 0, false
}

// iterOrder is enum bpf_cgroup_iter_order by the name the CLI uses.
func iterOrder(s string) (uint32, bool) {
	switch s {
	case "":
		return 0, true // BPF_CGROUP_ITER_ORDER_UNSPEC
	case "self":
		return 1, true // BPF_CGROUP_ITER_SELF_ONLY
	case "pre":
		return 2, true // BPF_CGROUP_ITER_DESCENDANTS_PRE
	case "post":
		return 3, true // BPF_CGROUP_ITER_DESCENDANTS_POST
	case "up":
		return 4, true // BPF_CGROUP_ITER_ANCESTORS_UP
	}
	return 0, false
}

func (c *conn) opLinkCreate(a LinkCreateArgs) (any, error) {
	if a.Prog == "" || a.Link == "" {
		return nil, fmt.Errorf("link create: PROG_PATH and LINK_PATH: %w", unix.EINVAL)
	}
	order, ok := iterOrder(a.Order)
	if !ok {
		return nil, fmt.Errorf("link create: unknown order %q (self, pre, post, up): %w", a.Order, unix.EINVAL)
	}
	var res ObjResult
	err := c.withObj(a.Prog, 0, func(pfd int) error {
		attr := kernel.LinkCreateAttr{Order: order}
		if a.Cgroup != "" {
			// The start cgroup goes by fd, as BPF_LINK_CREATE's
			// iter_info.cgroup.cgroup_fd does: an O_RDONLY fd of the
			// cgroup directory.
			cfd, err := c.proc.Open(a.Cgroup, unix.O_RDONLY|unix.O_DIRECTORY, 0)
			if err != nil {
				return fmt.Errorf("link create: cgroup: %w", err)
			}
			defer c.proc.Close(cfd)
			attr.CgroupFD = cfd
		}
		lfd, err := c.proc.LinkCreate(pfd, attr)
		if err != nil {
			return fmt.Errorf("link create: BPF_LINK_CREATE: %w", err)
		}
		defer c.proc.Close(lfd)
		if err := c.proc.ObjPin(lfd, a.Link); err != nil {
			return err
		}
		in, err := c.proc.ObjInfo(lfd)
		if err != nil {
			return err
		}
		res = ObjResult{ObjType: "link", ID: in.ID, Path: a.Link}
		return nil
	})
	return res, err
}

func (c *conn) opPin(a PinArgs) (any, error) {
	var res ObjResult
	err := c.withObj(a.Src, 0, func(fd int) error {
		if err := c.proc.ObjPin(fd, a.Dst); err != nil {
			return err
		}
		in, err := c.proc.ObjInfo(fd)
		if err != nil {
			return err
		}
		res = ObjResult{ObjType: in.ObjType, ID: in.ID, Path: a.Dst, Exposed: c.exposed(a.Dst)}
		return nil
	})
	return res, err
}

// exposed reports whether p is one of the RFC's kernfs exposures.
func (c *conn) exposed(p string) bool {
	m := c.srv.cfg.Machine
	in, err := m.VFS().Resolve(vfs.RootCaller(), p, false)
	if err != nil {
		return false
	}
	_, ok := m.View().ExposureOf(in)
	return ok
}

func objTypeByName(s string) (bpf.ObjType, bool) {
	for _, t := range []bpf.ObjType{bpf.TypeProg, bpf.TypeMap, bpf.TypeLink} {
		if t.String() == s {
			return t, true
		}
	}
	return 0, false
}

func (c *conn) opShow(a ShowArgs) (any, error) {
	t, ok := objTypeByName(a.Type)
	if !ok {
		return nil, fmt.Errorf("show: unknown object type %q (prog, map, link): %w", a.Type, unix.EINVAL)
	}
	m := c.srv.cfg.Machine
	pins := PinnedPaths(m.VFS(), kernel.BPFFSPath)
	exposed := map[pinKey][]string{}
	for _, e := range m.View().Exposures() {
		k := pinKey{e.ObjType.String(), e.ObjID}
		exposed[k] = append(exposed[k], e.Path)
	}
	out := ShowResult{Objects: []Object{}}
	for _, in := range m.Objects(t) {
		k := pinKey{in.ObjType, in.ID}
		sort.Strings(exposed[k])
		out.Objects = append(out.Objects, Object{Info: in, Pinned: pins[k], Exposed: exposed[k]})
	}
	return out, nil
}

type pinKey struct {
	typ string
	id  uint32
}

// PinnedPaths walks the bpffs mounted at root in v (as root, not
// following symlinks) and lists, per object, the paths of the inodes that
// pin it, sorted.
func PinnedPaths(v *vfs.VFS, root string) map[pinKey][]string {
	out := map[pinKey][]string{}
	c := vfs.RootCaller()
	var walk func(dir string, depth int)
	walk = func(dir string, depth int) {
		if depth > 64 {
			return
		}
		ents, err := v.ReadDir(c, dir)
		if err != nil {
			return
		}
		for _, e := range ents {
			p := path.Join(dir, e.Name)
			switch e.Type {
			case vfs.S_IFDIR:
				walk(p, depth+1)
			case vfs.S_IFREG:
				in, err := v.Resolve(c, p, false)
				if err != nil {
					continue
				}
				if o, ok := bpffs.ObjectOf(in); ok && !o.Freed() {
					k := pinKey{o.ObjType().String(), o.ID()}
					out[k] = append(out[k], p)
				}
			}
		}
	}
	walk(root, 0)
	for _, ps := range out {
		sort.Strings(ps)
	}
	return out
}

func (c *conn) opMapDump(a PathArgs) (any, error) {
	var res MapDumpResult
	err := c.withObj(a.Path, kernel.BPF_F_RDONLY, func(fd int) error {
		in, err := c.proc.ObjInfo(fd)
		if err != nil {
			return err
		}
		if in.ObjType != "map" {
			return fmt.Errorf("map dump %s: a %s, not a map: %w", a.Path, in.ObjType, unix.EINVAL)
		}
		res.KeySize, res.ValueSize = in.KeySize, in.ValueSize
		res.Entries = []MapEntry{}
		var key []byte
		for range int(in.MaxEntries) + 1 {
			next, err := c.proc.MapGetNextKey(fd, key)
			if errors.Is(err, unix.ENOENT) {
				return nil
			}
			if err != nil {
				return err
			}
			val, err := c.proc.MapLookup(fd, next)
			if errors.Is(err, unix.ENOENT) { // deleted meanwhile
				key = next
				continue
			}
			if err != nil {
				return err
			}
			res.Entries = append(res.Entries, MapEntry{Key: next, Value: val})
			key = next
		}
		return nil
	})
	return res, err
}

func (c *conn) opMapLookup(a MapKeyArgs) (any, error) {
	var res MapEntry
	err := c.withObj(a.Path, kernel.BPF_F_RDONLY, func(fd int) error {
		v, err := c.proc.MapLookup(fd, a.Key)
		if err != nil {
			return fmt.Errorf("map lookup %s: %w", a.Path, err)
		}
		res = MapEntry{Key: a.Key, Value: v}
		return nil
	})
	return res, err
}

func (c *conn) opMapUpdate(a MapKeyArgs) (any, error) {
	err := c.withObj(a.Path, kernel.BPF_F_WRONLY, func(fd int) error {
		if err := c.proc.MapUpdate(fd, a.Key, a.Value, a.Flags); err != nil {
			return fmt.Errorf("map update %s: %w", a.Path, err)
		}
		return nil
	})
	return struct{}{}, err
}

func (c *conn) opMapDelete(a MapKeyArgs) (any, error) {
	err := c.withObj(a.Path, kernel.BPF_F_WRONLY, func(fd int) error {
		if err := c.proc.MapDelete(fd, a.Key); err != nil {
			return fmt.Errorf("map delete %s: %w", a.Path, err)
		}
		return nil
	})
	return struct{}{}, err
}

func (c *conn) opProgRun(a ProgRunArgs) (any, error) {
	var res ProgRunResult
	err := c.withObj(a.Path, 0, func(fd int) error {
		rv, ctx, dur, err := c.proc.ProgTestRun(fd, a.Ctx, a.Repeat)
		if err != nil {
			return fmt.Errorf("prog run %s: BPF_PROG_TEST_RUN: %w", a.Path, err)
		}
		res = ProgRunResult{Retval: rv, CtxOut: ctx, DurationNs: dur.Nanoseconds()}
		return nil
	})
	return res, err
}

func (c *conn) opObjGet(a ObjGetArgs) (any, error) {
	var flags uint32
	switch a.Flags {
	case "":
	case "rdonly":
		flags = kernel.BPF_F_RDONLY
	case "wronly":
		flags = kernel.BPF_F_WRONLY
	default:
		return nil, fmt.Errorf("obj get: flags %q (rdonly, wronly): %w", a.Flags, unix.EINVAL)
	}
	fd, err := c.proc.ObjGet(a.Path, flags)
	if err != nil {
		return nil, err
	}
	in, err := c.proc.ObjInfo(fd)
	if err != nil {
		return nil, err
	}
	return FDResult{FD: fd, ObjType: in.ObjType, ID: in.ID}, nil
}

func (c *conn) opClose(a CloseArgs) (any, error) { return struct{}{}, c.proc.Close(a.FD) }

func (c *conn) opFDs(json.RawMessage) (any, error) {
	fds := c.proc.FDs()
	if fds == nil {
		fds = []int{}
	}
	return FDsResult{FDs: fds}, nil
}

func (c *conn) opStat(a PathArgs) (any, error) {
	st, err := c.proc.Lstat(a.Path)
	if err != nil {
		return nil, err
	}
	return StatResult{Ino: st.Ino, Mode: st.Mode, Nlink: st.Nlink, UID: st.UID, GID: st.GID, Size: st.Size}, nil
}

// TypeName names an S_IFMT file type.
func TypeName(mode uint32) string {
	switch mode & vfs.S_IFMT {
	case vfs.S_IFDIR:
		return "dir"
	case vfs.S_IFREG:
		return "file"
	case vfs.S_IFLNK:
		return "symlink"
	case vfs.S_IFIFO:
		return "fifo"
	case vfs.S_IFSOCK:
		return "socket"
	case vfs.S_IFCHR:
		return "char"
	case vfs.S_IFBLK:
		return "block"
	}
	return "unknown"
}

func (c *conn) opReadDir(a PathArgs) (any, error) {
	ents, err := c.proc.ReadDir(a.Path)
	if err != nil {
		return nil, err
	}
	out := ReadDirResult{Entries: make([]Dirent, 0, len(ents))}
	for _, e := range ents {
		out.Entries = append(out.Entries, Dirent{Name: e.Name, Ino: e.Ino, Type: TypeName(e.Type)})
	}
	return out, nil
}

func (c *conn) opReadFile(a FileArgs) (any, error) {
	b, err := c.proc.ReadFile(a.Path)
	if err != nil {
		return nil, err
	}
	return FileResult{Data: b}, nil
}

func (c *conn) opWriteFile(a FileArgs) (any, error) {
	return struct{}{}, c.proc.WriteFile(a.Path, a.Data)
}

func (c *conn) opMkdir(a MkdirArgs) (any, error) {
	mode := a.Mode
	if mode == 0 {
		mode = 0755
	}
	return struct{}{}, c.proc.Mkdir(a.Path, mode)
}

func (c *conn) opRmdir(a PathArgs) (any, error)  { return struct{}{}, c.proc.Rmdir(a.Path) }
func (c *conn) opUnlink(a PathArgs) (any, error) { return struct{}{}, c.proc.Unlink(a.Path) }
func (c *conn) opRename(a RenameArgs) (any, error) {
	return struct{}{}, c.proc.Rename(a.Old, a.New, a.Flags)
}

// MaxSchedRun is the most ticks one sched.run request may take.
const MaxSchedRun = 1000000

func (c *conn) opSchedRun(a SchedRunArgs) (any, error) {
	s := c.srv.cfg.Sched
	if s == nil {
		return nil, errNoKernelAPI("sched run (no scheduler)")
	}
	if a.Ticks < 0 || a.Ticks > MaxSchedRun {
		return nil, fmt.Errorf("sched run: %d ticks (0 to %d): %w", a.Ticks, MaxSchedRun, unix.EINVAL)
	}
	// Failing program runs are counted in the status, as in the
	// background.
	_ = s.Run(a.Ticks)
	return SchedResult{Status: s.Status()}, nil
}

func (c *conn) opSchedShow(json.RawMessage) (any, error) {
	s := c.srv.cfg.Sched
	if s == nil {
		return nil, errNoKernelAPI("sched show (no scheduler)")
	}
	res := SchedResult{Status: s.Status(), Tasks: []SchedTask{}}
	for _, ts := range s.Tasks() {
		t := SchedTask{TaskStats: ts}
		if tk := c.srv.cfg.Machine.Task(ts.Pid); tk != nil {
			if cg := tk.Cgroup(); cg != nil {
				t.Cgroup, t.CgroupID = cgroupSimPath(cg), cg.ID()
			}
		}
		res.Tasks = append(res.Tasks, t)
	}
	return res, nil
}

// errNoKernelAPI marks a request whose kernel side this daemon lacks.
func errNoKernelAPI(what string) error {
	return fmt.Errorf("%s: not in this daemon's simulated kernel: %w", what, syscall.ENOSYS)
}
