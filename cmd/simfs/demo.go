package main

import (
	"bytes"
	"context"
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
	"github.com/simfs/simfs/vfs"
	"github.com/simfs/simfs/vmlinux"
	"golang.org/x/sys/unix"
)

// The demo walks through the RFC's lifecycle on a fresh machine. Every
// step is a command a person could type: with FUSE the file commands are
// real tools (cat, ls, sh -c 'echo rm > f') and the simfs commands are
// this binary, all in child processes (a Go process that serves a FUSE
// mount must not also read it: the two can deadlock); without FUSE the
// same steps run through the library, on simulated paths.

// demoProgram files, written into the demo's directory.
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

// viewAsm is the view program: for the cgroup whose directory the file is
// read in, it prints "cgroup <id> level <level>". ctx is the RFC's
// struct bpf_view_cgroup_ctx { struct seq_file *seq; struct cgroup *cgroup; }.
func viewAsm() (string, error) {
	l := vmlinux.Default()
	off := func(s, f string) (uint32, error) { return l.Offset(s, f) }
	kn, err := off("cgroup", "kn")
	if err != nil {
		return "", err
	}
	level, err := off("cgroup", "level")
	if err != nil {
		return "", err
	}
	id, err := off("kernfs_node", "id")
	if err != nil {
		return "", err
	}
	var b strings.Builder
	fmt.Fprintf(&b, `# A view/cgroup program (the RFC's BPF_TRACE_VIEW): prints the id and level
# of the cgroup whose directory its file is read in.
.type view/cgroup
.name cgroup_show
ldxdw %%r6, [%%r1+0]          # ctx->seq
ldxdw %%r7, [%%r1+8]          # ctx->cgroup
ldxdw %%r8, [%%r7+%d]         # cgroup->kn
ldxdw %%r3, [%%r8+%d]          # kn->id
stxdw [%%r10-16], %%r3        # args[0] = id
ldxw %%r3, [%%r7+%d]          # cgroup->level
stxdw [%%r10-8], %%r3         # args[1] = level
`, kn, id, level)
	const format = "cgroup %llu level %d\n"
	buf := append([]byte(format), 0)
	for len(buf)%8 != 0 {
		buf = append(buf, 0)
	}
	base := 16 + len(buf)
	fmt.Fprintf(&b, "# the format %q on the stack at fp-%d\n", format, base)
	for i := 0; i < len(buf); i += 8 {
		var w uint64
		for j := 7; j >= 0; j-- {
			w = w<<8 | uint64(buf[i+j])
		}
		fmt.Fprintf(&b, "lddw %%r1, 0x%016x\nstxdw [%%r10-%d], %%r1\n", w, base-i)
	}
	fmt.Fprintf(&b, `mov %%r1, %%r6
mov %%r2, %%r10
add %%r2, -%d
mov %%r3, %d
mov %%r4, %%r10
add %%r4, -16
mov %%r5, 16
call 126                      # bpf_seq_printf(seq, fmt, sizeof fmt, args, 16)
mov %%r0, 0
exit
`, base, len(format)+1)
	return b.String(), nil
}

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
	features() []string
}

type step struct {
	title string
	argv  []string
	want  syscall.Errno
	// check looks at the output of a step that succeeded.
	check func(b backend, out string) error
	// needs names a feature the simulated kernel must have ("view").
	needs string
}

func has(list []string, f string) bool {
	for _, x := range list {
		if x == f {
			return true
		}
	}
	return false
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

func lacks(not string) func(b backend, out string) error {
	return func(_ backend, out string) error {
		for _, line := range strings.Split(out, "\n") {
			if line == not {
				return fmt.Errorf("%q is still listed", not)
			}
		}
		return nil
	}
}

// showsCgroup checks that a view printed the id of the cgroup at dir.
func showsCgroup(dir string) func(b backend, out string) error {
	return func(b backend, out string) error {
		id, err := b.ino(dir)
		if err != nil {
			return err
		}
		if !strings.Contains(out, fmt.Sprintf("cgroup %d ", id)) {
			return fmt.Errorf("expected the id of %s (%d) in the output", dir, id)
		}
		return nil
	}
}

// demoSteps is the walkthrough. files is where the program texts are.
func demoSteps(b backend, files string) []step {
	count, view := filepath.Join(files, "count.s"), filepath.Join(files, "view.s")
	bpf, cg := b.bpf, b.cg
	stat := func(p string) []string { return []string{"stat", "-c", "%A %h %U %s %n", p} }
	return []step{
		// bpffs as the kernel has it.
		{title: "bpffs: the root is 1777, like the kernel's", argv: stat(bpf("")), check: contains("drwxrwxrwt")},
		{title: "create an array map and pin it", argv: []string{"simfs", "map", "create", bpf("hits"), "--type", "array", "--key", "4", "--value", "8", "--entries", "1"}},
		{title: "load a program that uses it (text assembly; .map names the pinned map)", argv: []string{"simfs", "prog", "load", count, bpf("count")}},
		{title: "a pin is a regular file, 0600 minus the umask, one link, size 0", argv: stat(bpf("count")), check: contains("-rw------- 1 root 0")},
		{title: "opening a pinned program fails with EIO", argv: []string{"cat", bpf("count")}, want: unix.EIO},
		{title: "run it three times (BPF_PROG_TEST_RUN): ctx 41 comes back as 42", argv: []string{"simfs", "prog", "run", bpf("count"), "--ctx", "29000000", "--repeat", "3"}, check: contains("retval 42", "ctx_out 2a 00 00 00")},
		{title: "the map counted the runs", argv: []string{"simfs", "map", "dump", bpf("hits")}, check: contains("value: 03 00 00 00 00 00 00 00")},
		{title: "pin the program again, under another name", argv: []string{"simfs", "pin", bpf("count"), bpf("again")}},
		{title: "bpffs names may not contain a dot: EPERM", argv: []string{"simfs", "pin", bpf("count"), bpf("count.v2")}, want: unix.EPERM},
		{title: "mkdir and mv work in bpffs", argv: []string{"sh", "-c", "mkdir " + quote(bpf("old")) + " && mv " + quote(bpf("again")) + " " + quote(bpf("old/again"))}},
		{title: "the program's pins, found by walking bpffs", argv: []string{"simfs", "prog", "show"}, check: contains("syscall  name count", "pinned "+bpf("count"), "pinned "+bpf("old/again"))},
		{title: "unpin both: the last reference goes and the program is freed", argv: []string{"rm", "-r", bpf("count"), bpf("old")}},
		{title: "nothing is left but the map", argv: []string{"simfs", "prog", "show"}, check: func(_ backend, out string) error {
			if strings.TrimSpace(out) != "" {
				return fmt.Errorf("programs are still loaded")
			}
			return nil
		}},

		// The RFC.
		{title: "cgroup2: make a small tree", argv: []string{"mkdir", "-p", cg("demo/a")}, needs: "cgroup2"},
		{title: "a cgroup directory's inode number is its id", argv: []string{"stat", "-c", "%i %n", cg("demo"), cg("demo/a")}, needs: "cgroup2"},
		{title: "load the view program, pinned in bpffs", argv: []string{"simfs", "prog", "load", view, bpf("view")}, needs: "view"},
		{title: "exposing an object that has no bpffs pin fails: ENXIO (RFC patch 3)", argv: []string{"simfs", "prog", "load", view, cg("demo/a/orphan")}, want: unix.ENXIO, needs: "view"},
		{title: "create its view link, pinned in bpffs", argv: []string{"simfs", "link", "create", bpf("view"), bpf("show")}, needs: "view"},
		{title: "expose the link in a cgroup directory (BPF_OBJ_PIN into kernfs)", argv: []string{"simfs", "pin", bpf("show"), cg("demo/a/show")}, needs: "view"},
		{title: "and in its parent: the same link, another cgroup", argv: []string{"simfs", "pin", bpf("show"), cg("demo/show")}, needs: "view"},
		{title: "the exposure is 0600, root's; it holds no reference on the link", argv: stat(cg("demo/a/show")), check: contains("-rw------- 1 root 0"), needs: "view"},
		{title: "reading it runs the program for that directory's cgroup", argv: []string{"cat", cg("demo/a/show")}, check: showsCgroup(cg("demo/a")), needs: "view"},
		{title: "the same link read in the parent shows the parent", argv: []string{"cat", cg("demo/show")}, check: showsCgroup(cg("demo")), needs: "view"},
		{title: "an exposed program (not a view link) cannot be read: EACCES", argv: []string{"sh", "-c", "simfs pin " + quote(bpf("view")) + " " + quote(cg("demo/a/prog")) + " && cat " + quote(cg("demo/a/prog"))}, want: unix.EACCES, needs: "view"},
		{title: "writing anything but rm to an exposure: EINVAL (RFC patch 4)", argv: []string{"sh", "-c", "/bin/echo xxx > " + quote(cg("demo/a/prog"))}, want: unix.EINVAL, needs: "view"},
		{title: "writing rm removes it", argv: []string{"sh", "-c", "echo rm > " + quote(cg("demo/a/show")) + " && ls " + quote(cg("demo/a"))}, check: lacks("show"), needs: "view"},
		{title: "expose it again", argv: []string{"simfs", "pin", bpf("show"), cg("demo/a/show")}, needs: "view"},
		{title: "unpin the link in bpffs: every exposure of it goes with it (the fsnotify watcher)", argv: []string{"sh", "-c", "rm " + quote(bpf("show")) + " && ls " + quote(cg("demo/a")) + " " + quote(cg("demo"))}, check: lacks("show"), needs: "view"},
		{title: "so reading it now fails: ENOENT", argv: []string{"cat", cg("demo/a/show")}, want: unix.ENOENT, needs: "view"},
		{title: "expose a new link, then rmdir the cgroup: exposures do not block rmdir (RFC rule 6)", argv: []string{"sh", "-c", "simfs link create " + quote(bpf("view")) + " " + quote(bpf("show2")) + " && simfs pin " + quote(bpf("show2")) + " " + quote(cg("demo/a/show")) + " && rmdir " + quote(cg("demo/a"))}, needs: "view"},
		{title: "and the later unpin does not fail", argv: []string{"rm", bpf("show2"), bpf("view")}, needs: "view"},
		{title: "clean up the cgroup tree", argv: []string{"sh", "-c", "rmdir " + quote(cg("demo/a")) + " 2>/dev/null; rmdir " + quote(cg("demo"))}, needs: "cgroup2"},
	}
}

// seam says what a missing feature waits for.
func seam(need string) string {
	switch need {
	case "view":
		return "SEAM(kernel): the view/cgroup program type and BPF_OBJ_PIN into kernfs directories are not in this simulated kernel yet"
	case "cgroup2":
		return "SEAM(kernel): this machine has no cgroup2 hierarchy"
	}
	return "needs " + need
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
	feats := b.features()
	avail := func(need string) bool {
		switch need {
		case "":
			return true
		case "view":
			return has(feats, "prog:view/cgroup") && has(feats, "expose") && has(feats, "cgroup2")
		}
		return has(feats, need)
	}
	steps := demoSteps(b, files)
	failed := 0
	skipped := map[string]int{}
	for i, s := range steps {
		fmt.Fprintf(e.stdout, "\n[%d/%d] %s\n", i+1, len(steps), s.title)
		if !avail(s.needs) {
			if skipped[s.needs] == 0 {
				fmt.Fprintf(e.stdout, "      skipped: %s\n", seam(s.needs))
			} else {
				fmt.Fprintln(e.stdout, "      skipped (the same seam)")
			}
			skipped[s.needs]++
			continue
		}
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
	for need, n := range skipped {
		fmt.Fprintf(e.stdout, "%d steps skipped: %s.\n", n, seam(need))
	}
	if failed == 0 {
		fmt.Fprintf(e.stdout, "demo: all %d steps that ran went as the RFC says.\n", len(steps)-sum(skipped))
	} else {
		fmt.Fprintf(e.stdout, "demo: %d steps did not go as the RFC says.\n", failed)
	}
	return failed
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
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
	dir   string // the mount's parent
	self  string // this binary
	feats []string
}

func (f *fuseBackend) bpf(rel string) string { return filepath.Join(f.dir, "bpf", rel) }
func (f *fuseBackend) cg(rel string) string  { return filepath.Join(f.dir, "cgroup", rel) }
func (f *fuseBackend) features() []string    { return f.feats }

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
	feats  []string
}

func (l *libBackend) bpf(rel string) string { return filepath.Join(kernel.BPFFSPath, rel) }
func (l *libBackend) cg(rel string) string  { return filepath.Join(kernel.CgroupPath, rel) }
func (l *libBackend) features() []string    { return l.feats }

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

func writeDemoFiles(dir, hitsPath string) error {
	v, err := viewAsm()
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "view.s"), []byte(v), 0644); err != nil {
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
		o := daemonOpts{bpfDir: filepath.Join(dir, "bpf"), cgDir: filepath.Join(dir, "cgroup"), socket: filepath.Join(dir, ".simfs.sock")}
		o.ready = func(info daemon.DaemonInfo, _ *kernel.Machine) error {
			walked = true
			fmt.Fprintf(e.stdout, "simfs demo: the RFC \"Pinning bpf objects outside bpffs\" on a simulated machine,\n"+
				"served over FUSE at %s (bpffs at bpf/, cgroup2 at cgroup/).\n", dir)
			if err := writeDemoFiles(dir, filepath.Join(dir, "bpf", "hits")); err != nil {
				return err
			}
			failed = walk(e, &fuseBackend{dir: dir, self: self, feats: info.Features}, dir)
			if *once {
				cancel()
			} else {
				fmt.Fprintf(e.stdout, "\nThe mount stays up at %s; try the commands above. Ctrl-C to stop.\n", dir)
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
// socket in dir, and the library for the file commands.
func libraryDemo(ctx context.Context, e *env, dir, why string, once bool) error {
	fmt.Fprintf(e.stdout, "simfs demo: FUSE is not used (%s),\n"+
		"so the same steps run through the library on simulated paths\n(/sys/fs/bpf, /sys/fs/cgroup), with no mount.\n", why)
	m, err := kernel.Boot(kernel.Config{})
	if err != nil {
		return err
	}
	sock := filepath.Join(dir, ".simfs.sock")
	srv := daemon.New(daemon.Config{Machine: m, Info: daemon.DaemonInfo{ID: "demo", Pid: os.Getpid(), Socket: sock}})
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
	failed := walk(e, &libBackend{proc: proc, socket: sock, feats: srv.Info().Features}, dir)
	if failed > 0 {
		return fmt.Errorf("demo: %d steps went wrong", failed)
	}
	if !once {
		fmt.Fprintf(e.stdout, "\nThe daemon stays up (no mount): simfs --socket %s ... with simulated paths. Ctrl-C to stop.\n", sock)
		<-ctx.Done()
	}
	return nil
}
