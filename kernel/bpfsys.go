package kernel

import (
	"fmt"
	"time"

	"github.com/cilium/ebpf/asm"
	"github.com/simfs/simfs/bpf"
	"github.com/simfs/simfs/bpffs"
	"github.com/simfs/simfs/cgroupiter"
	"github.com/simfs/simfs/events"
	"github.com/simfs/simfs/vfs"
	"golang.org/x/sys/unix"
)

// BPF_OBJ_GET file flags.
const (
	BPF_F_RDONLY = 1 << 3
	BPF_F_WRONLY = 1 << 4
)

func (p *Process) object(fd int) (bpf.Object, *fdEntry, error) {
	e, err := p.entry(fd)
	if err != nil {
		return nil, nil, err
	}
	if e.obj == nil {
		return nil, nil, unix.EINVAL
	}
	return e.obj, e, nil
}

func (p *Process) installObj(o bpf.Object, flags int) (int, error) {
	fd, err := p.install(&fdEntry{obj: o, flags: flags})
	if err != nil {
		o.Put()
		return -1, err
	}
	return fd, nil
}

// ProgLoadAttr is BPF_PROG_LOAD's attributes.
type ProgLoadAttr struct {
	// Section selects the type ("view/cgroup", "iter/cgroup", "syscall", ...).
	Section string
	Name    string
	License string
	// Insns or Raw is the program. Map references are lddw with src 1
	// (map fd in imm) or 2 (map fd in imm, value offset in the next imm),
	// as user space passes them; instructions carrying a cilium/ebpf map
	// reference by name are resolved through Maps.
	Insns asm.Instructions
	Raw   []byte
	// Maps resolves references by name (ELF objects) to map fds.
	Maps map[string]int
	// Poisoned names CO-RE relocations that failed, by instruction index.
	Poisoned map[int]string
}

// ProgLoad is BPF_PROG_LOAD. It returns the fd and the verifier log.
func (p *Process) ProgLoad(a ProgLoadAttr) (int, string, error) {
	resolve := func(slot int, ins asm.Instruction) (*bpf.Map, error) {
		fd := int(int32(uint32(ins.Constant)))
		if ref := ins.Reference(); ref != "" && a.Maps != nil {
			mfd, ok := a.Maps[ref]
			if !ok {
				return nil, fmt.Errorf("unresolved map reference %q: %w", ref, unix.EINVAL)
			}
			fd = mfd
		}
		o, _, err := p.object(fd)
		if err != nil {
			return nil, fmt.Errorf("fd %d is not a map: %w", fd, unix.EBADF)
		}
		m, ok := o.(*bpf.Map)
		if !ok {
			return nil, fmt.Errorf("fd %d is not a map: %w", fd, unix.EINVAL)
		}
		return m, nil
	}
	prog, log, err := p.m.bpf.LoadProg(bpf.ProgSpec{Section: a.Section, Name: a.Name, License: a.License, Insns: a.Insns, Raw: a.Raw, ResolveMap: resolve, Poisoned: a.Poisoned})
	if err != nil {
		return -1, log, err
	}
	fd, err := p.installObj(prog, unix.O_RDWR)
	return fd, log, err
}

// MapCreate is BPF_MAP_CREATE.
func (p *Process) MapCreate(spec bpf.MapSpec) (int, error) {
	m, err := p.m.bpf.CreateMap(spec)
	if err != nil {
		return -1, err
	}
	return p.installObj(m, unix.O_RDWR)
}

func (p *Process) mapFD(fd int) (*bpf.Map, *fdEntry, error) {
	o, e, err := p.object(fd)
	if err != nil {
		return nil, nil, err
	}
	m, ok := o.(*bpf.Map)
	if !ok {
		return nil, nil, unix.EINVAL
	}
	return m, e, nil
}

// MapLookup is BPF_MAP_LOOKUP_ELEM.
func (p *Process) MapLookup(fd int, key []byte) ([]byte, error) {
	m, e, err := p.mapFD(fd)
	if err != nil {
		return nil, err
	}
	if e.flags&unix.O_ACCMODE == unix.O_WRONLY {
		return nil, unix.EPERM
	}
	return m.Lookup(key)
}

// MapUpdate is BPF_MAP_UPDATE_ELEM.
func (p *Process) MapUpdate(fd int, key, value []byte, flags uint64) error {
	m, e, err := p.mapFD(fd)
	if err != nil {
		return err
	}
	if e.flags&unix.O_ACCMODE == unix.O_RDONLY {
		return unix.EPERM
	}
	return m.Update(key, value, flags)
}

// MapDelete is BPF_MAP_DELETE_ELEM.
func (p *Process) MapDelete(fd int, key []byte) error {
	m, e, err := p.mapFD(fd)
	if err != nil {
		return err
	}
	if e.flags&unix.O_ACCMODE == unix.O_RDONLY {
		return unix.EPERM
	}
	return m.Delete(key)
}

// MapGetNextKey is BPF_MAP_GET_NEXT_KEY.
func (p *Process) MapGetNextKey(fd int, key []byte) ([]byte, error) {
	m, e, err := p.mapFD(fd)
	if err != nil {
		return nil, err
	}
	if e.flags&unix.O_ACCMODE == unix.O_WRONLY {
		return nil, unix.EPERM
	}
	return m.NextKey(key)
}

// MapFreeze is BPF_MAP_FREEZE.
func (p *Process) MapFreeze(fd int) error {
	m, _, err := p.mapFD(fd)
	if err != nil {
		return err
	}
	return m.Freeze()
}

// LinkCreateAttr is BPF_LINK_CREATE's attributes beyond the program.
type LinkCreateAttr struct {
	// CgroupFD and CgroupID select the start cgroup of a cgroup iterator
	// (at most one may be set; neither means the root).
	CgroupFD int
	CgroupID uint64
	// Order is the cgroup iterator's order (enum bpf_cgroup_iter_order).
	Order uint32
	Flags uint32
}

// LinkCreate is BPF_LINK_CREATE.
func (p *Process) LinkCreate(progFD int, a LinkCreateAttr) (int, error) {
	o, _, err := p.object(progFD)
	if err != nil {
		return -1, err
	}
	prog, ok := o.(*bpf.Prog)
	if !ok {
		return -1, unix.EINVAL
	}
	if err := cgroupiter.CheckAttr(prog, a.Order, a.Flags); err != nil {
		return -1, err
	}
	attr := bpf.LinkAttr{Order: a.Order, Flags: a.Flags}
	if a.CgroupFD != 0 && a.CgroupID != 0 {
		return -1, unix.EINVAL
	}
	if a.CgroupFD != 0 || a.CgroupID != 0 {
		target, err := p.cgroupTarget(a.CgroupFD, a.CgroupID)
		if err != nil {
			return -1, err
		}
		attr.Target = target
	}
	l, err := p.m.bpf.CreateLink(prog, attr)
	if err != nil {
		return -1, err
	}
	return p.installObj(l, unix.O_RDWR)
}

// ObjPin is BPF_OBJ_PIN: bpf_obj_pin_user and bpf_obj_do_pin, with the RFC's
// dispatch on the target directory's file system.
func (p *Process) ObjPin(fd int, path string) error {
	o, _, err := p.object(fd)
	if err != nil {
		// bpf_fd_probe_obj: not a map, prog or link.
		return &vfs.PathError{Op: "BPF_OBJ_PIN", Path: path, Err: unix.EINVAL}
	}
	o.Get()
	c := p.caller()
	kind := events.Pinned
	_, err = p.m.vfs.CreateAt(c, path, func(t *vfs.Txn, dir *vfs.Inode, name string) (*vfs.Inode, error) {
		switch {
		case p.m.exposer != nil && p.m.exposer.IsKernfsDir(dir):
			kind = events.Exposed
			return p.m.exposer.Expose(t, c, dir, name, o, path)
		case bpffs.IsDir(dir):
			fs, ok := p.m.bpffsOf(dir)
			if !ok {
				return nil, unix.EPERM
			}
			return fs.Pin(t, c, dir, name, o, path)
		}
		return nil, unix.EPERM
	})
	if err != nil {
		o.Put()
		return &vfs.PathError{Op: "BPF_OBJ_PIN", Path: path, Err: vfs.Errno(err)}
	}
	if kind == events.Exposed {
		// kernfs holds no reference on the object: "exposing", not pinning.
		o.Put()
	}
	p.m.bus.Emit(events.Event{Kind: kind, ObjType: o.ObjType().String(), ObjID: o.ID(), Path: path})
	return nil
}

// ObjGet is BPF_OBJ_GET (bpf_obj_get_user): flags are BPF_F_RDONLY or
// BPF_F_WRONLY or neither.
func (p *Process) ObjGet(path string, flags uint32) (int, error) {
	fail := func(e error) (int, error) {
		return -1, &vfs.PathError{Op: "BPF_OBJ_GET", Path: path, Err: vfs.Errno(e)}
	}
	if flags&^uint32(BPF_F_RDONLY|BPF_F_WRONLY) != 0 || flags == BPF_F_RDONLY|BPF_F_WRONLY {
		return fail(unix.EINVAL)
	}
	acc, mask := unix.O_RDWR, uint32(vfs.MayRead|vfs.MayWrite)
	switch flags {
	case BPF_F_RDONLY:
		acc, mask = unix.O_RDONLY, vfs.MayRead
	case BPF_F_WRONLY:
		acc, mask = unix.O_WRONLY, vfs.MayWrite
	}
	c := p.caller()
	in, err := p.m.vfs.Resolve(c, path, true)
	if err != nil {
		return fail(err)
	}
	if err := p.m.vfs.Permission(c, in, mask); err != nil {
		return fail(err)
	}
	o, ok := bpffs.ObjectOf(in)
	if !ok || o.Freed() {
		return fail(unix.EACCES)
	}
	switch o.(type) {
	case *bpf.Prog:
		acc = unix.O_RDWR
	case *bpf.Link:
		if acc != unix.O_RDWR {
			return fail(unix.EINVAL)
		}
	}
	o.Get()
	return p.installObj(o, acc)
}

// ObjInfo is BPF_OBJ_GET_INFO_BY_FD for any object.
func (p *Process) ObjInfo(fd int) (Info, error) {
	o, _, err := p.object(fd)
	if err != nil {
		return Info{}, err
	}
	return p.m.info(o), nil
}

// ProgTestRun is BPF_PROG_TEST_RUN.
func (p *Process) ProgTestRun(fd int, ctx []byte, repeat int) (retval uint64, ctxOut []byte, dur time.Duration, err error) {
	o, _, err := p.object(fd)
	if err != nil {
		return 0, nil, 0, err
	}
	prog, ok := o.(*bpf.Prog)
	if !ok {
		return 0, nil, 0, unix.EINVAL
	}
	return prog.TestRun(ctx, repeat)
}

// GetFDByID is BPF_{PROG,MAP,LINK}_GET_FD_BY_ID (CAP_SYS_ADMIN only).
func (p *Process) GetFDByID(t bpf.ObjType, id uint32) (int, error) {
	if p.cred.UID != 0 {
		return -1, unix.EPERM
	}
	var o bpf.Object
	var err error
	switch t {
	case bpf.TypeProg:
		o, err = p.m.bpf.ProgByID(id)
	case bpf.TypeMap:
		o, err = p.m.bpf.MapByID(id)
	case bpf.TypeLink:
		o, err = p.m.bpf.LinkByID(id)
	default:
		return -1, unix.EINVAL
	}
	if err != nil {
		return -1, err
	}
	return p.installObj(o, unix.O_RDWR)
}

// IterCreate is BPF_ITER_CREATE: an anonymous iterator session on an
// iterator link. The fd does not hold the link.
func (p *Process) IterCreate(linkFD int) (int, error) {
	o, _, err := p.object(linkFD)
	if err != nil {
		return -1, err
	}
	l, ok := o.(*bpf.Link)
	if !ok {
		return -1, unix.EINVAL
	}
	it, ok := l.Ops().(bpf.IterLink)
	if !ok {
		return -1, unix.EINVAL
	}
	sess, err := it.NewSession(p)
	if err != nil {
		return -1, err
	}
	fd, err := p.install(&fdEntry{iter: sess})
	if err != nil {
		sess.Close()
		return -1, err
	}
	return fd, nil
}
