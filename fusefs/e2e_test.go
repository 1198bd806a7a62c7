package fusefs

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/simfs/simfs/vfs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"golang.org/x/sys/unix"
)

// statLine is what `stat -c '%i %f %h %u %g %s'` prints for an inode as
// the simulator sees it.
func statLine(st vfs.Stat) string {
	return fmt.Sprintf("%d %x %d %d %d %d\n", st.Ino, st.Mode, st.Nlink, st.UID, st.GID, st.Size)
}

const statFmt = "stat -c '%i %f %h %u %g %s' "

func requireOK(t *testing.T, r result) {
	t.Helper()
	require.Zero(t, r.code, "%v", r)
}

// requireErr checks that a tool failed with errno's message.
func requireErr(t *testing.T, r result, errno syscall.Errno) {
	t.Helper()
	require.NotZero(t, r.code, "%v", r)
	require.Contains(t, r.err, strerror(errno), "%v", r)
}

// TestRamfsWithTools drives a ramfs mount with coreutils and compares
// what they see with what the simulator says.
func TestRamfsWithTools(t *testing.T) {
	v, c := newRamfs()
	_, mnt := mount(t, v, v.Root(), Options{})
	q := func(p string) string { return "'" + filepath.Join(mnt, p) + "'" }

	requireOK(t, sh(t, "umask 022 && mkdir "+q("d")+" && echo hello > "+q("d/f")+" && ln "+q("d/f")+" "+q("d/g")+
		" && ln -s f "+q("d/s")+" && touch "+q("d/t")+" && mv "+q("d/t")+" "+q("d/u")))
	for _, p := range []string{"", "d", "d/f", "d/g", "d/s", "d/u"} {
		st, err := v.Lstat(c, "/"+p)
		require.NoError(t, err, p)
		r := sh(t, statFmt+q(p))
		requireOK(t, r)
		assert.Equal(t, statLine(st), r.out, p)
	}
	st, _ := v.Stat(c, "/d/f")
	assert.Equal(t, uint32(2), st.Nlink)
	assert.Equal(t, uint32(vfs.S_IFDIR|0755), v.Getattr(mustResolve(t, v, "/d")).Mode)

	r := sh(t, "cat "+q("d/f")+" "+q("d/s")+" && readlink "+q("d/s"))
	requireOK(t, r)
	assert.Equal(t, "hello\nhello\nf\n", r.out)

	// Directory listing: names, types and the simulator's inode numbers.
	r = sh(t, "ls -ia1 "+q("d"))
	requireOK(t, r)
	ents, err := v.ReadDir(c, "/d")
	require.NoError(t, err)
	for _, e := range ents {
		assert.Contains(t, r.out, fmt.Sprintf("%d %s\n", e.Ino, e.Name))
	}
	assert.Contains(t, r.out, fmt.Sprintf("%d .\n", mustResolve(t, v, "/d").Ino()))
	assert.Contains(t, r.out, fmt.Sprintf("%d ..\n", v.Root().Ino()))
	r = sh(t, "ls -la "+q("d"))
	requireOK(t, r)
	assert.Regexp(t, `-rw-r--r-- +2 root root +6 .* f\n`, r.out)
	assert.Regexp(t, `lrwxrwxrwx +1 root root +1 .* s -> f\n`, r.out)

	// Errors come from the simulator.
	requireErr(t, sh(t, "rmdir "+q("d")), unix.ENOTEMPTY)
	requireErr(t, sh(t, "mkdir "+q("d")), unix.EEXIST)
	requireErr(t, sh(t, "cat "+q("d/nothing")), unix.ENOENT)
	requireErr(t, sh(t, "rmdir "+q("d/f")), unix.ENOTDIR)

	requireOK(t, sh(t, "rm "+q("d/u")+" "+q("d/g")))
	_, err = v.Lstat(c, "/d/u")
	assert.ErrorIs(t, err, unix.ENOENT)
	st, _ = v.Stat(c, "/d/f")
	assert.Equal(t, uint32(1), st.Nlink)

	// Attributes.
	requireOK(t, sh(t, "chmod 750 "+q("d")+" && chown 65534:65534 "+q("d/f")+
		" && touch -m -d @1000000000 "+q("d/f")+" && truncate -s 2 "+q("d/f")+" && echo more >> "+q("d/f")))
	st, _ = v.Stat(c, "/d")
	assert.Equal(t, uint32(vfs.S_IFDIR|0750), st.Mode)
	st, _ = v.Stat(c, "/d/f")
	assert.Equal(t, []uint32{65534, 65534}, []uint32{st.UID, st.GID})
	assert.Equal(t, int64(7), st.Size)
	r = sh(t, "cat "+q("d/f")+" && stat -c '%s %Y' "+q("d/f"))
	requireOK(t, r)
	assert.Equal(t, "hemore\n7 "+fmt.Sprint(st.Mtime.Unix())+"\n", r.out)

	// renameat2 flags.
	requireOK(t, sh(t, "echo one > "+q("d/one")+" && echo two > "+q("d/two")))
	assert.Equal(t, "EEXIST\n", helperCmd(t, "rename", filepath.Join(mnt, "d/one"), filepath.Join(mnt, "d/two"), "1").out)
	assert.Equal(t, "OK\n", helperCmd(t, "rename", filepath.Join(mnt, "d/one"), filepath.Join(mnt, "d/two"), "2").out)
	r = sh(t, "cat "+q("d/one")+" "+q("d/two"))
	assert.Equal(t, "two\none\n", r.out)
	assert.Equal(t, "OK\n", helperCmd(t, "rename", filepath.Join(mnt, "d/one"), filepath.Join(mnt, "d/three"), "1").out)
	_, err = v.Stat(c, "/d/three")
	assert.NoError(t, err)

	// statfs: the block size and name length are the simulator's; the
	// type is FUSE_SUPER_MAGIC whatever the simulator says (a kernel
	// limit, see the package documentation).
	r = sh(t, "stat -f -c '%t %s %l' "+q(""))
	requireOK(t, r)
	assert.Equal(t, "65735546 4096 255\n", r.out)

	requireOK(t, sh(t, "rm -r "+q("d")))
	_, err = v.Stat(c, "/d")
	assert.ErrorIs(t, err, unix.ENOENT)
}

func mustResolve(t *testing.T, v *vfs.VFS, path string) *vfs.Inode {
	t.Helper()
	in, err := v.Resolve(vfs.RootCaller(), path, false)
	require.NoError(t, err)
	return in
}

// newTestFS is a namespace with a testFS superblock (a bpffs-like root,
// sticky and world-writable) holding one generated file.
func newTestFS() (*vfs.VFS, *vfs.Inode, *vfs.Inode) {
	v, _ := newRamfs()
	sb := v.NewSuperblock(testFS{}, vfs.InodeAttr{Mode: vfs.S_IFDIR | 01777, DirOps: testDirOps{}})
	gen, _ := addGen(v, sb.Root(), "gen", 0444, "")
	return v, sb.Root(), gen
}

// TestBpffsLikeErrnos checks that the directory operations answer with
// the file system's errnos, not go-fuse's, and that generated files are
// fresh per open and sized 0.
func TestBpffsLikeErrnos(t *testing.T) {
	v, root, gen := newTestFS()
	_, mnt := mount(t, v, root, Options{})
	q := func(p string) string { return "'" + filepath.Join(mnt, p) + "'" }

	requireErr(t, sh(t, "touch "+q("new")), unix.EACCES)
	requireErr(t, sh(t, "echo x > "+q("new")), unix.EACCES)
	requireErr(t, sh(t, "mknod "+q("fifo")+" p"), unix.EPERM)
	requireErr(t, sh(t, "stat "+q("a.b")), unix.EPERM)
	requireErr(t, sh(t, "mkdir "+q("a.b")), unix.EPERM)
	requireOK(t, sh(t, "mkdir "+q("dir")+" && ln -s gen "+q("link")+" && ln "+q("gen")+" "+q("dir/gen2")))

	r := sh(t, "cat "+q("gen")+"; cat "+q("gen")+"; cat "+q("dir/gen2"))
	requireOK(t, r)
	assert.Equal(t, "gen open 1\ngen open 2\ngen open 3\n", r.out)
	r = sh(t, statFmt+q("gen")+" && "+statFmt+q("dir/gen2"))
	requireOK(t, r)
	st := v.Getattr(gen)
	assert.Equal(t, statLine(st)+statLine(st), r.out)
	assert.Zero(t, st.Size)

	// Writes go to the file system: only "rm" is accepted.
	requireErr(t, sh(t, "/bin/echo nope > "+q("gen")), unix.EINVAL)
	// Unlinking a name leaves the other.
	requireOK(t, sh(t, "rm "+q("dir/gen2")))
	assert.Equal(t, uint32(1), v.Nlink(gen))
	requireErr(t, sh(t, "rmdir "+q("gen")), unix.ENOTDIR)
	requireErr(t, sh(t, "rm "+q("dir")), unix.EISDIR)
}

// TestWriteThatRemovesTheFile: a write whose handler removes the file
// server-side (as "echo rm > view" does) must not deadlock: the kernel
// holds the file's lock during the WRITE, so the invalidation waits for
// the worker.
func TestWriteThatRemovesTheFile(t *testing.T) {
	v, root, _ := newTestFS()
	srv, mnt := mount(t, v, root, Options{})
	gen := filepath.Join(mnt, "gen")
	requireOK(t, sh(t, "cat "+gen+" >/dev/null && echo rm > "+gen))
	srv.Settle()
	requireErr(t, sh(t, "stat "+gen), unix.ENOENT)
	r := sh(t, "ls -a "+mnt)
	requireOK(t, r)
	assert.Equal(t, ".\n..\n", r.out)
}

// TestServerSideChanges: with hour-long entry and attribute timeouts,
// changes made by the simulator itself reach the kernel's caches.
func TestServerSideChanges(t *testing.T) {
	v, root, gen := newTestFS()
	srv, mnt := mount(t, v, root, Options{EntryTimeout: time.Hour, AttrTimeout: time.Hour})
	q := func(p string) string { return "'" + filepath.Join(mnt, p) + "'" }

	// Cache everything, then remove the generated file the kernfs way.
	requireOK(t, sh(t, "ls -la "+q("")+" && cat "+q("gen")))
	removeGen(v, gen)
	srv.Settle()
	requireErr(t, sh(t, "stat "+q("gen")), unix.ENOENT)
	requireErr(t, sh(t, "cat "+q("gen")), unix.ENOENT)
	r := sh(t, "ls -a "+q(""))
	assert.Equal(t, ".\n..\n", r.out)

	// A new server-side file shows up; so does a rename over a cached
	// name and a changed mode.
	dir := mkdirServer(t, v, root, "dir")
	g1, _ := addGen(v, dir, "one", 0444, "")
	g2, _ := addGen(v, dir, "two", 0444, "")
	srv.Settle()
	r = sh(t, statFmt+q("dir/one")+" && "+statFmt+q("dir/two")+" && cat "+q("dir/two"))
	requireOK(t, r)
	assert.Equal(t, statLine(v.Getattr(g1))+statLine(v.Getattr(g2))+"two open 1\n", r.out)
	tx := v.Begin()
	require.NoError(t, vfs.SimpleRename(tx, dir, "one", dir, "two", 0))
	tx.SetMode(g1, 0400)
	tx.End()
	srv.Settle()
	r = sh(t, statFmt+q("dir/two")+" && cat "+q("dir/two"))
	requireOK(t, r)
	assert.Equal(t, statLine(v.Getattr(g1))+"one open 1\n", r.out)
	requireErr(t, sh(t, "stat "+q("dir/one")), unix.ENOENT)

	// A directory removed with a cached child: the kernfs way, child
	// first, and the other way round.
	sub := mkdirServer(t, v, dir, "sub")
	g3, _ := addGen(v, sub, "three", 0444, "")
	srv.Settle()
	requireOK(t, sh(t, "cat "+q("dir/sub/three")))
	tx = v.Begin()
	tx.DetachChild(dir, "sub")
	tx.End()
	removeGen(v, g3)
	srv.Settle()
	requireErr(t, sh(t, "stat "+q("dir/sub/three")), unix.ENOENT)
	requireErr(t, sh(t, "stat "+q("dir/sub")), unix.ENOENT)
	r = sh(t, "ls "+q("dir"))
	assert.Equal(t, "two\n", r.out)
}

// mkdirServer makes a directory server-side.
func mkdirServer(t *testing.T, v *vfs.VFS, dir *vfs.Inode, name string) *vfs.Inode {
	t.Helper()
	in, err := v.MkdirChild(vfs.RootCaller(), dir, name, 0755)
	require.NoError(t, err)
	return in
}

// TestOpenFileAcrossRemoval: a file held open by a shell keeps answering
// what the simulator answers after the server removed it (ENODEV), not
// stale content, while a new open no longer finds it.
func TestOpenFileAcrossRemoval(t *testing.T) {
	v, root, gen := newTestFS()
	srv, mnt := mount(t, v, root, Options{})
	path := filepath.Join(mnt, "gen")
	cmd := exec.Command("/bin/sh", "-c", "exec 3<"+path+"; echo opened; read x; cat <&3; echo rc=$?")
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Start())
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	lines := bufio.NewReader(stdout)
	line, err := lines.ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "opened\n", line)

	removeGen(v, gen)
	srv.Settle()
	requireErr(t, sh(t, "cat "+path), unix.ENOENT)
	_, err = io.WriteString(stdin, "go\n")
	require.NoError(t, err)
	rest, err := io.ReadAll(lines)
	require.NoError(t, err)
	require.NoError(t, cmd.Wait())
	assert.Equal(t, "rc=1\n", string(rest))
	assert.Contains(t, stderr.String(), strerror(unix.ENODEV))
	// The vfs inode died with the last close (RELEASE is asynchronous).
	require.Eventually(t, func() bool { return !v.Alive(gen) }, 5*time.Second, time.Millisecond)
}

// TestNonRootCaller: the caller's ids come from the request; the
// simulator's permission checks use them, supplementary groups included.
func TestNonRootCaller(t *testing.T) {
	v, c := newRamfs()
	writeServer(t, v, c, "/secret", 0600, "s\n")
	writeServer(t, v, c, "/public", 0644, "p\n")
	writeServer(t, v, c, "/group", 0640, "g\n")
	require.NoError(t, v.Chown(c, "/group", ^uint32(0), 1234))
	require.NoError(t, v.Mkdir(c, "/tmp", 01777))
	require.NoError(t, v.Chmod(c, "/tmp", 01777))
	_, mnt := mount(t, v, v.Root(), Options{AllowOther: true})
	// t.TempDir's parent is 0700.
	require.NoError(t, os.Chmod(filepath.Dir(mnt), 0755))
	nobody := &syscall.Credential{Uid: 65534, Gid: 65534, Groups: []uint32{}}
	member := &syscall.Credential{Uid: 65534, Gid: 65534, Groups: []uint32{1234}}
	p := func(s string) string { return filepath.Join(mnt, s) }

	requireErr(t, runCmd(t, nobody, "cat", p("secret")), unix.EACCES)
	r := runCmd(t, nobody, "cat", p("public"))
	requireOK(t, r)
	assert.Equal(t, "p\n", r.out)
	requireErr(t, runCmd(t, nobody, "cat", p("group")), unix.EACCES)
	r = runCmd(t, member, "cat", p("group"))
	requireOK(t, r)
	assert.Equal(t, "g\n", r.out)
	requireErr(t, runCmd(t, nobody, "mkdir", p("mine")), unix.EACCES)
	requireErr(t, runCmd(t, nobody, "rm", "-f", p("public")), unix.EACCES)
	requireErr(t, runCmd(t, nobody, "chmod", "666", p("public")), unix.EPERM)
	requireOK(t, runCmd(t, nobody, "/bin/sh", "-c", "umask 077 && echo n > "+p("tmp/n")))
	st, err := v.Stat(c, "/tmp/n")
	require.NoError(t, err)
	assert.Equal(t, []uint32{65534, 65534, vfs.S_IFREG | 0600}, []uint32{st.UID, st.GID, st.Mode})
	requireErr(t, runCmd(t, nobody, "rm", p("tmp/n2")), unix.ENOENT)
	requireOK(t, runCmd(t, nobody, "rm", p("tmp/n")))
}

// writeServer creates a ramfs file with content server-side.
func writeServer(t *testing.T, v *vfs.VFS, c *vfs.Caller, path string, mode uint32, content string) {
	t.Helper()
	f, err := v.Open(c, path, unix.O_CREAT|unix.O_WRONLY, mode)
	require.NoError(t, err)
	_, err = f.Write([]byte(content))
	require.NoError(t, err)
	require.NoError(t, f.Close())
	require.NoError(t, v.Chmod(c, path, mode))
}

// TestAcrossMounts: rename(2) and link(2) between two mounts are EXDEV,
// answered by the kernel.
func TestAcrossMounts(t *testing.T) {
	v, c := newRamfs()
	writeServer(t, v, c, "/f", 0644, "f\n")
	sb := v.NewSuperblock(testFS{}, vfs.InodeAttr{Mode: vfs.S_IFDIR | 01777, DirOps: testDirOps{}})
	_, a := mount(t, v, v.Root(), Options{})
	_, b := mount(t, v, sb.Root(), Options{})
	assert.Equal(t, "EXDEV\n", helperCmd(t, "rename", filepath.Join(a, "f"), filepath.Join(b, "f"), "0").out)
	assert.Equal(t, "EXDEV\n", helperCmd(t, "rename", filepath.Join(a, "f"), filepath.Join(b, "f"), "1").out)
	requireErr(t, sh(t, "ln "+filepath.Join(a, "f")+" "+filepath.Join(b, "f")), unix.EXDEV)
}

// TestConcurrentToolsAndServerChanges runs shells against the mount while
// the simulator adds and removes files: nothing may deadlock, and every
// tool ends.
func TestConcurrentToolsAndServerChanges(t *testing.T) {
	v, root, _ := newTestFS()
	srv, mnt := mount(t, v, root, Options{})
	script := fmt.Sprintf(`for i in $(seq 60); do ls -l %[1]s >/dev/null; cat %[1]s/gen %[1]s/x* >/dev/null 2>&1; stat %[1]s/x1 >/dev/null 2>&1; done; echo done`, mnt)
	done := make(chan result, 3)
	for i := 0; i < cap(done); i++ {
		go func() { done <- sh(t, script) }()
	}
	stop := time.After(2 * time.Second)
loop:
	for i := 0; ; i++ {
		select {
		case <-stop:
			break loop
		default:
		}
		in, _ := addGen(v, root, fmt.Sprintf("x%d", i%4), 0444, "")
		if i%2 == 0 {
			removeGen(v, in)
		}
	}
	for i := 0; i < cap(done); i++ {
		r := <-done
		assert.Equal(t, "done\n", r.out, "%v", r)
	}
	srv.Settle()
}

// TestClearStale: a daemon killed with SIGKILL leaves a mount whose every
// access fails with ENOTCONN; ClearStale detaches it.
func TestClearStale(t *testing.T) {
	needFUSE(t)
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0])
	cmd.Args = []string{os.Args[0], dir}
	cmd.Env = append(os.Environ(), helperEnv+"=serve")
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "serving\n" {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Skipf("helper could not mount: %q %v", line, err)
	}
	t.Cleanup(func() { _ = unix.Unmount(dir, unix.MNT_DETACH) })
	require.NoError(t, cmd.Process.Kill())
	_ = cmd.Wait()

	var st unix.Statfs_t
	require.ErrorIs(t, unix.Statfs(dir, &st), unix.ENOTCONN)
	cleared, err := ClearStale(dir)
	require.NoError(t, err)
	assert.True(t, cleared)
	require.NoError(t, unix.Statfs(dir, &st))
	cleared, err = ClearStale(dir)
	require.NoError(t, err)
	assert.False(t, cleared)
}

// TestNoGoroutinesAfterUnmount: Unmount and Wait leave nothing running.
func TestNoGoroutinesAfterUnmount(t *testing.T) {
	needFUSE(t)
	v, root, gen := newTestFS()
	dir := t.TempDir()
	srv, err := Serve(v, root, dir, uringFromEnv(Options{}))
	if err != nil {
		t.Skipf("cannot mount FUSE: %v", err)
	}
	requireURingFromEnv(t, srv)
	requireOK(t, sh(t, "ls -l "+dir+" && cat "+dir+"/gen"))
	removeGen(v, gen)
	srv.Settle()
	require.NoError(t, srv.Unmount())
	srv.Wait()
	goleak.VerifyNone(t)
}

// TestPassthrough: with Options.Passthrough a read-only open is served
// from a snapshot rendered at open: fresh per open, also right after a
// close whose RELEASE is still on its way; overlapping opens share one
// snapshot, a write open meanwhile is EBUSY, and — the documented
// difference — an open file is still readable after the server removed
// it.
func TestPassthrough(t *testing.T) {
	v, root, gen := newTestFS()
	srv, mnt := mount(t, v, root, Options{Passthrough: true})
	path := filepath.Join(mnt, "gen")
	r := sh(t, "for i in 1 2 3 4 5 6 7 8; do cat "+path+"; done")
	requireOK(t, r)
	assert.Equal(t, "gen open 1\ngen open 2\ngen open 3\ngen open 4\ngen open 5\ngen open 6\ngen open 7\ngen open 8\n", r.out)
	r = sh(t, "exec 3<"+path+" 4<"+path+"; cat <&4; cat <&3; /bin/echo rm > "+path)
	assert.Equal(t, "gen open 9\ngen open 9\n", r.out)
	requireErr(t, r, unix.EBUSY)
	requireErr(t, sh(t, "/bin/echo nope > "+path), unix.EINVAL)

	cmd := exec.Command("/bin/sh", "-c", "exec 3<"+path+"; echo opened; read x; cat <&3; echo rc=$?")
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	lines := bufio.NewReader(stdout)
	line, err := lines.ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "opened\n", line)
	removeGen(v, gen)
	srv.Settle()
	_, err = io.WriteString(stdin, "go\n")
	require.NoError(t, err)
	rest, err := io.ReadAll(lines)
	require.NoError(t, err)
	require.NoError(t, cmd.Wait())
	// Opens 10 (shared), 11 (EBUSY) and 12 (EINVAL) rendered unseen output.
	assert.Equal(t, "gen open 13\nrc=0\n", string(rest), "the snapshot outlives the removal")
}

// TestServeWithoutRootOrHelper: a user who is not root, on a machine
// without fusermount, gets an error that says why, before any mount is
// tried.
func TestServeWithoutRootOrHelper(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to run the helper as another user")
	}
	for _, bin := range []string{"fusermount3", "fusermount"} {
		if _, err := exec.LookPath(bin); err == nil {
			t.Skipf("%s is installed", bin)
		}
	}
	// The test binary sits in a directory only root may enter.
	dir := t.TempDir()
	require.NoError(t, os.Chmod(filepath.Dir(dir), 0755))
	require.NoError(t, os.Chmod(dir, 0777))
	bin := filepath.Join(dir, "helper")
	data, err := os.ReadFile(os.Args[0])
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(bin, data, 0755))
	cmd := exec.Command(bin, dir)
	cmd.Env = append(os.Environ(), helperEnv+"=serve")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534, Groups: []uint32{}}}
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee, "%s", out)
	assert.Contains(t, string(out), "not root and neither fusermount3 nor fusermount is installed")
}

// TestLessCommonOperations: xattrs, fsync, fallocate, SEEK_DATA and
// O_TMPFILE get the answers Linux gives on bpffs/kernfs (and on ramfs for
// fsync), not go-fuse's defaults.
func TestLessCommonOperations(t *testing.T) {
	v, root, _ := newTestFS()
	_, mnt := mount(t, v, root, Options{})
	r := helperCmd(t, "ops", filepath.Join(mnt, "gen"), mnt)
	// ENOTSUP is EOPNOTSUPP on Linux.
	assert.Equal(t, `getxattr=ENOTSUP
setxattr=ENOTSUP
listxattr=0 bytes
removexattr=ENOTSUP
fsync=EINVAL
seek_data=EINVAL
fallocate=ENOTSUP
tmpfile=ENOTSUP
fsyncdir=OK
`, r.out)

	rv, c := newRamfs()
	writeServer(t, rv, c, "/f", 0644, "f\n")
	_, rmnt := mount(t, rv, rv.Root(), Options{})
	r = helperCmd(t, "ops", filepath.Join(rmnt, "f"), rmnt)
	assert.Contains(t, r.out, "fsync=OK\n")
}

// TestAbortedConnectionReleasesFiles: when the connection ends with a
// file still open (here aborted through fusectl), no RELEASE ever comes;
// the server closes the file itself, so an unlinked inode held open dies.
func TestAbortedConnectionReleasesFiles(t *testing.T) {
	v, c := newRamfs()
	writeServer(t, v, c, "/f", 0644, "f\n")
	in := mustResolve(t, v, "/f")
	srv, mnt := mount(t, v, v.Root(), Options{})
	const ctl = "/sys/fs/fuse/connections"
	if err := unix.Mount("fusectl", ctl, "fusectl", 0, ""); err == nil {
		t.Cleanup(func() { _ = unix.Unmount(ctl, unix.MNT_DETACH) })
	} else if !errors.Is(err, unix.EBUSY) {
		t.Skipf("cannot mount fusectl: %v", err)
	}
	cmd := exec.Command("/bin/sh", "-c", "exec 3<"+filepath.Join(mnt, "f")+"; rm "+filepath.Join(mnt, "f")+"; echo opened; read x")
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	defer func() { _ = stdin.Close(); _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "opened\n", line)
	require.True(t, v.Alive(in), "open after unlink")

	// The connection is named by the mount's device minor, read from
	// mountinfo rather than by a stat of the mount from this process.
	abort := filepath.Join(ctl, mountMinor(t, mnt), "abort")
	require.NoError(t, os.WriteFile(abort, []byte("1"), 0))
	done := make(chan struct{})
	go func() { srv.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("server did not stop after the abort")
	}
	assert.False(t, v.Alive(in), "the unlinked inode died when the server closed it")
}

// mountMinor returns the device minor of the mount on dir.
func mountMinor(t *testing.T, dir string) string {
	t.Helper()
	data, err := os.ReadFile("/proc/self/mountinfo")
	require.NoError(t, err)
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && f[4] == dir {
			_, minor, ok := strings.Cut(f[2], ":")
			require.True(t, ok, line)
			return minor
		}
	}
	t.Fatalf("%s not in mountinfo", dir)
	return ""
}
