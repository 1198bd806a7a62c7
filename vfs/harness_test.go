package vfs_test

// The script harness: a script is a list of file-system operations, each
// with the errno it must give. It runs on simfs (vfs + RamFS) always and,
// when the test runs as root, on the running kernel too (a ramfs and a tmpfs
// mounted in a private namespace, see vfs/vfstest), comparing every errno,
// every output (stat fields, inode identity, directory listings, data) and
// a snapshot of the whole tree after every step.

import (
	"fmt"
	"syscall"
	"testing"

	"github.com/simfs/simfs/vfs/vfstest"
	"github.com/stretchr/testify/require"
)

type op = vfstest.Op

// Short names for the operations, so that the tables read like a shell
// session.
var (
	mkdir    = vfstest.Mkdir
	rmdir    = vfstest.Rmdir
	unlink   = vfstest.Unlink
	link     = vfstest.Link
	symlink  = vfstest.Symlink
	rename   = vfstest.Rename
	rename2  = vfstest.Rename2
	mknod    = vfstest.Mknod
	open     = vfstest.Open
	creat    = vfstest.Creat
	closefd  = vfstest.Close
	read     = vfstest.Read
	write    = vfstest.Write
	fstat    = vfstest.Fstat
	chmod    = vfstest.Chmod
	chown    = vfstest.Chown
	truncate = vfstest.Truncate
	stat     = vfstest.Stat
	lstat    = vfstest.Lstat
	readlink = vfstest.Readlink
	readdir  = vfstest.Readdir
	chdir    = vfstest.Chdir
	umask    = vfstest.Umask
	as       = vfstest.As
	asRoot   = vfstest.AsRoot
	mount    = vfstest.Mount
	umountOp = vfstest.Umount
)

// script is one table entry.
type script struct {
	name  string
	steps []op
	// ramfsOnly: tmpfs answers differently by design (RENAME_WHITEOUT).
	ramfsOnly bool
}

// trace is what one backend observed.
type trace struct {
	errnos []syscall.Errno
	outs   []string
	snaps  [][]string
}

func runBackend(b vfstest.Backend, s script) trace {
	var tr trace
	for _, o := range s.steps {
		out, e := b.Run(o)
		tr.errnos = append(tr.errnos, e)
		tr.outs = append(tr.outs, fmt.Sprintf("%s => %s %s", o, vfstest.ErrName(e), out))
		tr.snaps = append(tr.snaps, b.Snapshot())
	}
	return tr
}

// checkWant reports the steps whose errno is not the one the script wants.
func checkWant(t *testing.T, who string, s script, tr trace) {
	t.Helper()
	for i, o := range s.steps {
		if !o.AnyErr && tr.errnos[i] != o.Want {
			t.Errorf("%s: step %d (%s): want %s, got %s", who, i, o, vfstest.ErrName(o.Want), vfstest.ErrName(tr.errnos[i]))
		}
	}
}

// runScript runs s on simfs, checking each step's errno, and, as root, on
// the kernel's ramfs and tmpfs, checking the same and requiring identical
// observations from simfs.
func runScript(t *testing.T, s script) {
	t.Helper()
	vb := vfstest.NewSimfs()
	defer vb.Close()
	want := runBackend(vb, s)
	checkWant(t, "simfs", s, want)
	if testing.Short() || !kernelAvailable() {
		return
	}
	fstypes := []string{"ramfs", "tmpfs"}
	if s.ramfsOnly {
		fstypes = fstypes[:1]
	}
	for _, fs := range fstypes {
		kb := vfstest.NewKernel(t, fs)
		got := runBackend(kb, s)
		kb.Close()
		checkWant(t, "linux "+fs, s, got)
		for i := range s.steps {
			require.Equalf(t, got.outs[i], want.outs[i], "step %d differs: linux %s vs simfs", i, fs)
			require.Equalf(t, got.snaps[i], want.snaps[i], "tree after step %d (%s) differs: linux %s vs simfs", i, s.steps[i], fs)
		}
	}
}

func runScripts(t *testing.T, scripts []script) {
	for _, s := range scripts {
		t.Run(s.name, func(t *testing.T) { runScript(t, s) })
	}
}

func kernelAvailable() bool { return vfstest.Available() == nil }
