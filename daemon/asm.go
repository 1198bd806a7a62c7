package daemon

import (
	"encoding/binary"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/simfs/simfs/interp/bpfasm"
	"golang.org/x/sys/unix"
)

// AsmSource is text assembly with simfs's directives taken out (see the
// package documentation, "Text assembly"): the program type, name and
// license it declares and the maps it references by name.
type AsmSource struct {
	Type    string
	Name    string
	License string
	Maps    []AsmMap
	lines   []string
	refs    map[int]asmRef // line index → map reference
}

// AsmMap is a ".map NAME PATH" directive: NAME stands for the map pinned
// at PATH.
type AsmMap struct {
	Name string
	Path string
	Line int
}

type asmRef struct {
	dst   uint8
	value bool // map_value: (BPF_PSEUDO_MAP_VALUE) rather than map: (BPF_PSEUDO_MAP_FD)
	name  string
	off   uint32
}

var (
	directiveRE = regexp.MustCompile(`^\s*\.(map|type|name|license)\b\s*(.*?)\s*$`)
	mapRefRE    = regexp.MustCompile(`^\s*lddw\s+%r([0-9]+)\s*,\s*(map|map_value):([A-Za-z_][A-Za-z0-9_.]*)(?:\s*\+\s*(0x[0-9a-fA-F]+|[0-9]+))?\s*$`)
)

// stripComment removes a trailing "#", ";" or "//" comment.
func stripComment(line string) string {
	for _, c := range []string{"#", ";", "//"} {
		if i := strings.Index(line, c); i >= 0 {
			line = line[:i]
		}
	}
	return line
}

// ParseAsm reads text assembly with simfs's directives. It does not
// assemble; errors name the line.
func ParseAsm(text string) (*AsmSource, error) {
	s := &AsmSource{lines: strings.Split(text, "\n"), refs: make(map[int]asmRef)}
	seen := map[string]bool{}
	for i, raw := range s.lines {
		line := stripComment(raw)
		if m := directiveRE.FindStringSubmatch(line); m != nil {
			arg := m[2]
			switch m[1] {
			case "map":
				f := strings.Fields(arg)
				if len(f) != 2 {
					return nil, asmErr(i, ".map wants NAME PATH, got %q", arg)
				}
				if seen[f[0]] {
					return nil, asmErr(i, "map %q declared twice", f[0])
				}
				seen[f[0]] = true
				s.Maps = append(s.Maps, AsmMap{Name: f[0], Path: f[1], Line: i + 1})
			case "type":
				s.Type = arg
			case "name":
				s.Name = arg
			case "license":
				s.License = strings.Trim(arg, `"`)
			}
			s.lines[i] = ""
			continue
		}
		if !strings.Contains(line, "map") {
			continue
		}
		m := mapRefRE.FindStringSubmatch(line)
		if m == nil {
			if strings.Contains(line, "map:") || strings.Contains(line, "map_value:") {
				return nil, asmErr(i, "map references are lddw %%rN, map:NAME or map_value:NAME+OFF")
			}
			continue
		}
		dst, err := strconv.Atoi(m[1])
		if err != nil || dst > 10 {
			return nil, asmErr(i, "bad register %%r%s", m[1])
		}
		ref := asmRef{dst: uint8(dst), value: m[2] == "map_value", name: m[3]}
		if m[4] != "" {
			if !ref.value {
				return nil, asmErr(i, "an offset needs map_value:, not map:")
			}
			off, err := strconv.ParseUint(m[4], 0, 32)
			if err != nil {
				return nil, asmErr(i, "bad offset %q", m[4])
			}
			ref.off = uint32(off)
		}
		s.refs[i] = ref
	}
	for i, ref := range s.refs {
		if !seen[ref.name] {
			return nil, asmErr(i, "map %q is not declared with .map", ref.name)
		}
	}
	return s, nil
}

func asmErr(i int, format string, args ...any) error {
	return fmt.Errorf("line %d: %s: %w", i+1, fmt.Sprintf(format, args...), unix.EINVAL)
}

// Assemble translates the map references into lddw with a pseudo source
// (src 1 with the map's fd in imm, or src 2 with the fd and the value
// offset in the second imm, as user space passes them to BPF_PROG_LOAD)
// and assembles the result with bpfasm. fd returns the fd of a declared
// map in the loading process.
func (s *AsmSource) Assemble(fd func(name string) int) ([]byte, error) {
	// Each reference becomes a plain lddw of a marker constant first, so
	// that bpfasm's line numbers stay those of the text; the assembled
	// slots are then patched.
	const markerHi = 0x51df5eed
	out := make([]string, len(s.lines))
	copy(out, s.lines)
	order := make([]int, 0, len(s.refs))
	for i := range s.lines {
		if ref, ok := s.refs[i]; ok {
			out[i] = fmt.Sprintf("lddw %%r%d, 0x%08x%08x", ref.dst, markerHi, len(order))
			order = append(order, i)
		}
	}
	code, err := bpfasm.Assemble(strings.Join(out, "\n"))
	if err != nil {
		return nil, fmt.Errorf("assemble: %v: %w", err, unix.EINVAL)
	}
	patched := 0
	for off := 0; off+16 <= len(code); off += 8 {
		if code[off] != 0x18 || binary.LittleEndian.Uint32(code[off+12:]) != markerHi {
			continue
		}
		k := int(binary.LittleEndian.Uint32(code[off+4:]))
		if k >= len(order) || code[off+1]>>4 != 0 {
			continue
		}
		ref := s.refs[order[k]]
		src, hi := uint8(1), uint32(0)
		if ref.value {
			src, hi = 2, ref.off
		}
		code[off+1] = ref.dst | src<<4
		binary.LittleEndian.PutUint32(code[off+4:], uint32(int32(fd(ref.name))))
		binary.LittleEndian.PutUint32(code[off+12:], hi)
		patched++
		off += 8
	}
	if patched != len(order) {
		return nil, fmt.Errorf("assemble: %d of %d map references found in the output: %w", patched, len(order), unix.EINVAL)
	}
	return code, nil
}

// RewriteMapPaths replaces the PATH of every ".map NAME PATH" directive by
// fn(PATH), leaving the rest of the text as it is (the CLI uses it to turn
// host paths inside a mount into simulated paths).
func RewriteMapPaths(text string, fn func(path string) (string, error)) (string, error) {
	lines := strings.Split(text, "\n")
	for i, raw := range lines {
		m := directiveRE.FindStringSubmatch(stripComment(raw))
		if m == nil || m[1] != "map" {
			continue
		}
		f := strings.Fields(m[2])
		if len(f) != 2 {
			return "", asmErr(i, ".map wants NAME PATH, got %q", m[2])
		}
		p, err := fn(f[1])
		if err != nil {
			return "", err
		}
		lines[i] = ".map " + f[0] + " " + p
	}
	return strings.Join(lines, "\n"), nil
}
