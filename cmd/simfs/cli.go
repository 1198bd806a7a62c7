package main

import (
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/simfs/simfs/daemon"
	"github.com/simfs/simfs/kernel"
	"golang.org/x/sys/unix"
)

// flags is a command's flag set with the flags every client command has.
type flags struct {
	*flag.FlagSet
	json   bool
	socket string
}

func newFlags(e *env, name string, client bool) *flags {
	f := &flags{FlagSet: flag.NewFlagSet("simfs "+name, flag.ContinueOnError)}
	f.SetOutput(e.stderr)
	f.BoolVar(&f.json, "json", false, "print JSON")
	if client {
		f.StringVar(&f.socket, "socket", "", "the daemon's control socket (default: found from the paths, or $SIMFS_SOCKET)")
	}
	return f
}

// parse parses flags that may come before, between or after positional
// arguments and checks the number of positionals.
func (f *flags) parse(args []string, min, max int) ([]string, error) {
	var pos []string
	for {
		if err := f.Parse(args); err != nil {
			if err == flag.ErrHelp {
				return nil, err
			}
			return nil, usageErr("%v", err)
		}
		args = f.Args()
		if len(args) == 0 {
			break
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
	if len(pos) < min || (max >= 0 && len(pos) > max) {
		if max == min {
			return nil, usageErr("want %d arguments, got %d", min, len(pos))
		}
		return nil, usageErr("wrong number of arguments (%d)", len(pos))
	}
	return pos, nil
}

// session is a connected client with the path translation of its daemon.
type session struct {
	*daemon.Client
	mounts []daemon.Mount
}

// connect finds the daemon for the given path arguments (host paths
// inside its mounts, or simulated paths) and connects to it.
func connect(e *env, f *flags, comm string, paths ...string) (*session, error) {
	socket := f.socket
	if socket == "" {
		socket = os.Getenv("SIMFS_SOCKET")
	}
	if socket == "" {
		infos := daemon.ListAll()
		var chosen *daemon.DaemonInfo
		for _, p := range paths {
			abs, err := filepath.Abs(p)
			if err != nil {
				continue
			}
			in, ok := daemon.FindDaemon(infos, abs)
			if !ok {
				continue
			}
			if chosen != nil && chosen.Socket != in.Socket {
				return nil, fmt.Errorf("%s and another argument are in mounts of two different daemons (%d and %d): %w", p, chosen.Pid, in.Pid, unix.EXDEV)
			}
			chosen = &in
		}
		switch {
		case chosen != nil:
			socket = chosen.Socket
		case len(infos) == 1:
			socket = infos[0].Socket
		case len(infos) == 0:
			return nil, fmt.Errorf("no simfs daemon is running (start one with `simfs mount DIR`, or give --socket): %w", unix.ENOENT)
		default:
			var list []string
			for _, in := range infos {
				list = append(list, fmt.Sprintf("pid %d (%s)", in.Pid, in.Socket))
			}
			return nil, fmt.Errorf("%d simfs daemons are running (%s) and no path argument is inside their mounts: give --socket: %w", len(infos), strings.Join(list, ", "), unix.EINVAL)
		}
	}
	c, err := daemon.Dial(socket, comm)
	if err != nil {
		return nil, err
	}
	s := &session{Client: c, mounts: c.Hello().Daemon.Mounts}
	e.mounts = s.mounts
	return s, nil
}

// sim translates a path argument into the simulated path: a host path
// inside one of the daemon's mounts, or a simulated path as it is.
func (s *session) sim(p string) (string, error) {
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", err
	}
	if sp, ok := daemon.Translate(s.mounts, abs); ok {
		return sp, nil
	}
	if filepath.IsAbs(p) {
		for _, root := range []string{kernel.BPFFSPath, kernel.CgroupPath} {
			if p == root || strings.HasPrefix(filepath.Clean(p), root+"/") {
				return filepath.Clean(p), nil
			}
		}
	}
	if len(s.mounts) == 0 {
		return "", fmt.Errorf("%s: this daemon serves no mount, give a simulated path (%s/..., %s/...): %w", p, kernel.BPFFSPath, kernel.CgroupPath, unix.EXDEV)
	}
	var hosts []string
	for _, m := range s.mounts {
		hosts = append(hosts, m.Host)
	}
	return "", fmt.Errorf("%s is not inside the daemon's mounts (%s) nor a simulated path: %w", p, strings.Join(hosts, ", "), unix.EXDEV)
}

// host shows a simulated path as the host sees it.
func (s *session) host(p string) string { return daemon.Untranslate(s.mounts, p) }

// printJSON prints v as one indented JSON document.
func printJSON(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// parseHex reads bytes written as hex: "01 00 00 00", "01000000",
// "0x01 0x00", "1 0 0 0".
func parseHex(s string) ([]byte, error) {
	var out []byte
	for _, tok := range strings.Fields(strings.ReplaceAll(s, ",", " ")) {
		tok = strings.TrimPrefix(strings.TrimPrefix(tok, "0x"), "0X")
		if len(tok) == 1 {
			tok = "0" + tok
		}
		b, err := hex.DecodeString(tok)
		if err != nil {
			return nil, usageErr("bad hex bytes %q: %v", s, err)
		}
		out = append(out, b...)
	}
	return out, nil
}

// hexBytes formats bytes as bpftool does: "01 00 00 00".
func hexBytes(b []byte) string {
	var sb strings.Builder
	for i, x := range b {
		if i > 0 {
			sb.WriteByte(' ')
		}
		fmt.Fprintf(&sb, "%02x", x)
	}
	return sb.String()
}

// le encodes v in n little-endian bytes.
func le(v uint64, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(v >> (8 * i))
	}
	return b
}

// numBytes is a flag holding an unsigned integer encoded in n bytes.
type numBytes struct {
	n   int
	set bool
	v   uint64
}

func (x *numBytes) String() string { return fmt.Sprint(x.v) }
func (x *numBytes) Set(s string) error {
	var err error
	if x.n == 4 {
		var v uint64
		_, err = fmt.Sscan(s, &v)
		if err == nil && v > 1<<32-1 {
			return fmt.Errorf("%s does not fit in 32 bits", s)
		}
		x.v = v
	} else {
		_, err = fmt.Sscan(s, &x.v)
	}
	x.set = err == nil
	return err
}
func (x *numBytes) bytes() []byte { return le(x.v, x.n) }

// kv is the --key-u32/--key-u64 (or value) pair of flags.
type kv struct{ u32, u64 numBytes }

func (f *flags) kvFlags(name string) *kv {
	k := &kv{u32: numBytes{n: 4}, u64: numBytes{n: 8}}
	f.Var(&k.u32, name+"-u32", "the "+name+" as a little-endian u32")
	f.Var(&k.u64, name+"-u64", "the "+name+" as a little-endian u64")
	return k
}

// take returns the flag's bytes if one was given, else parses the next
// positional argument as hex.
func (k *kv) take(name string, pos *[]string) ([]byte, error) {
	switch {
	case k.u32.set && k.u64.set:
		return nil, usageErr("--%s-u32 or --%s-u64, not both", name, name)
	case k.u32.set:
		return k.u32.bytes(), nil
	case k.u64.set:
		return k.u64.bytes(), nil
	}
	if len(*pos) == 0 {
		return nil, usageErr("no %s (hex bytes, or --%s-u32/--%s-u64)", name, name, name)
	}
	b, err := parseHex((*pos)[0])
	*pos = (*pos)[1:]
	return b, err
}
