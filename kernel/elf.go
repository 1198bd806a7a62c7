package kernel

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/simfs/simfs/bpf"
	"github.com/simfs/simfs/loader"
	"golang.org/x/sys/unix"
)

// OpenObject parses a clang-built BPF ELF object and CO-RE-relocates its
// programs against the machine's kernel types (Layout().Spec()), as libbpf's
// bpf_object__open does against /sys/kernel/btf/vmlinux. It creates nothing:
// set global variables with loader.Object.SetVariable, as a skeleton's
// "skel->bss->x = v" does, then create the maps and programs with
// Process.LoadObject. A relocation the machine's types cannot satisfy
// poisons its instruction, as libbpf does: the load succeeds and a run that
// reaches it fails naming the field.
func (m *Machine) OpenObject(r io.ReaderAt) (*loader.Object, error) {
	target, err := m.Layout().Spec()
	if err != nil {
		return nil, fmt.Errorf("kernel BTF: %w", err)
	}
	return loader.Load(r, target)
}

// OpenObjectFile is OpenObject on the file at path (a path of the host,
// not of the machine).
func (m *Machine) OpenObjectFile(path string) (*loader.Object, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	obj, err := m.OpenObject(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return obj, nil
}

// LoadObjectOptions select what Process.LoadObject loads.
type LoadObjectOptions struct {
	// Programs names the programs to load (nil: all of them), as libbpf's
	// bpf_program__set_autoload(prog, false) leaves the others out. Maps
	// are created all the same.
	Programs []string
}

// ObjectFDs are the fds Process.LoadObject installed. They belong to the
// caller: Close closes them all, and so does the process's exit.
type ObjectFDs struct {
	// Maps are the map fds by the name references use: the ELF symbol of
	// a map ("wait_map"), the section of global data (".bss", ".rodata").
	Maps map[string]int
	// Progs are the program fds by program (function) name.
	Progs map[string]int
	// Logs are the verifier logs by program name.
	Logs map[string]string

	p *Process
}

// Close closes every fd of the object. Objects nothing else holds are
// freed.
func (o *ObjectFDs) Close() {
	for _, fd := range o.Progs {
		o.p.Close(fd)
	}
	for _, fd := range o.Maps {
		o.p.Close(fd)
	}
	o.Progs, o.Maps = map[string]int{}, map[string]int{}
}

// LoadObject is the kernel-facing half of libbpf's bpf_object__load for an
// object from Machine.OpenObject: BPF_MAP_CREATE for every map (global
// data as one-entry array maps initialised with the section's bytes, the
// ".rodata" ones read-only for programs and frozen; other maps filled with
// their initial contents and frozen if the object says so), then
// BPF_PROG_LOAD for each program, its section choosing its type, its map
// and global-data references resolved to the new maps, and its
// CO-RE-poisoned instructions passed on so that a run reaching one names
// the field.
//
// Like libbpf, which fails the whole load when one program does not load,
// LoadObject refuses an object with a program whose section no simulated
// program type has (EINVAL, naming the program and the section) before it
// creates anything; leave such programs out with opts.Programs. On any
// error every fd created so far is closed.
//
// The object must have been relocated against this machine's types:
// a field offset that disagrees with the machine's layout is EINVAL.
func (p *Process) LoadObject(obj *loader.Object, opts LoadObjectOptions) (*ObjectFDs, error) {
	progs, err := p.selectPrograms(obj, opts.Programs)
	if err != nil {
		return nil, err
	}
	if err := p.m.checkRelocated(progs); err != nil {
		return nil, err
	}
	fds := &ObjectFDs{Maps: map[string]int{}, Progs: map[string]int{}, Logs: map[string]string{}, p: p}
	ok := false
	defer func() {
		if !ok {
			fds.Close()
		}
	}()
	for _, mp := range obj.Maps {
		fd, err := p.createObjectMap(mp)
		if err != nil {
			return nil, err
		}
		fds.Maps[mp.Name] = fd
	}
	for _, pr := range progs {
		fd, log, err := p.ProgLoad(ProgLoadAttr{
			Section:  pr.Section,
			Name:     objName(pr.Name),
			License:  firstNonEmpty(pr.License, obj.License),
			Insns:    pr.Instructions,
			Maps:     fds.Maps,
			Poisoned: pr.Poisoned,
		})
		fds.Logs[pr.Name] = log
		if err != nil {
			return nil, fmt.Errorf("prog %s (%s): BPF_PROG_LOAD: %w%s", pr.Name, pr.Section, err, poisonNote(pr))
		}
		fds.Progs[pr.Name] = fd
	}
	ok = true
	return fds, nil
}

// poisonNote explains a failed load of a program with CO-RE-poisoned
// instructions, as libbpf rewrites the verifier's complaint about one into
// the relocation that failed: the check that refused the program may have
// met the poisoned instruction's missing result first.
func poisonNote(pr *loader.Program) string {
	if len(pr.Poisoned) == 0 {
		return ""
	}
	slots := make([]int, 0, len(pr.Poisoned))
	for s := range pr.Poisoned {
		slots = append(slots, s)
	}
	sort.Ints(slots)
	msgs := make([]string, len(slots))
	for i, s := range slots {
		msgs[i] = pr.Poisoned[s]
	}
	return " (its CO-RE relocations against this machine's types failed: " + strings.Join(msgs, "; ") + ")"
}

// selectPrograms picks the programs to load and checks that the simulator
// has a type for each.
func (p *Process) selectPrograms(obj *loader.Object, names []string) ([]*loader.Program, error) {
	progs := obj.Programs
	if names != nil {
		progs = nil
		for _, n := range names {
			pr := obj.Program(n)
			if pr == nil {
				return nil, fmt.Errorf("no program %q in the object: %w", n, unix.ENOENT)
			}
			progs = append(progs, pr)
		}
	}
	for _, pr := range progs {
		if _, _, _, err := p.m.bpf.LookupProgType(pr.Section); err != nil {
			return nil, fmt.Errorf("prog %s: section %q is not a program type simfs simulates (it has %s): %w",
				pr.Name, pr.Section, strings.Join(p.m.progTypeNames(), ", "), errnoOr(err, unix.EINVAL))
		}
	}
	return progs, nil
}

func (m *Machine) progTypeNames() []string {
	var names []string
	for _, pt := range m.bpf.ProgTypes() {
		n := pt.Name
		if pt.Prefix {
			n += "<target>"
		}
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// checkRelocated compares the field offsets CO-RE relocation wrote into
// the programs with the machine's layout, so that an object relocated for
// other kernel types cannot read the wrong bytes silently.
func (m *Machine) checkRelocated(progs []*loader.Program) error {
	l := m.Layout()
	for _, pr := range progs {
		for _, r := range pr.CORE {
			if r.Poisoned || r.Kind != "byte_off" {
				continue
			}
			st, path, ok := strings.Cut(r.Field, ".")
			if !ok {
				continue
			}
			off, err := l.Offset(st, path)
			if err != nil {
				continue // a type the layout does not have: nothing to compare
			}
			if uint64(off) != r.Target {
				return fmt.Errorf("prog %s: CO-RE put %s at byte %d, but this machine's %s layout has it at %d: the object was relocated against other kernel types (open it with Machine.OpenObject): %w",
					pr.Name, r.Field, r.Target, l.Name(), off, unix.EINVAL)
			}
		}
	}
	return nil
}

// createObjectMap creates one of an object's maps and fills it.
func (p *Process) createObjectMap(mp *loader.Map) (int, error) {
	spec := bpf.MapSpec{
		Type: bpf.MapType(mp.Type), KeySize: mp.KeySize, ValueSize: mp.ValueSize,
		MaxEntries: mp.MaxEntries, Flags: mp.Flags, Name: objName(mp.Name),
	}
	if mp.Key != nil || mp.Value != nil {
		spec.BTF = &bpf.MapBTF{Key: mp.Key, Value: mp.Value}
	}
	data := mp.Data()
	if data != nil {
		spec.Contents = data
		spec.Frozen = mp.Frozen
	}
	fd, err := p.MapCreate(spec)
	if err != nil {
		return -1, fmt.Errorf("map %s (%v): BPF_MAP_CREATE: %w", mp.Name, mp.Type, err)
	}
	if data == nil {
		for _, kv := range mp.Contents {
			if err := p.MapUpdate(fd, kv.Key, kv.Value, bpf.UpdateAny); err != nil {
				p.Close(fd)
				return -1, fmt.Errorf("map %s: initial contents: %w", mp.Name, err)
			}
		}
		if mp.Frozen {
			if err := p.MapFreeze(fd); err != nil {
				p.Close(fd)
				return -1, fmt.Errorf("map %s: BPF_MAP_FREEZE: %w", mp.Name, err)
			}
		}
	}
	return fd, nil
}

// objName is a kernel object name: at most BPF_OBJ_NAME_LEN-1 bytes, as
// libbpf truncates it.
func objName(n string) string {
	if len(n) > 15 {
		n = n[:15]
	}
	return n
}

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}

// errnoOr returns the errno err wraps, or def.
func errnoOr(err error, def unix.Errno) unix.Errno {
	var e unix.Errno
	if errors.As(err, &e) {
		return e
	}
	return def
}
