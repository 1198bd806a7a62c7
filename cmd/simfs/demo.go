package main

import (
	"bytes"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"github.com/simfs/simfs/daemon"
	"github.com/simfs/simfs/kernel"
	"github.com/simfs/simfs/sched"
	"github.com/simfs/simfs/vfs"
	"golang.org/x/sys/unix"
)

// The demo walks through the RFC's lifecycle on a fresh machine. Every
// step is a command a person could type: with FUSE the file commands are
// real tools (cat, ls, sh -c 'echo rm > f') and the simfs commands are
// this binary, all in child processes (a Go process that serves a FUSE
// mount must not also read it: the two can deadlock); without FUSE the
// same steps run through the library, on simulated paths.

// countAsm is the demo's first program, written into the demo's
// directory as count.s.
const countAsm = `# A syscall program: counts its runs in entry 0 of the array map "hits"
# (map_value: is the address of that value) and returns ctx's first u32 + 1.
.type syscall
.name count
.map hits HITS
lddw %r2, map_value:hits
ldxdw %r3, [%r2]
add %r3, 1
stxdw [%r2], %r3
ldxw %r0, [%r1]
add %r0, 1
stxw [%r1], %r0
exit
`

// seedObject is examples/pinning_kernfs/pinning_kernfs.bpf.o, the RFC
// selftest's programs built by clang (a test checks the copy is the
// same), written into the demo's directory.
//
//go:embed demodata/pinning_kernfs.bpf.o
var seedObject []byte

const seedObjectName = "pinning_kernfs.bpf.o"

// backend runs the demo's commands.
type backend interface {
	// bpf and cg name a path in the simulated bpffs and cgroup2 as the
	// commands take it.
	bpf(rel string) string
	cg(rel string) string
	// exec runs a command and returns what it printed and the errno it
	// failed with (0: it succeeded).
	exec(argv []string) (string, syscall.Errno, error)
	// ino is a path's inode number (a cgroup directory's is its id).
	ino(path string) (uint64, error)
}

type step struct {
	title string
	argv  []string
	want  syscall.Errno
	// check looks at the output of a step that succeeded.
	check func(b backend, out string) error
}

func contains(want ...string) func(b backend, out string) error {
	return func(_ backend, out string) error {
		for _, w := range want {
			if !strings.Contains(out, w) {
				return fmt.Errorf("output lacks %q", w)
			}
		}
		return nil
	}
}

// showsWait checks that the seed's wait_show printed "<id> <max wait>"
// for the cgroup at dir, with a wait that is not zero if busy, zero if
// not.
func showsWait(dir string, busy bool) func(b backend, out string) error {
	return func(b backend, out string) error {
		id, err := b.ino(dir)
		if err != nil {
			return err
		}
		var gotID, wait uint64
		if n, err := fmt.Sscanf(out, "%d %d\n", &gotID, &wait); n != 2 || err != nil {
			return fmt.Errorf("expected \"<cgroup id> <max wait ns>\", got %q", out)
		}
		switch {
		case gotID != id:
			return fmt.Errorf("expected the id of %s (%d), got %d", dir, id, gotID)
		case busy && wait == 0:
			return fmt.Errorf("its tasks waited, yet the longest wait is 0")
		case !busy && wait != 0:
			return fmt.Errorf("it has no tasks, yet the longest wait is %d", wait)
		}
		return nil
	}
}

// demoSteps is the walkthrough. files is where the demo's files are.
func demoSteps(b backend, files string) []step {
	count, obj := filepath.Join(files, "count.s"), filepath.Join(files, seedObjectName)
	bpf, cg := b.bpf, b.cg
	q := func(parts ...string) string {
		for i, p := range parts {
			if strings.HasPrefix(p, "/") {
				parts[i] = quote(p)
			}
		}
		return strings.Join(parts, " ")
	}
	sh := func(line string) []string { return []string{"sh", "-c", line} }
	stat := func(p string) []string { return []string{"stat", "-c", "%A %h %U %s %n", p} }
	busy, idle := cg("demo/busy"), cg("demo/idle")
	return []step{
		// bpffs as the kernel has it.
		{title: "bpffs: the root is 1777, like the kernel's", argv: stat(bpf("")), check: contains("drwxrwxrwt")},
		{title: "create an array map and pin it", argv: []string{"simfs", "map", "create", bpf("hits"), "--type", "array", "--key", "4", "--value", "8", "--entries", "1"}},
		{title: "load a program that uses it (text assembly; .map names the pinned map)", argv: []string{"simfs", "prog", "load", count, bpf("count")}},
		{title: "a pin is a regular file, 0600 minus the umask, one link, size 0", argv: stat(bpf("count")), check: contains("-rw------- 1 root 0")},
		{title: "opening a pinned program fails with EIO", argv: []string{"cat", bpf("count")}, want: unix.EIO},
		{title: "run it three times (BPF_PROG_TEST_RUN): ctx 41 comes back as 42", argv: []string{"simfs", "prog", "run", bpf("count"), "--ctx", "29000000", "--repeat", "3"}, check: contains("retval 42", "ctx_out 2a 00 00 00")},
		{title: "the map counted the runs", argv: []string{"simfs", "map", "dump", bpf("hits")}, check: contains("value: 03 00 00 00 00 00 00 00")},
		{title: "pin the program again under another name, in a directory", argv: sh(q("mkdir", bpf("old"), "&&", "simfs", "pin", bpf("count"), bpf("old/again")))},
		{title: "bpffs names may not contain a dot: EPERM", argv: []string{"simfs", "pin", bpf("count"), bpf("count.v2")}, want: unix.EPERM},
		{title: "the program's pins, found by walking bpffs", argv: []string{"simfs", "prog", "show"}, check: contains("syscall  name count", "pinned "+bpf("count"), "pinned "+bpf("old/again"))},
		{title: "unpin both: the last reference goes and the program is freed", argv: []string{"rm", "-r", bpf("count"), bpf("old"), bpf("hits")}},

		// The RFC, with its own selftest programs.
		{title: "cgroup2: a small tree; a cgroup directory's inode number is its id", argv: sh(q("mkdir", "-p", busy, idle, "&&", "stat", "-c", "'%i %n'", busy, idle))},
		{title: "load the RFC selftest's object (clang-built C, embedded in simfs): wait_record, wait_show, wait_map", argv: []string{"simfs", "prog", "loadall", obj, bpf("pk")}, check: contains("tp_btf/sched_stat_wait", "view/cgroup", "wait_map")},
		{title: "attach wait_record to the simulated sched_stat_wait tracepoint: it keeps each cgroup's longest wait in wait_map", argv: []string{"simfs", "link", "create", bpf("pk/wait_record"), bpf("pk/record")}},
		{title: "three tasks in demo/busy; demo/idle gets none", argv: sh(q("simfs", "task", "spawn", busy, "&&", "simfs", "task", "spawn", busy, "&&", "simfs", "task", "spawn", busy))},
		{title: "run the simulated scheduler for 2 s of simulated time: three tasks share one CPU, so they wait", argv: []string{"simfs", "sched", "run", "500"}, check: contains("sched_stat_wait fired")},
		{title: "a view link exposed in a cgroup directory before any bpffs pin: ENXIO (the selftest's pin_kernfs_first)", argv: []string{"simfs", "link", "create", bpf("pk/wait_show"), cg("demo/busy/wait")}, want: unix.ENXIO},
		{title: "create the view link of wait_show, pinned in bpffs", argv: []string{"simfs", "link", "create", bpf("pk/wait_show"), bpf("pk/show")}},
		{title: "expose it in demo/busy (BPF_OBJ_PIN into kernfs)", argv: []string{"simfs", "pin", bpf("pk/show"), cg("demo/busy/wait")}},
		{title: "and in demo/idle: the same link, another cgroup", argv: []string{"simfs", "pin", bpf("pk/show"), cg("demo/idle/wait")}},
		{title: "the exposure is 0600, root's; it holds no reference on the link", argv: stat(cg("demo/busy/wait")), check: contains("-rw------- 1 root 0")},
		{title: "reading it runs wait_show for that directory's cgroup: \"<cgroup id> <max wait ns>\"", argv: []string{"cat", cg("demo/busy/wait")}, check: showsWait(busy, true)},
		{title: "the cgroup without tasks has no entry in wait_map: \"<id> 0\"", argv: []string{"cat", cg("demo/idle/wait")}, check: showsWait(idle, false)},
		{title: "link show lists where the link is pinned and exposed", argv: []string{"simfs", "link", "show"}, check: contains("pinned "+bpf("pk/show"), "exposed "+cg("demo/busy/wait"), "exposed "+cg("demo/idle/wait"))},
		{title: "an exposed program (not a view link) cannot be read: EACCES", argv: sh(q("simfs", "pin", bpf("pk/wait_show"), cg("demo/busy/prog"), "&&", "cat", cg("demo/busy/prog"))), want: unix.EACCES},
		{title: "nor can an exposed map: EACCES", argv: sh(q("simfs", "pin", bpf("pk/wait_map"), cg("demo/busy/map"), "&&", "cat", cg("demo/busy/map"))), want: unix.EACCES},
		{title: "writing anything but rm to an exposure: EINVAL (RFC patch 4)", argv: sh(q("/bin/echo", "xxx", ">", cg("demo/busy/prog"))), want: unix.EINVAL},
		{title: "writing rm removes them", argv: sh(q("echo", "rm", ">", cg("demo/busy/prog"), "&&", "echo", "rm", ">", cg("demo/busy/map"), "&&", "echo", "rm", ">", cg("demo/busy/wait")))},
		{title: "so reading it now fails: ENOENT", argv: []string{"cat", cg("demo/busy/wait")}, want: unix.ENOENT},
		{title: "expose it again", argv: []string{"simfs", "pin", bpf("pk/show"), cg("demo/busy/wait")}},
		{title: "unpin the link in bpffs: every exposure of it goes with it (the fsnotify watcher)", argv: []string{"rm", bpf("pk/show")}},
		{title: "both files are gone: ENOENT", argv: []string{"ls", cg("demo/idle/wait"), cg("demo/busy/wait")}, want: unix.ENOENT},
		{title: "expose a new link in a new cgroup, then rmdir it: exposures do not block rmdir (RFC rule 6)", argv: sh(q("mkdir", cg("demo/tmp"), "&&", "simfs", "link", "create", bpf("pk/wait_show"), bpf("pk/show2"), "&&", "simfs", "pin", bpf("pk/show2"), cg("demo/tmp/wait"), "&&", "rmdir", cg("demo/tmp")))},
		{title: "and the later unpin does not fail", argv: []string{"rm", bpf("pk/show2")}},
		{title: "clean up: kill the tasks, remove the tree and the object's pins", argv: sh(q("echo", "1", ">", cg("demo/busy/cgroup.kill"), "&&", "rmdir", busy, idle, cg("demo"), "&&", "rm", "-r", bpf("pk")))},
		{title: "nothing is left", argv: []string{"simfs", "prog", "show"}, check: func(_ backend, out string) error {
			if strings.TrimSpace(out) != "" {
				return fmt.Errorf("programs are still loaded")
			}
			return nil
		}},
	}
}

func quote(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t\n'\"\\$`;&|<>()*?[]#~!{}") {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func displayArgv(argv []string) string {
	if len(argv) == 3 && argv[0] == "sh" && argv[1] == "-c" {
		return argv[2]
	}
	q := make([]string, len(argv))
	for i, a := range argv {
		q[i] = quote(a)
	}
	return strings.Join(q, " ")
}

// walk runs the steps and prints them; it returns how many did not go as
// the RFC says.
func walk(e *env, b backend, files string) int {
	steps := demoSteps(b, files)
	failed := 0
	for i, s := range steps {
		fmt.Fprintf(e.stdout, "\n[%d/%d] %s\n", i+1, len(steps), s.title)
		fmt.Fprintf(e.stdout, "$ %s\n", displayArgv(s.argv))
		out, errno, err := b.exec(s.argv)
		if out != "" {
			fmt.Fprint(e.stdout, out)
			if !strings.HasSuffix(out, "\n") {
				fmt.Fprintln(e.stdout)
			}
		}
		var problem string
		switch {
		case err != nil:
			problem = err.Error()
		case errno != s.want && s.want == 0:
			problem = "failed with " + daemon.ErrnoName(errno)
		case errno != s.want && errno == 0:
			problem = "succeeded, but the RFC says " + daemon.ErrnoName(s.want)
		case errno != s.want:
			problem = "failed with " + daemon.ErrnoName(errno) + ", but the RFC says " + daemon.ErrnoName(s.want)
		case s.check != nil && errno == 0:
			if cerr := s.check(b, out); cerr != nil {
				problem = cerr.Error()
			}
		}
		switch {
		case problem != "":
			failed++
			fmt.Fprintf(e.stdout, "  => UNEXPECTED: %s\n", problem)
		case s.want != 0:
			fmt.Fprintf(e.stdout, "  => %s, as expected\n", daemon.ErrnoName(s.want))
		default:
			fmt.Fprintln(e.stdout, "  => ok")
		}
	}
	fmt.Fprintln(e.stdout)
	if failed == 0 {
		fmt.Fprintf(e.stdout, "demo: all %d steps went as the RFC says.\n", len(steps))
	} else {
		fmt.Fprintf(e.stdout, "demo: %d of %d steps did not go as the RFC says.\n", failed, len(steps))
	}
	return failed
}

// errnoFromOutput finds the errno a failed tool reported: the symbolic
// name simfs prints, or the C-locale message coreutils print.
func errnoFromOutput(out string) syscall.Errno {
	cands := []syscall.Errno{unix.ENXIO, unix.EACCES, unix.EINVAL, unix.ENOENT, unix.EPERM, unix.EEXIST, unix.EIO,
		unix.ENODEV, unix.ENOTEMPTY, unix.EBUSY, unix.ENOSYS, unix.EXDEV, unix.ENOTDIR, unix.EISDIR, unix.ESRCH,
		unix.EOPNOTSUPP, unix.E2BIG, unix.EBADF, unix.ENOTCONN}
	for _, e := range cands {
		if strings.Contains(out, daemon.ErrnoName(e)+" (") {
			return e
		}
	}
	low := strings.ToLower(out)
	for _, e := range cands {
		if strings.Contains(low, strings.ToLower(e.Error())) {
			return e
		}
	}
	return unix.EIO
}

// fuseBackend runs commands as child processes on the mount.
type fuseBackend struct {
	dir  string // the mount's parent
	self string // this binary
}

func (f *fuseBackend) bpf(rel string) string { return filepath.Join(f.dir, "bpf", rel) }
func (f *fuseBackend) cg(rel string) string  { return filepath.Join(f.dir, "cgroup", rel) }

func (f *fuseBackend) exec(argv []string) (string, syscall.Errno, error) {
	// "simfs" is this binary, also inside sh -c (through PATH).
	bin := filepath.Join(f.dir, ".bin")
	if err := os.MkdirAll(bin, 0755); err != nil {
		return "", 0, err
	}
	link := filepath.Join(bin, "simfs")
	if _, err := os.Lstat(link); err != nil {
		if err := os.Symlink(f.self, link); err != nil {
			return "", 0, err
		}
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	if argv[0] == "simfs" {
		cmd = exec.Command(f.self, argv[1:]...)
	}
	cmd.Env = append(os.Environ(), "LC_ALL=C", "PATH="+bin+":"+os.Getenv("PATH"))
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return string(out), 0, nil
	case errors.As(err, &ee):
		return string(out), errnoFromOutput(string(out)), nil
	}
	return string(out), 0, err
}

func (f *fuseBackend) ino(p string) (uint64, error) {
	var st unix.Stat_t
	if err := unix.Stat(p, &st); err != nil {
		return 0, err
	}
	return st.Ino, nil
}

// libBackend runs the same commands through the library: file commands as
// kernel.Process calls, simfs commands through this CLI's code against an
// in-process daemon (no FUSE anywhere).
type libBackend struct {
	proc   *kernel.Process
	socket string
}

func (l *libBackend) bpf(rel string) string { return filepath.Join(kernel.BPFFSPath, rel) }
func (l *libBackend) cg(rel string) string  { return filepath.Join(kernel.CgroupPath, rel) }

func (l *libBackend) ino(p string) (uint64, error) {
	st, err := l.proc.Stat(p)
	return st.Ino, err
}

func (l *libBackend) exec(argv []string) (string, syscall.Errno, error) {
	if len(argv) == 3 && argv[0] == "sh" && argv[1] == "-c" {
		return l.shell(argv[2])
	}
	var out bytes.Buffer
	errno := l.run(argv, &out)
	return out.String(), errno, nil
}

// shell runs the demo's "a && b" and "a; b" lines, with "echo X > F" and
// "2>/dev/null"; nothing more is needed.
func (l *libBackend) shell(line string) (string, syscall.Errno, error) {
	var out bytes.Buffer
	var errno syscall.Errno
	for _, seq := range strings.Split(line, ";") {
		for _, part := range strings.Split(seq, "&&") {
			words, err := splitWords(part)
			if err != nil {
				return out.String(), 0, err
			}
			quiet := false
			if n := len(words); n > 0 && words[n-1] == "2>/dev/null" {
				words, quiet = words[:n-1], true
			}
			w := &out
			if quiet {
				w = &bytes.Buffer{}
			}
			if len(words) == 4 && (words[0] == "echo" || words[0] == "/bin/echo") && words[2] == ">" {
				errno = l.errno(l.proc.WriteFile(words[3], []byte(words[1]+"\n")))
				if errno != 0 {
					fmt.Fprintf(w, "%s: write error: %s\n", words[0], errnoMsg(errno))
				}
			} else {
				errno = l.run(words, w)
			}
			if errno != 0 {
				break
			}
		}
	}
	return out.String(), errno, nil
}

// splitWords splits a shell line with single quotes.
func splitWords(s string) ([]string, error) {
	var words []string
	var cur strings.Builder
	in, any := false, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case in && c == '\'':
			in = false
		case in:
			cur.WriteByte(c)
		case c == '\'':
			in, any = true, true
		case c == ' ' || c == '\t':
			if cur.Len() > 0 || any {
				words = append(words, cur.String())
				cur.Reset()
				any = false
			}
		case c == '\\' && i+1 < len(s):
			i++
			cur.WriteByte(s[i])
		default:
			cur.WriteByte(c)
		}
	}
	if in {
		return nil, fmt.Errorf("unterminated quote in %q", s)
	}
	if cur.Len() > 0 || any {
		words = append(words, cur.String())
	}
	return words, nil
}

func errnoMsg(e syscall.Errno) string {
	m := e.Error()
	return strings.ToUpper(m[:1]) + m[1:]
}

func (l *libBackend) errno(err error) syscall.Errno {
	if err == nil {
		return 0
	}
	return daemon.ErrnoOf(err)
}

// run runs one command through the library, printing what the tool would.
func (l *libBackend) run(argv []string, w *bytes.Buffer) syscall.Errno {
	fail := func(tool, p string, err error) syscall.Errno {
		e := l.errno(err)
		fmt.Fprintf(w, "%s: %s: %s\n", tool, p, errnoMsg(e))
		return e
	}
	switch argv[0] {
	case "simfs":
		var stderr bytes.Buffer
		rc := run(append(append([]string(nil), argv[1:]...), "--socket", l.socket), w, &stderr)
		w.Write(stderr.Bytes())
		if rc != 0 {
			return errnoFromOutput(stderr.String())
		}
		return 0
	case "cat":
		for _, p := range argv[1:] {
			b, err := l.proc.ReadFile(p)
			w.Write(b)
			if err != nil {
				return fail("cat", p, err)
			}
		}
	case "mkdir":
		for _, p := range argv[1:] {
			if p == "-p" {
				continue
			}
			if err := l.mkdirAll(p); err != nil {
				return fail("mkdir", p, err)
			}
		}
	case "rmdir":
		for _, p := range argv[1:] {
			if err := l.proc.Rmdir(p); err != nil {
				return fail("rmdir", p, err)
			}
		}
	case "rm":
		for _, p := range argv[1:] {
			if p == "-r" {
				continue
			}
			if err := l.removeAll(p); err != nil {
				return fail("rm", p, err)
			}
		}
	case "mv":
		if err := l.proc.Rename(argv[1], argv[2], 0); err != nil {
			return fail("mv", argv[1], err)
		}
	case "ls":
		multi := len(argv) > 2
		for i, p := range argv[1:] {
			ents, err := l.proc.ReadDir(p)
			if err != nil {
				return fail("ls", p, err)
			}
			if multi {
				if i > 0 {
					fmt.Fprintln(w)
				}
				fmt.Fprintf(w, "%s:\n", p)
			}
			names := make([]string, 0, len(ents))
			for _, e := range ents {
				names = append(names, e.Name)
			}
			sort.Strings(names)
			for _, n := range names {
				fmt.Fprintln(w, n)
			}
		}
	case "stat":
		format := argv[2]
		for _, p := range argv[3:] {
			st, err := l.proc.Stat(p)
			if err != nil {
				return fail("stat", p, err)
			}
			r := strings.NewReplacer("%A", modeString(st.Mode), "%h", fmt.Sprint(st.Nlink),
				"%U", userName(st.UID), "%s", fmt.Sprint(st.Size), "%n", p, "%i", fmt.Sprint(st.Ino))
			fmt.Fprintln(w, r.Replace(format))
		}
	default:
		fmt.Fprintf(w, "%s: not available without FUSE\n", argv[0])
		return unix.ENOSYS
	}
	return 0
}

func (l *libBackend) mkdirAll(p string) error {
	if st, err := l.proc.Stat(p); err == nil && st.Mode&vfs.S_IFMT == vfs.S_IFDIR {
		return nil
	}
	if parent := filepath.Dir(p); parent != p {
		if err := l.mkdirAll(parent); err != nil {
			return err
		}
	}
	return l.proc.Mkdir(p, 0755)
}

func (l *libBackend) removeAll(p string) error {
	st, err := l.proc.Lstat(p)
	if err != nil {
		return err
	}
	if st.Mode&vfs.S_IFMT != vfs.S_IFDIR {
		return l.proc.Unlink(p)
	}
	ents, err := l.proc.ReadDir(p)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if err := l.removeAll(filepath.Join(p, e.Name)); err != nil {
			return err
		}
	}
	return l.proc.Rmdir(p)
}

func userName(uid uint32) string {
	if uid == 0 {
		return "root"
	}
	return fmt.Sprint(uid)
}

// modeString is ls -l's mode column.
func modeString(m uint32) string {
	t := "?"
	switch m & vfs.S_IFMT {
	case vfs.S_IFDIR:
		t = "d"
	case vfs.S_IFREG:
		t = "-"
	case vfs.S_IFLNK:
		t = "l"
	}
	b := []byte(t + "rwxrwxrwx")
	for i := 0; i < 9; i++ {
		if m&(1<<(8-i)) == 0 {
			b[i+1] = '-'
		}
	}
	if m&unix.S_ISVTX != 0 {
		if b[9] == 'x' {
			b[9] = 't'
		} else {
			b[9] = 'T'
		}
	}
	return string(b)
}

// fuseUnavailable says why this process cannot mount FUSE, or "".
func fuseUnavailable() string {
	if _, err := os.Stat("/dev/fuse"); err != nil {
		return "there is no /dev/fuse on this machine"
	}
	if os.Geteuid() == 0 {
		return ""
	}
	for _, bin := range []string{"fusermount3", "fusermount"} {
		if _, err := exec.LookPath(bin); err == nil {
			return ""
		}
	}
	return "not running as root and no fusermount3/fusermount is installed"
}

// writeDemoFiles writes the demo's program files into dir: count.s, whose
// map is pinned at hitsPath, and the seed's object.
func writeDemoFiles(dir, hitsPath string) error {
	if err := os.WriteFile(filepath.Join(dir, seedObjectName), seedObject, 0644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "count.s"), []byte(strings.Replace(countAsm, "HITS", hitsPath, 1)), 0644)
}

func cmdDemo(e *env, args []string) error {
	f := newFlags(e, "demo", false)
	once := f.Bool("once", false, "exit at the end instead of serving until Ctrl-C")
	dirFlag := f.String("dir", "", "mount under this directory (default: a new temporary one)")
	library := f.Bool("library", false, "run through the library even where FUSE works")
	if _, err := f.parse(args, 0, 0); err != nil {
		return err
	}
	dir := *dirFlag
	if dir == "" {
		d, err := os.MkdirTemp("", "simfs-demo-")
		if err != nil {
			return err
		}
		dir = d
		defer os.RemoveAll(d) // after the unmount: only the demo's files are left
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	why := fuseUnavailable()
	if *library {
		why = "--library was given"
	}
	if why == "" {
		self, err := os.Executable()
		if err != nil {
			return err
		}
		failed := 0
		walked := false
		runCtx, cancel := context.WithCancel(ctx)
		defer cancel()
		o := daemonOpts{bpfDir: filepath.Join(dir, "bpf"), cgDir: filepath.Join(dir, "cgroup"), socket: filepath.Join(dir, ".simfs.sock"),
			schedEvery: DefaultSchedEvery, procs: DefaultMountProcs, uring: uringAuto}
		o.ready = func(info daemon.DaemonInfo, _ *kernel.Machine) error {
			walked = true
			over := ""
			if len(info.Mounts) > 0 && info.Mounts[0].Transport == "io_uring" {
				over = ", requests over io_uring"
			}
			fmt.Fprintf(e.stdout, "simfs demo: the RFC \"Pinning bpf objects outside bpffs\" on a simulated machine,\n"+
				"served over FUSE at %s (bpffs at bpf/, cgroup2 at cgroup/%s).\n"+
				"Every step below is a real command run in a child process.\n", dir, over)
			if err := writeDemoFiles(dir, filepath.Join(dir, "bpf", "hits")); err != nil {
				return err
			}
			failed = walk(e, &fuseBackend{dir: dir, self: self}, dir)
			if *once {
				cancel()
			} else {
				fmt.Fprintf(e.stdout, "\nThe mount stays up at %s, its scheduler ticking; try the commands above. Ctrl-C to stop.\n", dir)
			}
			return nil
		}
		var quiet bytes.Buffer
		err = runDaemon(runCtx, &env{stdout: &quiet, stderr: e.stderr}, o)
		if err == nil && failed > 0 {
			return fmt.Errorf("demo: %d steps went wrong", failed)
		}
		if walked || err == nil {
			return err
		}
		why = "mounting failed: " + e.describe(err)
	}
	return libraryDemo(ctx, e, dir, why, *once)
}

// libraryDemo runs the walkthrough without FUSE: an in-process daemon on a
// socket in dir, with the machine's scheduler, and the library for the
// file commands.
func libraryDemo(ctx context.Context, e *env, dir, why string, once bool) error {
	fmt.Fprintf(e.stdout, "simfs demo: FUSE is not used (%s),\n"+
		"so the same steps run through the library on simulated paths\n(/sys/fs/bpf, /sys/fs/cgroup), with no mount.\n", why)
	m, err := kernel.Boot(kernel.Config{})
	if err != nil {
		return err
	}
	sc, err := sched.New(m, sched.Options{})
	if err != nil {
		return err
	}
	defer sc.Close()
	if err := sc.Start(DefaultSchedEvery, nil); err != nil {
		return err
	}
	sock := filepath.Join(dir, ".simfs.sock")
	srv := daemon.New(daemon.Config{Machine: m, Sched: sc, Info: daemon.DaemonInfo{ID: "demo", Pid: os.Getpid(), Socket: sock}})
	l, err := daemon.Listen(sock)
	if err != nil {
		return err
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	defer func() {
		srv.Close()
		<-served
	}()
	proc := m.NewProcess(kernel.ProcessOptions{Umask: 022, Comm: "sh"})
	defer proc.Exit()
	if err := writeDemoFiles(dir, filepath.Join(kernel.BPFFSPath, "hits")); err != nil {
		return err
	}
	failed := walk(e, &libBackend{proc: proc, socket: sock}, dir)
	if failed > 0 {
		return fmt.Errorf("demo: %d steps went wrong", failed)
	}
	if !once {
		fmt.Fprintf(e.stdout, "\nThe daemon stays up (no mount): simfs --socket %s ... with simulated paths. Ctrl-C to stop.\n", sock)
		<-ctx.Done()
	}
	return nil
}
