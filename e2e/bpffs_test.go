package e2e

import (
	"fmt"
	"testing"
)

// FUSE's limits, asserted rather than skipped: the kernel sets statfs's
// f_type of every FUSE mount to FUSE_SUPER_MAGIC and the reply has no
// field for the simulator's magic (fusefs package documentation).
const fuseSuperMagic = 0x65735546

func fuseStatfs(kernel string) string { return fmt.Sprintf("type=%#x", fuseSuperMagic) }

// bpffsScript is the bpffs part of the comparison (after
// kernel/bpffs_diff_test.go, which compares the library's answers).
func bpffsScript() []step {
	statfs := op("statfs", "@")
	statfs.fuse = fuseStatfs
	return []step{
		op("stat", "@"),
		op("readdir", "@"),
		statfs,
		op("stat", "@maps.debug"),
		op("open", "@progs.debug", "r"),

		// Pins.
		pinMap("m"),
		op("stat", "@m"),
		pinMap("m"),
		pinProg("p"),
		op("stat", "@p"),
		op("lstat", "@p"),
		pinAgain("m", "m2"),
		op("stat", "@m2"),
		pinAgain("p", "m2"),
		pinAgain("nosuch", "x"),
		pinMap("a.b"),
		pinMap("nodir/m"),
		pinMap("m/x"),

		// Open modes; bpffs has no create (EACCES) and no ->open for
		// objects without a seq_show (EIO).
		op("open", "@m", "r"),
		op("open", "@m", "w"),
		op("open", "@p", "rw"),
		op("open", "@m", "w|creat"),
		op("open", "@m", "w|creat|excl"),
		op("open", "@new", "w|creat"),
		op("open", "@new", "r|creat|excl"),
		op("stat", "@new"),
		op("open", "@m", "r|dir"),
		op("open", "@m", "path"),
		op("open", "@", "r|dir"),
		op("open", "@", "w"),
		op("open", "@", "r|creat"),
		op("read", "@m"),
		op("write", "@m", "x"),

		// Dotted names are EPERM in bpffs, also for lookups.
		op("mkdir", "@d.x", "777"),
		op("stat", "@nosuch.x"),
		op("stat", "@nosuch"),
		op("stat", "@.hidden"),

		// Directories.
		op("mkdir", "@d", "777"),
		op("stat", "@d"),
		op("stat", "@"),
		op("mkdir", "@d", "777"),
		op("mkdir", "@d/sub", "700"),
		op("stat", "@d/sub"),
		op("rmdir", "@d/sub"),
		pinMap("d/m"),
		op("rmdir", "@d"),
		op("rmdir", "@m"),
		op("unlink", "@d"),
		op("rmdir", "@"),
		op("rmdir", "@d/."),
		op("rmdir", "@d/.."),
		op("unlink", "@."),
		op("mkdir", "@.", "755"),
		op("mkdir", "@..", "755"),
		op("mkdir", "@nodir/x", "755"),
		op("mkdir", "@m/x", "755"),

		// Hard links and symlinks.
		op("link", "@m", "@hl"),
		op("stat", "@m"),
		op("stat", "@hl"),
		op("link", "@d", "@dl"),
		op("link", "@m", "@d.l"),
		op("link", "@nosuch", "@x"),
		op("symlink", "m", "@sl"),
		op("lstat", "@sl"),
		op("stat", "@sl"),
		op("readlink", "@sl"),
		op("open", "@sl", "r|nofollow"),
		op("symlink", "x", "@s.l"),
		op("symlink", "x", "@sl"),

		// Renames, NOREPLACE (1), EXCHANGE (2), WHITEOUT (4).
		op("rename", "@m", "@hl", "1"),
		op("rename", "@hl", "@d/hl", "0"),
		op("stat", "@m"),
		op("rename", "@m", "@d", "2"),
		op("stat", "@m"),
		op("stat", "@d"),
		op("rename", "@m", "@d", "2"),
		op("rename", "@p", "@w", "4"),
		op("rename", "@p", "@none", "2"),
		op("rename", "@p", "@p.x", "0"),
		op("rename", "@d", "@d/sub", "0"),
		op("rename", "@m", "@d", "0"),
		op("rename", "@d", "@m", "0"),
		op("rename", "@m", "@m", "0"),
		op("rename", "@m", "@m", "1"),
		op("rename", "@m", "@z", "3"),
		op("mkdir", "@e", "755"),
		op("rename", "@e", "@d", "0"),
		op("rename", "@d", "@e", "0"),
		op("stat", "@e"),
		op("stat", "@"),
		op("rename", "@e", "@d", "1"),
		op("rename", "@sl", "@d/sl", "0"),
		op("readlink", "@d/sl"),
		op("stat", "@d/sl"),

		// What bpffs does not have.
		op("chmod", "@m", "644"),
		op("stat", "@m"),
		op("chmod", "@d", "1777"),
		op("stat", "@d"),
		op("truncate", "@m"),
		op("truncate", "@d"),
		op("mknod", "@f", "10644"),   // FIFO
		op("mknod", "@f", "100644"),  // regular
		op("mknod", "@f", "20644"),   // character device 0:0
		op("mknod", "@f.x", "10644"), // dotted
		op("setxattr", "@m"),

		// A newline is an ordinary character in a bpffs name.
		op("mkdir", "@new\nline", "755"),
		op("stat", "@new\nline"),
		pinMap("pin\nnl"),
		op("stat", "@pin\nnl"),

		// An unprivileged user: the pin is 0600 root's.
		as("stat", "@m"),
		as("open", "@m", "r"),
		as("mkdir", "@u", "755"),
		as("unlink", "@m"),
		as("open", "@d", "r|dir"),
		as("readdir", "@"),
		as("rmdir", "@u"),

		// Unpin everything.
		op("unlink", "@m"),
		op("unlink", "@m2"),
		op("unlink", "@hl"),
		op("unlink", "@p"),
		op("unlink", "@pin\nnl"),
		op("unlink", "@m"),
		op("unlink", "@d/sl"),
		op("unlink", "@d/hl"),
		op("unlink", "@d/m"),
		op("rmdir", "@d"),
		op("rmdir", "@new\nline"),
		op("stat", "@"),
		op("readdir", "@"),
	}
}

// TestBPFFS runs the bpffs script on a real bpffs and through simfs's
// mount.
func TestBPFFS(t *testing.T) {
	kernel := realBPFFS(t)
	sim := startSimfs(t).bpfSide()
	if n := compare(t, kernel, sim, bpffsScript()); n == 0 {
		t.Logf("simfs agrees with bpffs on every step but the FUSE limits and known gaps logged above")
	}
}
