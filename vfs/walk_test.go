package vfs_test

import (
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

const (
	rdonly = unix.O_RDONLY
	wronly = unix.O_WRONLY
	rdwr   = unix.O_RDWR
	ocreat = unix.O_CREAT
	oexcl  = unix.O_EXCL
	otrunc = unix.O_TRUNC
	odir   = unix.O_DIRECTORY
	onofol = unix.O_NOFOLLOW
)

// chain builds /l0 -> /l1 -> ... -> /l(n-1) -> target, returning the steps.
func chain(n int, target string) []op {
	var steps []op
	for i := n - 1; i >= 0; i-- {
		next := target
		if i < n-1 {
			next = "l" + itoa(i+1)
		}
		steps = append(steps, symlink(next, "/l"+itoa(i)))
	}
	return steps
}

func itoa(i int) string {
	const digits = "0123456789"
	if i < 10 {
		return digits[i : i+1]
	}
	return itoa(i/10) + digits[i%10:i%10+1]
}

func cat(parts ...[]op) []op {
	var out []op
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func TestWalkErrors(t *testing.T) {
	long := strings.Repeat("x", 256)
	max := strings.Repeat("y", 255)
	// A path of exactly 4095 bytes (+ NUL = PATH_MAX) and one of 4096.
	deep := func(n int) string {
		p := "/d"
		for len(p)+2 <= n {
			p += "/."
		}
		if len(p) < n {
			p = "/" + p // "//d/./." style padding keeps the meaning
		}
		return p
	}
	runScripts(t, []script{
		{name: "ENOENT missing", steps: []op{stat("/nope").fails(unix.ENOENT), lstat("/a/b").fails(unix.ENOENT)}},
		{name: "ENOENT empty path", steps: []op{stat("").fails(unix.ENOENT), mkdir("", 0777).fails(unix.ENOENT)}},
		{name: "ENOTDIR through a file", steps: []op{
			creat("/f", 0644),
			stat("/f/x").fails(unix.ENOTDIR),
			stat("/f/").fails(unix.ENOTDIR),
			stat("/f/.").fails(unix.ENOTDIR),
			stat("/f/..").fails(unix.ENOTDIR),
			mkdir("/f/d", 0777).fails(unix.ENOTDIR),
			creat("/f/g", 0644).fails(unix.ENOTDIR),
			unlink("/f/").fails(unix.ENOTDIR),
			rmdir("/f").fails(unix.ENOTDIR),
			rmdir("/f/").fails(unix.ENOTDIR),
		}},
		{name: "ENOENT before ENOTDIR", steps: []op{
			creat("/f", 0644),
			stat("/nope/f/x").fails(unix.ENOENT),
			stat("/f/nope/x").fails(unix.ENOTDIR),
		}},
		{name: "ENAMETOOLONG component", steps: []op{
			stat("/" + long).fails(unix.ENAMETOOLONG),
			stat("/" + long + "/x").fails(unix.ENAMETOOLONG),
			mkdir("/"+long, 0777).fails(unix.ENAMETOOLONG),
			creat("/"+long, 0644).fails(unix.ENAMETOOLONG),
			unlink("/" + long).fails(unix.ENAMETOOLONG),
			rmdir("/" + long).fails(unix.ENAMETOOLONG),
			symlink("x", "/"+long).fails(unix.ENAMETOOLONG),
			mkdir("/"+max, 0777),
			stat("/" + max),
			rename("/"+max, "/"+long).fails(unix.ENAMETOOLONG),
			link("/"+max, "/"+long).fails(unix.ENAMETOOLONG),
		}},
		{name: "ENAMETOOLONG path", steps: []op{
			mkdir("/d", 0777),
			stat(deep(4095)),
			stat(deep(4096)).fails(unix.ENAMETOOLONG),
			stat(deep(5000)).fails(unix.ENAMETOOLONG),
			mkdir(deep(4096)+"/x", 0777).fails(unix.ENAMETOOLONG),
			symlink(strings.Repeat("a", 4095), "/s"),
			readlink("/s"),
			symlink(strings.Repeat("a", 4096), "/t").fails(unix.ENAMETOOLONG),
			symlink(strings.Repeat("a", 4096), "/nope/t").fails(unix.ENAMETOOLONG),
		}},
		{name: "ELOOP 40 links", steps: cat(
			[]op{mkdir("/d", 0777), creat("/d/f", 0644)},
			chain(40, "d"),
			[]op{
				stat("/l0"),
				stat("/l0/f"),
				readlink("/l0"),
				lstat("/l0"),
			})},
		{name: "ELOOP 41 links", steps: cat(
			[]op{mkdir("/d", 0777), creat("/d/f", 0644)},
			chain(41, "d"),
			[]op{
				stat("/l0").fails(unix.ELOOP),
				stat("/l0/f").fails(unix.ELOOP),
				stat("/l1/f"),
				lstat("/l0"),
				open(1, "/l0/f", rdonly, 0).fails(unix.ELOOP),
				mkdir("/l0/x", 0777).fails(unix.ELOOP),
			})},
		{name: "ELOOP cycle", steps: []op{
			symlink("b", "/a"),
			symlink("a", "/b"),
			symlink("c", "/c"),
			stat("/a").fails(unix.ELOOP),
			stat("/c").fails(unix.ELOOP),
			stat("/c/x").fails(unix.ELOOP),
			lstat("/a"),
			lstat("/a/").fails(unix.ELOOP),
			open(1, "/a", rdonly, 0).fails(unix.ELOOP),
			open(1, "/a", rdonly|ocreat, 0644).fails(unix.ELOOP),
			unlink("/a"),
			stat("/b").fails(unix.ENOENT),
		}},
		{name: "symlinks relative absolute dot", steps: []op{
			mkdir("/d", 0777),
			mkdir("/d/e", 0777),
			creat("/d/e/f", 0644),
			symlink("e/f", "/d/rel"),
			symlink("/d/e", "/d/abs"),
			symlink("..", "/d/e/up"),
			symlink(".", "/d/dot"),
			symlink("/", "/d/root"),
			stat("/d/rel"),
			stat("/d/abs/f"),
			stat("/d/e/up/rel"),
			stat("/d/dot/dot/e"),
			stat("/d/root/d/e/f"),
			stat("/d/abs/"),
			stat("/d/rel/").fails(unix.ENOTDIR),
			lstat("/d/rel/").fails(unix.ENOTDIR),
			lstat("/d/abs/"),
			lstat("/d/abs"),
			readlink("/d/abs/").fails(unix.EINVAL),
			readlink("/d/e").fails(unix.EINVAL),
			readlink("/d/nope").fails(unix.ENOENT),
			symlink("", "/d/empty").fails(unix.ENOENT),
			symlink("nowhere", "/d/dangling"),
			stat("/d/dangling").fails(unix.ENOENT),
			lstat("/d/dangling"),
			stat("/d/dangling/x").fails(unix.ENOENT),
		}},
		{name: "dot and dotdot", steps: []op{
			mkdir("/a", 0777),
			mkdir("/a/b", 0777),
			stat("/a/b/.."),
			stat("/.."),
			stat("/../../a"),
			stat("/a/./b/../b/."),
			stat("/a//b//"),
			stat("//a"),
			mkdir("/a/.", 0777).fails(unix.EEXIST),
			mkdir("/a/..", 0777).fails(unix.EEXIST),
			mkdir("/", 0777).fails(unix.EEXIST),
			rmdir("/a/b/.").fails(unix.EINVAL),
			rmdir("/a/b/..").fails(unix.ENOTEMPTY),
			rmdir("/").fails(unix.EBUSY),
			rmdir("/a/..").fails(unix.ENOTEMPTY),
			unlink("/a/.").fails(unix.EISDIR),
			unlink("/a/..").fails(unix.EISDIR),
			unlink("/").fails(unix.EISDIR),
			rename("/a/.", "/x").fails(unix.EBUSY),
			rename("/a/b", "/a/.").fails(unix.EBUSY),
			rename("/a/b", "/").fails(unix.EBUSY),
			rename2("/a/b", "/a/..", unix.RENAME_NOREPLACE).fails(unix.EEXIST),
			link("/a/b", "/a/.").fails(unix.EEXIST),
			symlink("x", "/a/..").fails(unix.EEXIST),
			mknod("/a/.", unix.S_IFREG|0644, 0).fails(unix.EEXIST),
		}},
		{name: "relative paths and cwd", steps: []op{
			mkdir("/a", 0777),
			mkdir("/a/b", 0777),
			chdir("/a"),
			stat("b"),
			stat("."),
			stat(".."),
			mkdir("c", 0777),
			creat("b/f", 0644),
			rename("b/f", "c/g"),
			stat("/a/c/g"),
			chdir("c/g").fails(unix.ENOTDIR),
			chdir("nope").fails(unix.ENOENT),
			chdir("/"),
			stat("a/c/g"),
		}},
		{name: "removed cwd", steps: []op{
			mkdir("/a", 0777),
			mkdir("/a/b", 0777),
			chdir("/a/b"),
			rmdir("/a/b"),
			stat("."), // the working directory is a reference: nlink 0
			stat(".."),
			creat("f", 0644).fails(unix.ENOENT),
			mkdir("g", 0777).fails(unix.ENOENT),
			symlink("x", "s").fails(unix.ENOENT),
			readdir(".").fails(unix.ENOENT),
			chdir(".."),
			stat("b").fails(unix.ENOENT),
		}},
		{name: "trailing slashes", steps: []op{
			mkdir("/d/", 0777),
			creat("/f", 0644),
			mkdir("/e//", 0777),
			stat("/d/"),
			stat("/d//"),
			symlink("d", "/ld"),
			symlink("f", "/lf"),
			symlink("x", "/n/").fails(unix.ENOENT),
			symlink("x", "/f/").fails(unix.EEXIST), // filename_create: positive before slashes
			symlink("x", "/d/").fails(unix.EEXIST),
			link("/f", "/g/").fails(unix.ENOENT),
			link("/f/", "/g").fails(unix.ENOTDIR),
			link("/f", "/d/").fails(unix.EEXIST),
			mknod("/m/", unix.S_IFREG|0644, 0).fails(unix.ENOENT),
			creat("/c/", 0644).fails(unix.EISDIR),
			creat("/f/", 0644).fails(unix.EISDIR),
			open(1, "/d/", rdonly, 0),
			closefd(1),
			open(1, "/f/", rdonly, 0).fails(unix.ENOTDIR),
			open(1, "/ld/", rdonly, 0),
			closefd(1),
			unlink("/ld/").fails(unix.ENOTDIR),
			unlink("/lf/").fails(unix.ENOTDIR),
			unlink("/nope/").fails(unix.ENOENT),
			unlink("/d/").fails(unix.EISDIR),
			rmdir("/ld/").fails(unix.ENOTDIR),
			rmdir("/ld").fails(unix.ENOTDIR),
			rename("/f/", "/g").fails(unix.ENOTDIR),
			rename("/f", "/g/").fails(unix.ENOTDIR),
			rename("/d/", "/e/"),
			rename("/e", "/d//"),
			rename("/lf", "/lf2/").fails(unix.ENOTDIR),
			rename("/ld/", "/ld2").fails(unix.ENOTDIR),
			rmdir("/d/"),
			rmdir("/e/").fails(unix.ENOENT),
		}},
	})
}
