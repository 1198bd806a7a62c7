package fsnotify_test

import (
	"testing"

	"github.com/simfs/simfs/vfs/vfstest"
	"golang.org/x/sys/unix"
)

const all = unix.IN_ALL_EVENTS

var (
	mkdir   = vfstest.Mkdir
	rmdir   = vfstest.Rmdir
	unlink  = vfstest.Unlink
	link    = vfstest.Link
	symlink = vfstest.Symlink
	rename  = vfstest.Rename
	rename2 = vfstest.Rename2
	mknod   = vfstest.Mknod
	open    = vfstest.Open
	creat   = vfstest.Creat
	closefd = vfstest.Close
	read    = vfstest.Read
	write   = vfstest.Write
	chmod   = vfstest.Chmod
	chown   = vfstest.Chown
	trunc   = vfstest.Truncate
	stat    = vfstest.Stat
)

func TestInotifyEvents(t *testing.T) {
	runIScripts(t, []iscript{
		{name: "create write close unlink", steps: []istep{
			do(mkdir("/d", 0777)),
			watch("d", "/d", all),
			do(open(1, "/d/f", unix.O_CREAT|unix.O_WRONLY, 0644),
				"d CREATE f", "d OPEN f"),
			do(write(1, "abc"), "d MODIFY f"),
			do(write(1, "def"), "d MODIFY f"),
			do(closefd(1), "d CLOSE_WRITE f"),
			do(open(1, "/d/f", unix.O_RDONLY, 0), "d OPEN f"),
			do(read(1, 2), "d ACCESS f"),
			do(read(1, 2), "d ACCESS f"),
			do(read(1, 10), "d ACCESS f"),
			do(read(1, 10)), // EOF: no event
			do(closefd(1), "d CLOSE_NOWRITE f"),
			do(stat("/d/f")),
			do(unlink("/d/f"), "d DELETE f"),
		}},
		{name: "unlink a watched file", steps: []istep{
			do(mkdir("/d", 0777)),
			do(creat("/d/f", 0644)),
			watch("d", "/d", all),
			watch("f", "/d/f", all),
			do(unlink("/d/f"), "f ATTRIB", "f DELETE_SELF", "f IGNORED", "d DELETE f"),
			rmwatch("f").fails(unix.EINVAL),
		}},
		{name: "unlink while open", steps: []istep{
			do(mkdir("/d", 0777)),
			watch("d", "/d", all),
			do(open(1, "/d/f", unix.O_CREAT|unix.O_RDWR, 0644), "d CREATE f", "d OPEN f"),
			watch("f", "/d/f", all),
			do(unlink("/d/f"), "f ATTRIB", "d DELETE f"),
			do(write(1, "x"), "d MODIFY f", "f MODIFY"),
			do(closefd(1), "d CLOSE_WRITE f", "f CLOSE_WRITE", "f DELETE_SELF", "f IGNORED"),
		}},
		{name: "hard links", steps: []istep{
			do(mkdir("/d", 0777)),
			do(creat("/d/f", 0644)),
			watch("d", "/d", all),
			watch("f", "/d/f", all),
			do(link("/d/f", "/d/g"), "f ATTRIB", "d CREATE g"),
			do(unlink("/d/f"), "f ATTRIB", "d DELETE f"),
			do(chmod("/d/g", 0600), "d ATTRIB g", "f ATTRIB"),
			do(unlink("/d/g"), "f ATTRIB", "f DELETE_SELF", "f IGNORED", "d DELETE g"),
		}},
		{name: "last name removed while open through another", steps: []istep{
			do(mkdir("/d", 0777)),
			do(creat("/d/f", 0644)),
			do(link("/d/f", "/d/g")),
			watch("f", "/d/f", all),
			do(open(1, "/d/f", unix.O_RDONLY, 0), "f OPEN"),
			do(unlink("/d/f"), "f ATTRIB"),
			// g's dentry is not held: the inode is removed now, open or
			// not (dentry_unlink_inode).
			do(unlink("/d/g"), "f ATTRIB", "f DELETE_SELF", "f IGNORED"),
			do(closefd(1)),
		}},
		{name: "last name removed while open through it", steps: []istep{
			do(mkdir("/d", 0777)),
			do(creat("/d/f", 0644)),
			do(link("/d/f", "/d/g")),
			watch("f", "/d/f", all),
			do(open(1, "/d/g", unix.O_RDONLY, 0), "f OPEN"),
			do(unlink("/d/f"), "f ATTRIB"),
			do(unlink("/d/g"), "f ATTRIB"),
			do(closefd(1), "f CLOSE_NOWRITE", "f DELETE_SELF", "f IGNORED"),
		}},
		{name: "rmdir of a working directory", steps: []istep{
			do(mkdir("/d", 0777)),
			do(mkdir("/d/s", 0777)),
			watch("s", "/d/s", all),
			do(vfstest.Chdir("/d/s")),
			do(rmdir("/d/s")),
			do(vfstest.Chdir("/"), "s DELETE_SELF", "s IGNORED"),
		}},
		{name: "attributes", steps: []istep{
			do(mkdir("/d", 0777)),
			do(mkdir("/d/s", 0777)),
			do(creat("/d/f", 0644)),
			watch("d", "/d", all),
			watch("f", "/d/f", all),
			watch("s", "/d/s", all),
			do(chmod("/d/f", 0600), "d ATTRIB f", "f ATTRIB"),
			do(chown("/d/f", 5, 5), "d ATTRIB f", "f ATTRIB"),
			do(trunc("/d/f", 10), "d MODIFY f", "f MODIFY"),
			do(chmod("/d/s", 0700), "d ATTRIB|ISDIR s", "s ATTRIB|ISDIR"),
			do(chmod("/d", 0700), "d ATTRIB|ISDIR"),
			do(open(1, "/d/f", unix.O_WRONLY|unix.O_TRUNC, 0), "d OPEN f", "f OPEN", "d MODIFY f", "f MODIFY"),
			do(closefd(1), "d CLOSE_WRITE f", "f CLOSE_WRITE"),
			do(open(1, "/d/s", unix.O_RDONLY|unix.O_DIRECTORY, 0), "d OPEN|ISDIR s", "s OPEN|ISDIR"),
			do(closefd(1), "d CLOSE_NOWRITE|ISDIR s", "s CLOSE_NOWRITE|ISDIR"),
		}},
		{name: "creation kinds", steps: []istep{
			do(mkdir("/d", 0777)),
			watch("d", "/d", all),
			do(mkdir("/d/s", 0777), "d CREATE|ISDIR s"),
			do(symlink("s", "/d/l"), "d CREATE l"),
			do(mknod("/d/p", unix.S_IFIFO|0644, 0), "d CREATE p"),
			do(creat("/d/f", 0644), "d CREATE f", "d OPEN f", "d CLOSE_WRITE f"),
			do(creat("/d/f", 0644), "d OPEN f", "d MODIFY f", "d CLOSE_WRITE f"),
			do(mkdir("/d/s", 0777).Fails(unix.EEXIST)),
			do(rmdir("/d/s"), "d DELETE|ISDIR s"),
			do(unlink("/d/l"), "d DELETE l"),
		}},
		{name: "rmdir a watched directory", steps: []istep{
			do(mkdir("/d", 0777)),
			do(mkdir("/d/s", 0777)),
			watch("d", "/d", all),
			watch("s", "/d/s", all),
			do(rmdir("/d/s"), "s DELETE_SELF", "s IGNORED", "d DELETE|ISDIR s"),
		}},
		{name: "rename", steps: []istep{
			do(mkdir("/a", 0777)),
			do(mkdir("/b", 0777)),
			do(creat("/a/f", 0644)),
			do(creat("/b/g", 0644)),
			watch("a", "/a", all),
			watch("b", "/b", all),
			watch("f", "/a/f", all),
			watch("g", "/b/g", all),
			do(rename("/a/f", "/a/f2"), "a MOVED_FROM f c1", "a MOVED_TO f2 c1", "f MOVE_SELF"),
			do(rename("/a/f2", "/b/f"), "a MOVED_FROM f2 c2", "b MOVED_TO f c2", "f MOVE_SELF"),
			do(chmod("/b/f", 0600), "b ATTRIB f", "f ATTRIB"),
			do(rename("/b/f", "/b/g"), "b MOVED_FROM f c3", "b MOVED_TO g c3", "g ATTRIB", "f MOVE_SELF", "g DELETE_SELF", "g IGNORED"),
			do(mkdir("/a/s", 0777), "a CREATE|ISDIR s"),
			do(rename("/a/s", "/b/s"), "a MOVED_FROM|ISDIR s c4", "b MOVED_TO|ISDIR s c4"),
		}},
		{name: "rename a watched directory", steps: []istep{
			do(mkdir("/a", 0777)),
			do(mkdir("/a/s", 0777)),
			do(creat("/a/s/f", 0644)),
			watch("a", "/a", all),
			watch("s", "/a/s", all),
			do(rename("/a/s", "/a/t"), "a MOVED_FROM|ISDIR s c1", "a MOVED_TO|ISDIR t c1", "s MOVE_SELF"),
			do(chmod("/a/t/f", 0600), "s ATTRIB f"),
			do(mkdir("/a/u", 0777), "a CREATE|ISDIR u"),
			do(rename("/a/u", "/a/t").Fails(unix.ENOTEMPTY)),
			do(unlink("/a/t/f"), "s DELETE f"),
			do(rename("/a/u", "/a/t"), "a MOVED_FROM|ISDIR u c2", "a MOVED_TO|ISDIR t c2", "s ATTRIB|ISDIR", "s DELETE_SELF", "s IGNORED"),
		}},
		{name: "rename open file", steps: []istep{
			do(mkdir("/a", 0777)),
			do(mkdir("/b", 0777)),
			watch("a", "/a", all),
			watch("b", "/b", all),
			do(open(1, "/a/f", unix.O_CREAT|unix.O_RDWR, 0644), "a CREATE f", "a OPEN f"),
			do(rename("/a/f", "/b/g"), "a MOVED_FROM f c1", "b MOVED_TO g c1"),
			do(write(1, "x"), "b MODIFY g"),
			do(closefd(1), "b CLOSE_WRITE g"),
		}},
		{name: "exchange", steps: []istep{
			do(mkdir("/a", 0777)),
			do(mkdir("/a/s", 0777)),
			do(creat("/a/f", 0644)),
			watch("a", "/a", all),
			watch("s", "/a/s", all),
			watch("f", "/a/f", all),
			do(rename2("/a/s", "/a/f", unix.RENAME_EXCHANGE),
				"a MOVED_FROM|ISDIR s c1", "a MOVED_TO|ISDIR f c1", "s MOVE_SELF",
				"a MOVED_FROM f c2", "a MOVED_TO s c2", "f MOVE_SELF"),
		}},
		{name: "unlinked file closed after its directory watch", steps: []istep{
			do(mkdir("/d", 0777)),
			watch("d", "/d", all),
			do(open(1, "/d/f", unix.O_CREAT|unix.O_RDWR, 0644), "d CREATE f", "d OPEN f"),
			do(unlink("/d/f"), "d DELETE f"),
			do(write(1, "x"), "d MODIFY f"),
			do(closefd(1), "d CLOSE_WRITE f"),
		}},
		{name: "watch flags", steps: []istep{
			do(mkdir("/d", 0777)),
			do(creat("/d/f", 0644)),
			do(symlink("f", "/d/l")),
			watch("x", "/d/f", 0).fails(unix.EINVAL),
			watch("x", "/d/f", unix.IN_ATTRIB|unix.IN_MASK_ADD|unix.IN_MASK_CREATE).fails(unix.EINVAL),
			watch("x", "/d/f", unix.IN_ATTRIB|unix.IN_ONLYDIR).fails(unix.ENOTDIR),
			watch("x", "/d/nope", unix.IN_ATTRIB).fails(unix.ENOENT),
			watch("f", "/d/f", unix.IN_ATTRIB),
			watch("f", "/d/l", unix.IN_MODIFY|unix.IN_MASK_CREATE).fails(unix.EEXIST),
			watch("f", "/d/l", unix.IN_MODIFY), // same inode: same wd, mask replaced
			do(chmod("/d/f", 0600)),
			do(trunc("/d/f", 1), "f MODIFY"),
			watch("f", "/d/f", unix.IN_ATTRIB|unix.IN_MASK_ADD),
			do(chmod("/d/f", 0644), "f ATTRIB"),
			do(trunc("/d/f", 2), "f MODIFY"),
			watch("l", "/d/l", unix.IN_ATTRIB|unix.IN_DONT_FOLLOW),
			do(chmod("/d/l", 0600), "f ATTRIB"),
			watch("o", "/d", unix.IN_CREATE|unix.IN_ONESHOT),
			do(creat("/d/g", 0644), "o CREATE g", "o IGNORED"),
			do(creat("/d/h", 0644)),
			rmwatch("f", "f IGNORED"),
			rmwatch("f").fails(unix.EINVAL),
			do(unlink("/d/l"), "l ATTRIB", "l IGNORED"), // DELETE_SELF not in its mask
		}},
		{name: "excl unlink", steps: []istep{
			do(mkdir("/d", 0777)),
			watch("d", "/d", all|unix.IN_EXCL_UNLINK),
			do(open(1, "/d/f", unix.O_CREAT|unix.O_RDWR, 0644), "d CREATE f", "d OPEN f"),
			do(unlink("/d/f"), "d DELETE f"),
			do(write(1, "x")),
			do(closefd(1)),
		}},
		{name: "unmount", steps: []istep{
			do(mkdir("/m", 0777)),
			do(vfstest.Mount("/m")),
			do(mkdir("/m/d", 0777)),
			do(creat("/m/d/f", 0644)),
			watch("m", "/m", all),
			watch("d", "/m/d", all),
			watch("f", "/m/d/f", unix.IN_ATTRIB),
			watch("up", "/", unix.IN_ALL_EVENTS),
			do(vfstest.Umount("/m"), "f UNMOUNT", "f IGNORED", "d UNMOUNT|ISDIR", "d IGNORED", "m UNMOUNT|ISDIR", "m IGNORED"),
		}},
		{name: "unmount order is newest inode first", steps: []istep{
			do(mkdir("/m", 0777)),
			do(vfstest.Mount("/m")),
			do(mkdir("/m/d", 0777)),
			do(mkdir("/m/e", 0777)),
			do(creat("/m/d/f", 0644)),
			do(link("/m/d/f", "/m/e/g")),
			watch("f", "/m/d/f", unix.IN_ATTRIB),
			watch("e", "/m/e", unix.IN_ATTRIB),
			watch("d", "/m/d", unix.IN_ATTRIB),
			do(vfstest.Umount("/m"), "f UNMOUNT", "f IGNORED", "e UNMOUNT|ISDIR", "e IGNORED", "d UNMOUNT|ISDIR", "d IGNORED"),
		}},
		{name: "events on grandchildren do not reach the grandparent", steps: []istep{
			do(mkdir("/a", 0777)),
			do(mkdir("/a/b", 0777)),
			watch("a", "/a", all),
			do(creat("/a/b/f", 0644)),
			do(chmod("/a/b/f", 0600)),
			do(chmod("/a/b", 0700), "a ATTRIB|ISDIR b"),
		}},
		{name: "unprivileged truncate and write drop setuid", steps: []istep{
			do(mkdir("/d", 0777)),
			do(creat("/d/f", 06777)),
			do(creat("/d/g", 06777)),
			watch("f", "/d/f", all),
			watch("g", "/d/g", all),
			do(vfstest.As(1000, 1000)),
			do(trunc("/d/f", 1), "f MODIFY|ATTRIB"), // one notify_change
			do(open(1, "/d/g", unix.O_WRONLY, 0), "g OPEN"),
			do(write(1, "x"), "g ATTRIB", "g MODIFY"),
			do(write(1, "y"), "g MODIFY"),
			do(closefd(1), "g CLOSE_WRITE"),
			do(vfstest.AsRoot()),
			do(chmod("/d/g", 06777), "g ATTRIB"),
			do(vfstest.As(1000, 1000)),
			do(open(1, "/d/g", unix.O_WRONLY|unix.O_TRUNC, 0), "g OPEN", "g MODIFY|ATTRIB"),
			do(closefd(1), "g CLOSE_WRITE"),
		}},
		{name: "one instance, parent and child both watched", steps: []istep{
			do(mkdir("/d", 0777)),
			do(creat("/d/f", 0644)),
			watch("d", "/d", unix.IN_ATTRIB),
			watch("f", "/d/f", unix.IN_MODIFY),
			do(chmod("/d/f", 0600), "d ATTRIB f"),
			do(trunc("/d/f", 3), "f MODIFY"),
		}},
	})
}

func (s istep) fails(e unix.Errno) istep {
	s.wantErr = e
	return s
}
