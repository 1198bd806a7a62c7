package loader

import (
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"sort"
	"strings"
	"syscall"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
	"golang.org/x/sys/unix"
)

// MaxValueSize is the largest global data section Load accepts: the
// kernel's KMALLOC_MAX_SIZE (4 MiB on x86-64), above which BPF_MAP_CREATE
// refuses an array map's value size with E2BIG.
const MaxValueSize = 4 << 20

// Options configure LoadWithOptions.
type Options struct {
	// Target is the BTF that CO-RE relocations are computed against (the
	// simulator's vmlinux). It may be nil only for objects without CO-RE
	// relocations.
	Target *btf.Spec
	// Strict fails the load, naming the field, when a CO-RE relocation
	// cannot be satisfied, instead of poisoning the instruction.
	Strict bool
}

// Object is a loaded ELF object: its programs, ready to instantiate, and the
// maps they reference.
type Object struct {
	// License is the "license" section's string.
	License string
	// KernelVersion is the "version" section's value (0 if absent).
	KernelVersion uint32
	// Programs in name order.
	Programs []*Program
	// Maps in name order: BTF-defined, legacy and global-data maps.
	Maps []*Map
	// Variables are the global (non-static) variables in global-data
	// sections, in name order.
	Variables []*Variable
	// BTF is the object's own BTF (nil if it has none). CO-RE local type ids
	// and Map.Key/Value types refer to it.
	BTF *btf.Spec
}

// Program returns the program called name, or nil.
func (o *Object) Program(name string) *Program {
	for _, p := range o.Programs {
		if p.Name == name {
			return p
		}
	}
	return nil
}

// Map returns the map called name (the name references use), or nil.
func (o *Object) Map(name string) *Map {
	for _, m := range o.Maps {
		if m.Name == name {
			return m
		}
	}
	return nil
}

// Variable returns the global variable called name, or nil.
func (o *Object) Variable(name string) *Variable {
	for _, v := range o.Variables {
		if v.Name == name {
			return v
		}
	}
	return nil
}

// SetVariable overwrites a global variable's initial value in its map's
// contents, as a libbpf skeleton's "skel->bss->x = v" before load (or
// cilium's VariableSpec.Set). value must have the variable's size. Maps
// created from the object afterwards start with the new value.
func (o *Object) SetVariable(name string, value []byte) error {
	v := o.Variable(name)
	if v == nil {
		return errorf(unix.ENOENT, nil, "no global variable %q", name)
	}
	if len(value) != int(v.Size) {
		return errorf(unix.EINVAL, nil, "variable %s has %d bytes, got %d", name, v.Size, len(value))
	}
	m := o.Map(v.Section)
	if m == nil || len(m.Contents) != 1 || uint64(v.Offset)+uint64(v.Size) > uint64(len(m.Contents[0].Value)) {
		return errorf(unix.EINVAL, nil, "variable %s lies outside section %s", name, v.Section)
	}
	copy(m.Contents[0].Value[v.Offset:], value)
	return nil
}

// Error is a load failure. errors.Is matches its Errno, and the underlying
// cilium/ebpf error, if any, is wrapped too.
type Error struct {
	Errno syscall.Errno
	Msg   string
	Err   error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return "loader: " + e.Msg + ": " + e.Err.Error()
	}
	return "loader: " + e.Msg
}

// Unwrap returns the errno and the cause.
func (e *Error) Unwrap() []error {
	if e.Err != nil {
		return []error{e.Errno, e.Err}
	}
	return []error{e.Errno}
}

func errorf(errno syscall.Errno, cause error, format string, args ...any) *Error {
	return &Error{Errno: errno, Msg: fmt.Sprintf(format, args...), Err: cause}
}

// Load parses the ELF object in r and relocates its programs against target.
// It is LoadWithOptions(r, Options{Target: target}).
func Load(r io.ReaderAt, target *btf.Spec) (*Object, error) {
	return LoadWithOptions(r, Options{Target: target})
}

// LoadFile loads the ELF object at path; see Load.
func LoadFile(path string, target *btf.Spec) (*Object, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	obj, err := Load(f, target)
	if err != nil {
		var le *Error
		if errors.As(err, &le) {
			le.Msg = path + ": " + le.Msg
		}
		return nil, err
	}
	return obj, nil
}

// LoadWithOptions parses the ELF object in r, links bpf-to-bpf calls into
// each program, and relocates every program against opts.Target.
func LoadWithOptions(r io.ReaderAt, opts Options) (*Object, error) {
	info, err := precheck(r)
	if err != nil {
		return nil, err
	}
	spec, err := ebpf.LoadCollectionSpecFromReader(r)
	if err != nil {
		return nil, errorf(unix.EINVAL, err, "malformed BPF object")
	}
	if spec.ByteOrder != binary.LittleEndian {
		return nil, errorf(unix.EINVAL, nil, "object is %v; simfs runs little-endian BPF", spec.ByteOrder)
	}

	obj := &Object{License: info.license, BTF: spec.Types}
	for name, ms := range spec.Maps {
		m, err := newMap(name, ms, info.mapSections[name])
		if err != nil {
			return nil, err
		}
		obj.Maps = append(obj.Maps, m)
	}
	sort.Slice(obj.Maps, func(i, j int) bool { return obj.Maps[i].Name < obj.Maps[j].Name })

	for name, vs := range spec.Variables {
		v := &Variable{Name: name, Section: vs.SectionName, Offset: vs.Offset, Size: uint32(vs.Size())}
		if vs.Type != nil {
			v.Type = vs.Type.Type
		}
		obj.Variables = append(obj.Variables, v)
	}
	sort.Slice(obj.Variables, func(i, j int) bool { return obj.Variables[i].Name < obj.Variables[j].Name })

	names := make([]string, 0, len(spec.Programs))
	for name := range spec.Programs {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		ps := spec.Programs[name]
		obj.KernelVersion = ps.KernelVersion
		p, err := newProgram(obj, ps, opts)
		if err != nil {
			return nil, err
		}
		obj.Programs = append(obj.Programs, p)
	}
	return obj, nil
}

// elfInfo is what Load reads from the ELF file itself: what cilium/ebpf's
// CollectionSpec does not say.
type elfInfo struct {
	// license as cilium/ebpf reads it (it reports it only per program).
	license string
	// mapSections maps map symbols to their section ("maps*" or ".maps").
	mapSections map[string]string
}

// precheck refuses, before cilium/ebpf allocates anything, ELF files whose
// section headers claim more data than the file holds, compressed sections
// that cilium/ebpf would inflate, and zero-filled global data sections
// larger than a map value may be.
func precheck(r io.ReaderAt) (elfInfo, error) {
	info := elfInfo{mapSections: map[string]string{}}
	f, err := newELF(r)
	if err != nil {
		return info, errorf(unix.EINVAL, err, "malformed ELF")
	}
	for _, s := range f.Sections {
		if s.Type == elf.SHT_NOBITS {
			if isDataSection(s.Name) && s.Size > MaxValueSize {
				return info, errorf(unix.E2BIG, nil, "section %s: %d bytes of global data, more than a map value may hold (%d)", s.Name, s.Size, MaxValueSize)
			}
			continue
		}
		if s.Type == elf.SHT_NULL || s.FileSize == 0 {
			continue
		}
		if s.Flags&elf.SHF_COMPRESSED != 0 && !strings.HasPrefix(s.Name, ".debug") {
			return info, errorf(unix.EINVAL, nil, "section %q is compressed", s.Name)
		}
		end := s.Offset + s.FileSize
		if end < s.Offset || end > math.MaxInt64 {
			return info, errorf(unix.EINVAL, nil, "section %q: offset %d + size %d overflows", s.Name, s.Offset, s.FileSize)
		}
		var b [1]byte
		if _, err := r.ReadAt(b[:], int64(end-1)); err != nil {
			return info, errorf(unix.EINVAL, nil, "section %q: %d bytes at offset %d extend past the end of the file", s.Name, s.FileSize, s.Offset)
		}
		if strings.HasPrefix(s.Name, "license") && info.license == "" && s.Size <= 4096 {
			if b, err := s.Data(); err == nil {
				info.license = strings.TrimRight(string(b), "\x00")
			}
		}
	}
	// Errors here are cilium/ebpf's to report.
	syms, _ := symbols(f)
	for _, sym := range syms {
		if int(sym.Section) >= len(f.Sections) || sym.Name == "" {
			continue
		}
		if sec := f.Sections[sym.Section].Name; sec == ".maps" || strings.HasPrefix(sec, "maps") {
			info.mapSections[sym.Name] = sec
		}
	}
	return info, nil
}

// newELF is elf.NewFile, whose known parser bugs panic on some malformed
// inputs (cilium/ebpf guards it the same way in internal.NewSafeELFFile).
func newELF(r io.ReaderAt) (f *elf.File, err error) {
	defer func() {
		if p := recover(); p != nil {
			f, err = nil, fmt.Errorf("debug/elf panicked: %v", p)
		}
	}()
	return elf.NewFile(r)
}

// symbols is f.Symbols(), guarded like newELF (and like cilium/ebpf's
// SafeELFFile.Symbols).
func symbols(f *elf.File) (syms []elf.Symbol, err error) {
	defer func() {
		if p := recover(); p != nil {
			syms, err = nil, fmt.Errorf("debug/elf panicked: %v", p)
		}
	}()
	return f.Symbols()
}

func isDataSection(name string) bool {
	return name == ".bss" || strings.HasPrefix(name, ".data") || strings.HasPrefix(name, ".rodata")
}

// cloneBytes copies b, keeping nil as nil.
func cloneBytes(b []byte) []byte { return slices.Clone(b) }
