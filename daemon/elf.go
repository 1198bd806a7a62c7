package daemon

import (
	"bytes"
	"fmt"
	"path"
	"sort"
	"strings"

	"github.com/simfs/simfs/kernel"
	"github.com/simfs/simfs/loader"
	"golang.org/x/sys/unix"
)

// openELF parses an object and CO-RE relocates it against the machine's
// kernel types (kernel.Machine.OpenObject).
func (c *conn) openELF(data []byte) (*loader.Object, error) {
	return c.srv.cfg.Machine.OpenObject(bytes.NewReader(data))
}

func programNames(obj *loader.Object) string {
	var names []string
	for _, p := range obj.Programs {
		names = append(names, p.Name+" ("+p.Section+")")
	}
	return strings.Join(names, ", ")
}

// loadELFProg is bpftool's prog load of an object: every map is created
// and the one program loaded (kernel.Process.LoadObject with that program
// selected), then the program is pinned. The maps live on only through the
// program.
func (c *conn) loadELFProg(a ProgLoadArgs) (any, error) {
	obj, err := c.openELF(a.Object)
	if err != nil {
		return nil, fmt.Errorf("prog load: %w", err)
	}
	var p *loader.Program
	switch {
	case a.Program != "":
		if p = obj.Program(a.Program); p == nil {
			return nil, fmt.Errorf("prog load: no program %q in the object (it has %s): %w", a.Program, programNames(obj), unix.ENOENT)
		}
	case len(obj.Programs) == 1:
		p = obj.Programs[0]
	case len(obj.Programs) == 0:
		return nil, fmt.Errorf("prog load: the object has no programs: %w", unix.ENOENT)
	default:
		return nil, fmt.Errorf("prog load: the object has several programs (%s): pick one with --prog NAME, or use prog loadall: %w", programNames(obj), unix.EINVAL)
	}
	if a.Type != "" && a.Type != p.Section {
		return nil, fmt.Errorf("prog load: --type %s, but the object's section is %s: %w", a.Type, p.Section, unix.EINVAL)
	}
	fds, err := c.proc.LoadObject(obj, kernel.LoadObjectOptions{Programs: []string{p.Name}})
	if err != nil {
		return nil, fmt.Errorf("prog load: %w", err)
	}
	defer fds.Close()
	fd := fds.Progs[p.Name]
	if err := c.proc.ObjPin(fd, a.Path); err != nil {
		return nil, err
	}
	in, err := c.proc.ObjInfo(fd)
	if err != nil {
		return nil, err
	}
	res := ProgLoadResult{ID: in.ID, Type: in.ProgType, Name: in.Name, Path: a.Path, Log: fds.Logs[p.Name]}
	for _, ref := range p.MapRefs {
		mi, err := c.proc.ObjInfo(fds.Maps[ref.Map])
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
	obj, err := c.openELF(a.Object)
	if err != nil {
		return nil, fmt.Errorf("prog loadall: %w", err)
	}
	fds, err := c.proc.LoadObject(obj, kernel.LoadObjectOptions{})
	if err != nil {
		return nil, fmt.Errorf("prog loadall: %w", err)
	}
	defer fds.Close()
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
	for _, p := range obj.Programs {
		if err := pin(fds.Progs[p.Name], p.Name); err != nil {
			return nil, fmt.Errorf("prog loadall: %w", err)
		}
	}
	names := make([]string, 0, len(fds.Maps))
	for n := range fds.Maps {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if err := pin(fds.Maps[n], n); err != nil {
			return nil, fmt.Errorf("prog loadall: %w", err)
		}
	}
	return res, nil
}
