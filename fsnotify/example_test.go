package fsnotify_test

import (
	"fmt"

	"github.com/simfs/simfs/fsnotify"
	"github.com/simfs/simfs/vfs"
	"golang.org/x/sys/unix"
)

// The RFC's bpf_watch_inode(inode, ops, priv): one group for all watches,
// one mark per watch (allowDups, an empty mask), and a callback that runs
// once when the inode dies — here after the second of two hard links goes.
func Example_watchInode() {
	v := vfs.New(&vfs.RamFS{}, vfs.RamDirOps(), 0755, vfs.Options{})
	c := vfs.RootCaller()
	reg := fsnotify.New(v)
	defer reg.Close()
	group := reg.NewGroup(fsnotify.GroupOps{}) // bpf_notify_group

	watchInode := func(in *vfs.Inode, freeInode func(priv any), priv any) error {
		m := &fsnotify.Mark{Private: priv, Freeing: func(m *fsnotify.Mark, why fsnotify.Reason) {
			freeInode(m.Private)
		}}
		return group.AddInodeMark(in, m, true)
	}

	f, _ := v.Open(c, "/pin", unix.O_CREAT|unix.O_WRONLY, 0600)
	pin := f.Inode()
	f.Close()
	v.Link(c, "/pin", "/pin2")
	for _, exposure := range []string{"cgroup A", "cgroup B"} {
		watchInode(pin, func(priv any) { fmt.Println("remove exposure in", priv) }, exposure)
	}
	fmt.Println("unlink /pin")
	v.Unlink(c, "/pin")
	fmt.Println("unlink /pin2")
	v.Unlink(c, "/pin2")
	err := watchInode(pin, func(any) {}, "too late")
	fmt.Println(err)
	// Output:
	// unlink /pin
	// unlink /pin2
	// remove exposure in cgroup A
	// remove exposure in cgroup B
	// no such file or directory
}

// An inotify instance on a directory: events about its children carry
// their names; the end of a watch is IN_IGNORED.
func ExampleInotify() {
	v := vfs.New(&vfs.RamFS{}, vfs.RamDirOps(), 0755, vfs.Options{})
	c := vfs.RootCaller()
	reg := fsnotify.New(v)
	defer reg.Close()
	in := reg.NewInotify(fsnotify.InotifyOptions{})
	defer in.Close()

	v.Mkdir(c, "/d", 0755)
	wd, _ := in.AddWatch(c, "/d", unix.IN_CREATE|unix.IN_DELETE|unix.IN_DELETE_SELF)
	v.Mkdir(c, "/d/sub", 0755)
	v.Rmdir(c, "/d/sub")
	v.Rmdir(c, "/d")
	for _, ev := range in.Read() {
		fmt.Printf("wd=%d mask=%#x name=%q\n", ev.Wd, ev.Mask, ev.Name)
	}
	_ = wd
	// Output:
	// wd=1 mask=0x40000100 name="sub"
	// wd=1 mask=0x40000200 name="sub"
	// wd=1 mask=0x400 name=""
	// wd=1 mask=0x8000 name=""
}
