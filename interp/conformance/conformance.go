// Package conformance reads the bpf_conformance suite's files in place: its
// .data test files and the compiled.tsv table that holds the reference
// assembler's bytes for each. It is test support for interp, bpfasm and the
// conformance plugin (public so that cmd/ can use it); the
// suite's files are never copied into this repository.
package conformance

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Test is one parsed .data file.
type Test struct {
	Path      string
	Asm       string   // the "-- asm" section, comments removed; "" when absent
	HasAsm    bool     // an "-- asm" section with at least one non-empty line
	RawTokens []string // the "-- raw" section's whitespace-separated tokens
	Mem       []byte   // "-- mem"
	Result    uint64   // "-- result"
	HasResult bool
	Error     string // "-- error" (its last non-empty line)
	HasError  bool   // an "-- error" section was present, even if empty
	Unknown   string // an unknown directive, if any (the reference skips such files)
}

// RawWords decodes the raw section the way the reference runner does: every
// token is one 64-bit instruction word in hex ("0x" optional), little-endian
// in memory. This is how compiled.tsv was produced.
func (t *Test) RawWords() ([]byte, error) {
	out := make([]byte, 0, 8*len(t.RawTokens))
	for _, tok := range t.RawTokens {
		v, err := strconv.ParseUint(strings.TrimPrefix(strings.TrimPrefix(tok, "0x"), "0X"), 16, 64)
		if err != nil {
			return nil, fmt.Errorf("%s: raw token %q: %v", t.Path, tok, err)
		}
		out = binary.LittleEndian.AppendUint64(out, v)
	}
	return out, nil
}

// RawBytes decodes the raw section as a byte stream when every token is a
// single byte (two hex digits), as the negative/unused-* files are written;
// ok is false when the section is in word form.
func (t *Test) RawBytes() (b []byte, ok bool) {
	if len(t.RawTokens) == 0 {
		return nil, false
	}
	for _, tok := range t.RawTokens {
		if len(tok) != 2 {
			return nil, false
		}
		v, err := strconv.ParseUint(tok, 16, 8)
		if err != nil {
			return nil, false
		}
		b = append(b, byte(v))
	}
	return b, true
}

// Parse reads one .data file with the reference parser's rules: text after
// '#' is a comment; a line containing "--" starts a section named by the
// keyword it contains; "no register offset" and " c" sections are annotations.
func Parse(path string) (*Test, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	t := &Test{Path: path}
	const (
		ignore = iota
		asm
		raw
		result
		mem
		errsec
	)
	state := ignore
	var asmText strings.Builder
	var resultLine string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSuffix(sc.Text(), "\r")
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		if strings.Contains(line, "--") {
			switch {
			case strings.Contains(line, "asm"):
				state = asm
			case strings.Contains(line, "result"):
				state = result
			case strings.Contains(line, "mem"):
				state = mem
			case strings.Contains(line, "raw"):
				state = raw
			case strings.Contains(line, "no register offset"), strings.Contains(line, " c"):
				state = ignore
			case strings.Contains(line, "error"):
				state = errsec
				t.HasError = true
			default:
				t.Unknown = strings.TrimSpace(line)
				state = ignore
			}
			continue
		}
		if strings.TrimSpace(line) == "" {
			continue
		}
		switch state {
		case asm:
			asmText.WriteString(line)
			asmText.WriteByte('\n')
			t.HasAsm = true
		case raw:
			t.RawTokens = append(t.RawTokens, strings.Fields(line)...)
		case result:
			resultLine = strings.TrimSpace(line)
		case mem:
			for _, tok := range strings.Fields(line) {
				v, err := strconv.ParseUint(tok, 16, 8)
				if err != nil {
					return nil, fmt.Errorf("%s: mem byte %q: %v", path, tok, err)
				}
				t.Mem = append(t.Mem, byte(v))
			}
		case errsec:
			t.Error = strings.TrimSpace(line)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	t.Asm = asmText.String()
	if resultLine != "" {
		t.HasResult = true
		if h, ok := strings.CutPrefix(strings.ToLower(resultLine), "0x"); ok {
			t.Result, err = strconv.ParseUint(h, 16, 64)
		} else if strings.HasPrefix(resultLine, "-") {
			var v int64
			v, err = strconv.ParseInt(resultLine, 10, 64)
			t.Result = uint64(v)
		} else {
			t.Result, err = strconv.ParseUint(resultLine, 10, 64)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: result %q: %v", path, resultLine, err)
		}
	}
	return t, nil
}

// Files lists dir/*.data, sorted.
func Files(dir string) ([]string, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.data"))
	sort.Strings(files)
	return files, err
}

// Compiled is one line of compiled.tsv.
type Compiled struct {
	Name     string // e.g. "tests/add.data"
	AsmError bool   // the reference assembler rejects the file
	Code     []byte // the reference bytes (nil when AsmError)
	Mem      string
	Result   string
	Error    string
}

// ReadCompiled reads compiled.tsv.
func ReadCompiled(path string) ([]Compiled, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []Compiled
	for n, line := range strings.Split(strings.TrimRight(string(data), "\n"), "\n") {
		cols := strings.Split(line, "\t")
		if len(cols) != 5 {
			return nil, fmt.Errorf("%s:%d: %d columns, want 5", path, n+1, len(cols))
		}
		c := Compiled{Name: cols[0], Mem: cols[2], Result: cols[3], Error: cols[4]}
		if cols[1] == "ASM-ERROR" {
			c.AsmError = true
		} else {
			for _, tok := range strings.Fields(cols[1]) {
				v, err := strconv.ParseUint(tok, 16, 8)
				if err != nil {
					return nil, fmt.Errorf("%s:%d: byte %q: %v", path, n+1, tok, err)
				}
				c.Code = append(c.Code, byte(v))
			}
		}
		out = append(out, c)
	}
	return out, nil
}

// Dir returns $BPF_CONFORMANCE_DIR, or "" when unset.
func Dir() string { return os.Getenv("BPF_CONFORMANCE_DIR") }
