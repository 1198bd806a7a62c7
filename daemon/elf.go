package daemon

import (
	"bytes"
	"fmt"
	"path"
	"sort"
	"strings"

	"github.com/cilium/ebpf/btf"
	"github.com/simfs/simfs/bpf"
	"github.com/simfs/simfs/kernel"
	"github.com/simfs/simfs/loader"
	"github.com/simfs/simfs/vmlinux"
	"golang.org/x/sys/unix"
)

// kernelBTF is the BTF that ELF objects are CO-RE relocated against: the
// machine's kernel types.
//
// SEAM(kernel): the machine will say which layout its kernel objects use,
// as
//
//	func (m *kernel.Machine) Layout() *vmlinux.Layout
//
// Until it does, the default layout is assumed (the one kernel memory is
// laid out with today).
func kernelBTF(m *kernel.Machine) (*btf.Spec, error) {
	l := vmlinux.Default()
	if k, ok := any(m).(interface{ Layout() *vmlinux.Layout }); ok && k.Layout() != nil {
		l = k.Layout()
	}
	return l.Spec()
}

// KernelHeader is the C header of the machine's kernel types (its
// vmlinux.h), what `simfs btf dump` prints.
func KernelHeader(m *kernel.Machine) []byte {
	l := vmlinux.Default()
	if m != nil {
		if k, ok := any(m).(interface{ Layout() *vmlinux.Layout }); ok && k.Layout() != nil {
			l = k.Layout()
		}
	}
	return l.Header()
}

// elfSet is an ELF object being instantiated in one process: its maps
// created (fds owned by the set) and its programs loaded on demand.
type elfSet struct {
	c      *conn
	obj    *loader.Object
	mapFDs map[string]int
	fds    []int
}

func (c *conn) openELF(data []byte) (*elfSet, error) {
	target, err := kernelBTF(c.srv.cfg.Machine)
	if err != nil {
		return nil, fmt.Errorf("kernel BTF: %w", err)
	}
	obj, err := loader.Load(bytes.NewReader(data), target)
	if err != nil {
		return nil, err
	}
	return &elfSet{c: c, obj: obj, mapFDs: map[string]int{}}, nil
}

func (s *elfSet) close() {
	for _, fd := range s.fds {
		s.c.proc.Close(fd)
	}
}

// mapName is the kernel name of an object's map: at most 15 bytes.
func mapName(n string) string {
	if len(n) > 15 {
		n = n[:15]
	}
	return n
}

// createMap creates one of the object's maps (once) and fills it as
// libbpf does: global data from the section, other maps from their
// initial contents, then frozen when the object says so.
func (s *elfSet) createMap(name string) (int, error) {
	if fd, ok := s.mapFDs[name]; ok {
		return fd, nil
	}
	m := s.obj.Map(name)
	if m == nil {
		return -1, fmt.Errorf("no map %q in the object: %w", name, unix.ENOENT)
	}
	spec := bpf.MapSpec{
		Type: bpf.MapType(m.Type), KeySize: m.KeySize, ValueSize: m.ValueSize,
		MaxEntries: m.MaxEntries, Flags: m.Flags, Name: mapName(m.Name),
	}
	if m.Key != nil || m.Value != nil {
		spec.BTF = &bpf.MapBTF{Key: m.Key, Value: m.Value}
	}
	if d := m.Data(); d != nil {
		spec.Contents = d
		spec.Frozen = m.Frozen
	}
	fd, err := s.c.proc.MapCreate(spec)
	if err != nil {
		return -1, fmt.Errorf("map %s: BPF_MAP_CREATE: %w", m.Name, err)
	}
	s.fds = append(s.fds, fd)
	s.mapFDs[name] = fd
	if m.Data() == nil {
		for _, kv := range m.Contents {
			if err := s.c.proc.MapUpdate(fd, kv.Key, kv.Value, bpf.UpdateAny); err != nil {
				return -1, fmt.Errorf("map %s: initial contents: %w", m.Name, err)
			}
		}
		if m.Frozen {
			if err := s.c.proc.MapFreeze(fd); err != nil {
				return -1, fmt.Errorf("map %s: freeze: %w", m.Name, err)
			}
		}
	}
	return fd, nil
}

// loadProg creates the maps p uses and loads it; the fd belongs to the
// set.
func (s *elfSet) loadProg(p *loader.Program) (int, string, error) {
	for _, ref := range p.MapRefs {
		if _, err := s.createMap(ref.Map); err != nil {
			return -1, "", fmt.Errorf("prog %s: %w", p.Name, err)
		}
	}
	license := firstNonEmpty(p.License, s.obj.License)
	fd, vlog, err := s.c.proc.ProgLoad(kernel.ProgLoadAttr{
		Section: p.Section, Name: mapName(p.Name), License: license,
		Insns: p.Instructions, Maps: s.mapFDs, Poisoned: p.Poisoned,
	})
	if err != nil {
		return -1, vlog, fmt.Errorf("prog %s (%s): BPF_PROG_LOAD: %w", p.Name, p.Section, err)
	}
	s.fds = append(s.fds, fd)
	return fd, vlog, nil
}

func (s *elfSet) programNames() string {
	var names []string
	for _, p := range s.obj.Programs {
		names = append(names, p.Name+" ("+p.Section+")")
	}
	return strings.Join(names, ", ")
}

func (c *conn) loadELFProg(a ProgLoadArgs) (any, error) {
	set, err := c.openELF(a.Object)
	if err != nil {
		return nil, fmt.Errorf("prog load: %w", err)
	}
	defer set.close()
	var p *loader.Program
	switch {
	case a.Program != "":
		if p = set.obj.Program(a.Program); p == nil {
			return nil, fmt.Errorf("prog load: no program %q in the object (it has %s): %w", a.Program, set.programNames(), unix.ENOENT)
		}
	case len(set.obj.Programs) == 1:
		p = set.obj.Programs[0]
	case len(set.obj.Programs) == 0:
		return nil, fmt.Errorf("prog load: the object has no programs: %w", unix.ENOENT)
	default:
		return nil, fmt.Errorf("prog load: the object has several programs (%s): pick one with --prog NAME, or use prog loadall: %w", set.programNames(), unix.EINVAL)
	}
	if a.Type != "" && a.Type != p.Section {
		return nil, fmt.Errorf("prog load: --type %s, but the object's section is %s: %w", a.Type, p.Section, unix.EINVAL)
	}
	fd, vlog, err := set.loadProg(p)
	if err != nil {
		return nil, fmt.Errorf("prog load: %w", err)
	}
	if err := c.proc.ObjPin(fd, a.Path); err != nil {
		return nil, err
	}
	in, err := c.proc.ObjInfo(fd)
	if err != nil {
		return nil, err
	}
	res := ProgLoadResult{ID: in.ID, Type: in.ProgType, Name: in.Name, Path: a.Path, Log: vlog}
	for _, ref := range p.MapRefs {
		mi, err := c.proc.ObjInfo(set.mapFDs[ref.Map])
		if err == nil {
			if res.Maps == nil {
				res.Maps = map[string]uint32{}
			}
			res.Maps[ref.Map] = mi.ID
		}
	}
	return res, nil
}

// pinName is a bpffs name for an object's map or program: bpffs refuses
// names with a dot, so dots become underscores (libbpf's
// sanitize_pin_path does the same).
func pinName(n string) string { return strings.ReplaceAll(n, ".", "_") }

func (c *conn) opObjLoad(a ObjLoadArgs) (any, error) {
	if a.Dir == "" {
		return nil, fmt.Errorf("prog loadall: no directory: %w", unix.EINVAL)
	}
	set, err := c.openELF(a.Object)
	if err != nil {
		return nil, fmt.Errorf("prog loadall: %w", err)
	}
	defer set.close()
	for _, m := range set.obj.Maps {
		if _, err := set.createMap(m.Name); err != nil {
			return nil, fmt.Errorf("prog loadall: %w", err)
		}
	}
	type loaded struct {
		fd   int
		prog *loader.Program
	}
	var progs []loaded
	for _, p := range set.obj.Programs {
		fd, _, err := set.loadProg(p)
		if err != nil {
			return nil, fmt.Errorf("prog loadall: %w", err)
		}
		progs = append(progs, loaded{fd, p})
	}
	if err := c.proc.Mkdir(a.Dir, 0700); err != nil && ErrnoOf(err) != unix.EEXIST {
		return nil, fmt.Errorf("prog loadall: %w", err)
	}
	var res ObjLoadResult
	pin := func(fd int, name string) error {
		p := path.Join(a.Dir, pinName(name))
		if err := c.proc.ObjPin(fd, p); err != nil {
			return err
		}
		in, err := c.proc.ObjInfo(fd)
		if err != nil {
			return err
		}
		typ := in.ProgType
		if in.ObjType == "map" {
			typ = in.MapType
		}
		res.Pinned = append(res.Pinned, Pinned{ObjType: in.ObjType, ID: in.ID, Name: name, Type: typ, Path: p})
		return nil
	}
	for _, lp := range progs {
		if err := pin(lp.fd, lp.prog.Name); err != nil {
			return nil, fmt.Errorf("prog loadall: %w", err)
		}
	}
	names := make([]string, 0, len(set.mapFDs))
	for n := range set.mapFDs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if err := pin(set.mapFDs[n], n); err != nil {
			return nil, fmt.Errorf("prog loadall: %w", err)
		}
	}
	return res, nil
}
