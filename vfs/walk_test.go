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
		{name: "ENOENT missing", steps: []op{stat("/nope").Fails(unix.ENOENT), lstat("/a/b").Fails(unix.ENOENT)}},
		{name: "ENOENT empty path", steps: []op{stat("").Fails(unix.ENOENT), mkdir("", 0777).Fails(unix.ENOENT)}},
		{name: "ENOTDIR through a file", steps: []op{
			creat("/f", 0644),
			stat("/f/x").Fails(unix.ENOTDIR),
			stat("/f/").Fails(unix.ENOTDIR),
			stat("/f/.").Fails(unix.ENOTDIR),
			stat("/f/..").Fails(unix.ENOTDIR),
			mkdir("/f/d", 0777).Fails(unix.ENOTDIR),
			creat("/f/g", 0644).Fails(unix.ENOTDIR),
			unlink("/f/").Fails(unix.ENOTDIR),
			rmdir("/f").Fails(unix.ENOTDIR),
			rmdir("/f/").Fails(unix.ENOTDIR),
		}},
		{name: "ENOENT before ENOTDIR", steps: []op{
			creat("/f", 0644),
			stat("/nope/f/x").Fails(unix.ENOENT),
			stat("/f/nope/x").Fails(unix.ENOTDIR),
		}},
		{name: "ENAMETOOLONG component", steps: []op{
			stat("/" + long).Fails(unix.ENAMETOOLONG),
			stat("/" + long + "/x").Fails(unix.ENAMETOOLONG),
			mkdir("/"+long, 0777).Fails(unix.ENAMETOOLONG),
			creat("/"+long, 0644).Fails(unix.ENAMETOOLONG),
			unlink("/" + long).Fails(unix.ENAMETOOLONG),
			rmdir("/" + long).Fails(unix.ENAMETOOLONG),
			symlink("x", "/"+long).Fails(unix.ENAMETOOLONG),
			mkdir("/"+max, 0777),
			stat("/" + max),
			rename("/"+max, "/"+long).Fails(unix.ENAMETOOLONG),
			link("/"+max, "/"+long).Fails(unix.ENAMETOOLONG),
		}},
		{name: "ENAMETOOLONG path", steps: []op{
			mkdir("/d", 0777),
			stat(deep(4095)),
			stat(deep(4096)).Fails(unix.ENAMETOOLONG),
			stat(deep(5000)).Fails(unix.ENAMETOOLONG),
			mkdir(deep(4096)+"/x", 0777).Fails(unix.ENAMETOOLONG),
			symlink(strings.Repeat("a", 4095), "/s"),
			readlink("/s"),
			symlink(strings.Repeat("a", 4096), "/t").Fails(unix.ENAMETOOLONG),
			symlink(strings.Repeat("a", 4096), "/nope/t").Fails(unix.ENAMETOOLONG),
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
				stat("/l0").Fails(unix.ELOOP),
				stat("/l0/f").Fails(unix.ELOOP),
				stat("/l1/f"),
				lstat("/l0"),
				open(1, "/l0/f", rdonly, 0).Fails(unix.ELOOP),
				mkdir("/l0/x", 0777).Fails(unix.ELOOP),
			})},
		{name: "ELOOP cycle", steps: []op{
			symlink("b", "/a"),
			symlink("a", "/b"),
			symlink("c", "/c"),
			stat("/a").Fails(unix.ELOOP),
			stat("/c").Fails(unix.ELOOP),
			stat("/c/x").Fails(unix.ELOOP),
			lstat("/a"),
			lstat("/a/").Fails(unix.ELOOP),
			open(1, "/a", rdonly, 0).Fails(unix.ELOOP),
			open(1, "/a", rdonly|ocreat, 0644).Fails(unix.ELOOP),
			unlink("/a"),
			stat("/b").Fails(unix.ENOENT),
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
			stat("/d/rel/").Fails(unix.ENOTDIR),
			lstat("/d/rel/").Fails(unix.ENOTDIR),
			lstat("/d/abs/"),
			lstat("/d/abs"),
			readlink("/d/abs/").Fails(unix.EINVAL),
			readlink("/d/e").Fails(unix.EINVAL),
			readlink("/d/nope").Fails(unix.ENOENT),
			symlink("", "/d/empty").Fails(unix.ENOENT),
			symlink("nowhere", "/d/dangling"),
			stat("/d/dangling").Fails(unix.ENOENT),
			lstat("/d/dangling"),
			stat("/d/dangling/x").Fails(unix.ENOENT),
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
			mkdir("/a/.", 0777).Fails(unix.EEXIST),
			mkdir("/a/..", 0777).Fails(unix.EEXIST),
			mkdir("/", 0777).Fails(unix.EEXIST),
			rmdir("/a/b/.").Fails(unix.EINVAL),
			rmdir("/a/b/..").Fails(unix.ENOTEMPTY),
			rmdir("/").Fails(unix.EBUSY),
			rmdir("/a/..").Fails(unix.ENOTEMPTY),
			unlink("/a/.").Fails(unix.EISDIR),
			unlink("/a/..").Fails(unix.EISDIR),
			unlink("/").Fails(unix.EISDIR),
			rename("/a/.", "/x").Fails(unix.EBUSY),
			rename("/a/b", "/a/.").Fails(unix.EBUSY),
			rename("/a/b", "/").Fails(unix.EBUSY),
			rename2("/a/b", "/a/..", unix.RENAME_NOREPLACE).Fails(unix.EEXIST),
			link("/a/b", "/a/.").Fails(unix.EEXIST),
			symlink("x", "/a/..").Fails(unix.EEXIST),
			mknod("/a/.", unix.S_IFREG|0644, 0).Fails(unix.EEXIST),
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
			chdir("c/g").Fails(unix.ENOTDIR),
			chdir("nope").Fails(unix.ENOENT),
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
			creat("f", 0644).Fails(unix.ENOENT),
			mkdir("g", 0777).Fails(unix.ENOENT),
			symlink("x", "s").Fails(unix.ENOENT),
			readdir(".").Fails(unix.ENOENT),
			chdir(".."),
			stat("b").Fails(unix.ENOENT),
		}},
		{name: "trailing slashes", steps: []op{
			mkdir("/d/", 0777),
			creat("/f", 0644),
			mkdir("/e//", 0777),
			stat("/d/"),
			stat("/d//"),
			symlink("d", "/ld"),
			symlink("f", "/lf"),
			symlink("x", "/n/").Fails(unix.ENOENT),
			symlink("x", "/f/").Fails(unix.EEXIST), // filename_create: positive before slashes
			symlink("x", "/d/").Fails(unix.EEXIST),
			link("/f", "/g/").Fails(unix.ENOENT),
			link("/f/", "/g").Fails(unix.ENOTDIR),
			link("/f", "/d/").Fails(unix.EEXIST),
			mknod("/m/", unix.S_IFREG|0644, 0).Fails(unix.ENOENT),
			creat("/c/", 0644).Fails(unix.EISDIR),
			creat("/f/", 0644).Fails(unix.EISDIR),
			open(1, "/d/", rdonly, 0),
			closefd(1),
			open(1, "/f/", rdonly, 0).Fails(unix.ENOTDIR),
			open(1, "/ld/", rdonly, 0),
			closefd(1),
			unlink("/ld/").Fails(unix.ENOTDIR),
			unlink("/lf/").Fails(unix.ENOTDIR),
			unlink("/nope/").Fails(unix.ENOENT),
			unlink("/d/").Fails(unix.EISDIR),
			rmdir("/ld/").Fails(unix.ENOTDIR),
			rmdir("/ld").Fails(unix.ENOTDIR),
			rename("/f/", "/g").Fails(unix.ENOTDIR),
			rename("/f", "/g/").Fails(unix.ENOTDIR),
			rename("/d/", "/e/"),
			rename("/e", "/d//"),
			rename("/lf", "/lf2/").Fails(unix.ENOTDIR),
			rename("/ld/", "/ld2").Fails(unix.ENOTDIR),
			rmdir("/d/"),
			rmdir("/e/").Fails(unix.ENOENT),
		}},
	})
}
