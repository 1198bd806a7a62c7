package vfs

import (
	"strings"

	"golang.org/x/sys/unix"
)

// Limits of path walk, as in <linux/limits.h> and fs/namei.c.
const (
	NameMax     = 255  // NAME_MAX
	PathMax     = 4096 // PATH_MAX, including the terminating NUL
	MaxSymlinks = 40   // MAXSYMLINKS
)

type walkFlags uint8

const (
	walkFollow      walkFlags = 1 << iota // follow a final symlink
	walkNoCrossLast                       // stay on a mountpoint instead of entering its mount
	walkDirectory                         // the final component must be a directory
)

type lastKind uint8

const (
	lastNorm lastKind = iota
	lastDot
	lastDotDot
	lastRoot
)

// nameData is the result of walking to the parent of a path's last
// component (filename_parentat).
type nameData struct {
	dir      *Inode
	name     string
	kind     lastKind
	trailing bool // the path ended in '/'
}

type walker struct {
	v     *VFS
	c     *Caller
	links int

	// The directory entry final resolved to, for events: dent when the
	// last component was a name, or the inode whose entry dentry() finds
	// (".", "..", the root).
	dent   *dirent
	dentOf *Inode
}

// dentry returns the directory entry of the inode final returned, or nil
// for the root of a superblock (IS_ROOT: no parent hears its events).
func (w *walker) dentry() *dirent {
	if w.dent != nil {
		return w.dent
	}
	if w.dentOf != nil {
		return w.v.dentryOf(w.dentOf)
	}
	return nil
}

func (v *VFS) start(c *Caller, path string) (*Inode, error) {
	if path == "" {
		return nil, unix.ENOENT
	}
	if len(path) >= PathMax {
		return nil, unix.ENAMETOOLONG
	}
	if path[0] == '/' || c.Cwd == nil {
		return v.root.root, nil
	}
	if c.Cwd.destroyed.Load() {
		return nil, unix.ENOENT
	}
	return c.Cwd, nil
}

// walkParent resolves every component but the last. The lock is held.
func (v *VFS) walkParent(c *Caller, path string) (nameData, error) {
	w := &walker{v: v, c: c}
	dir, err := v.start(c, path)
	if err != nil {
		return nameData{}, err
	}
	return w.parent(dir, path)
}

func (w *walker) parent(dir *Inode, path string) (nameData, error) {
	trailing := strings.HasSuffix(path, "/")
	end := len(path)
	for end > 0 && path[end-1] == '/' {
		end--
	}
	if end == 0 {
		return nameData{dir: dir, kind: lastRoot, trailing: trailing}, nil
	}
	start := strings.LastIndexByte(path[:end], '/') + 1
	last := path[start:end]
	// Every component before the last, without allocating.
	for rest := path[:start]; ; {
		i := 0
		for i < len(rest) && rest[i] == '/' {
			i++
		}
		rest = rest[i:]
		if rest == "" {
			break
		}
		j := strings.IndexByte(rest, '/')
		comp := rest[:j]
		rest = rest[j:]
		next, err := w.step(dir, comp, true)
		if err != nil {
			return nameData{}, err
		}
		dir = next
	}
	if !dir.IsDir() {
		return nameData{}, unix.ENOTDIR
	}
	// link_path_walk's may_lookup runs for the last component's directory too.
	if err := w.c.permission(dir, MayExec); err != nil {
		return nameData{}, err
	}
	nd := nameData{dir: dir, name: last, trailing: trailing}
	switch last {
	case ".":
		nd.kind = lastDot
	case "..":
		nd.kind = lastDotDot
	}
	// There is no generic NAME_MAX check: a file system's lookup of a
	// missing name decides (simple_lookup says ENAMETOOLONG; kernfs, and
	// so cgroup2, accepts longer names).
	return nd, nil
}

// step looks up comp in dir for a walk: search permission, ".", "..",
// mount crossing, and (follow) symlinks. The result of a non-final step must
// be a directory.
func (w *walker) step(dir *Inode, comp string, mustDir bool) (*Inode, error) {
	if !dir.IsDir() {
		return nil, unix.ENOTDIR
	}
	if err := w.c.permission(dir, MayExec); err != nil {
		return nil, err
	}
	next, err := w.v.lookup(dir, comp)
	if err != nil {
		return nil, err
	}
	if next.Type() == S_IFLNK {
		next, err = w.follow(next, dir)
		if err != nil {
			return nil, err
		}
	}
	if mustDir && !next.IsDir() {
		return nil, unix.ENOTDIR
	}
	return next, nil
}

// follow resolves a symlink found in dir.
func (w *walker) follow(link *Inode, dir *Inode) (*Inode, error) {
	w.links++
	if w.links > MaxSymlinks {
		return nil, unix.ELOOP
	}
	target := link.target
	if target == "" {
		return nil, unix.ENOENT
	}
	start := dir
	if target[0] == '/' {
		start = w.v.root.root
	}
	nd, err := w.parent(start, target)
	if err != nil {
		return nil, err
	}
	return w.final(nd, walkFollow)
}

// final resolves the last component found by parent.
func (w *walker) final(nd nameData, flags walkFlags) (*Inode, error) {
	var in *Inode
	var d *dirent
	switch nd.kind {
	case lastRoot:
		in = nd.dir
	default:
		var err error
		cross := nd.kind != lastNorm || flags&walkNoCrossLast == 0
		if in, d, err = w.v.lookupEnt(nd.dir, nd.name, cross); err != nil {
			return nil, err
		}
	}
	// The entry resolved to; following a symlink below replaces it.
	w.dent, w.dentOf = nil, nil
	if d != nil && d.inode == in {
		w.dent = d
	} else {
		w.dentOf = in
	}
	if in.Type() == S_IFLNK && (flags&walkFollow != 0 || nd.trailing) {
		var err error
		if in, err = w.follow(in, nd.dir); err != nil {
			return nil, err
		}
	}
	if (nd.trailing || flags&walkDirectory != 0) && !in.IsDir() {
		return nil, unix.ENOTDIR
	}
	return in, nil
}

// walk resolves a whole path. The lock is held.
func (v *VFS) walk(c *Caller, path string, flags walkFlags) (*Inode, error) {
	in, _, err := v.walkEnt(c, path, flags)
	return in, err
}

// walkEnt is walk that also returns the directory entry of the result (nil
// for a superblock root).
func (v *VFS) walkEnt(c *Caller, path string, flags walkFlags) (*Inode, *dirent, error) {
	w := &walker{v: v, c: c}
	dir, err := v.start(c, path)
	if err != nil {
		return nil, nil, err
	}
	nd, err := w.parent(dir, path)
	if err != nil {
		return nil, nil, err
	}
	in, err := w.final(nd, flags)
	if err != nil {
		return nil, nil, err
	}
	return in, w.dentry(), nil
}

// walk is the Txn form of VFS.walk.
func (t *Txn) walk(c *Caller, path string, flags walkFlags) (*Inode, error) {
	return t.v.walk(c, path, flags)
}

// lookup finds name in dir: ".", "..", a child (entering a mount on it), or
// the file system's answer for a missing name.
func (v *VFS) lookup(dir *Inode, name string) (*Inode, error) {
	in, _, err := v.lookupEnt(dir, name, true)
	return in, err
}

func (v *VFS) lookupNoCross(dir *Inode, name string) (*Inode, error) {
	in, _, err := v.lookupEnt(dir, name, false)
	return in, err
}

// lookupEnt finds name in dir and, for a plain name, its entry; cross
// enters a mount on the result (not after "..").
func (v *VFS) lookupEnt(dir *Inode, name string, cross bool) (*Inode, *dirent, error) {
	switch name {
	case ".":
		return dir, nil, nil
	case "..":
		return v.dotdot(dir), nil, nil
	}
	d := dir.children.get(name)
	if d == nil {
		if dir.destroyed.Load() {
			return nil, nil, unix.ENOENT
		}
		return nil, nil, dir.dirOps.Lookup(dir, name)
	}
	in := d.inode
	for cross && in.mounted != nil {
		in = in.mounted.root
	}
	return in, d, nil
}

// dentryOf finds the entry naming in: for a directory, the one in its
// parent; nil for superblock roots and for non-directories, whose names
// are not unique.
func (v *VFS) dentryOf(in *Inode) *dirent {
	if in.parent == nil {
		return nil
	}
	for d := range in.parent.children.all() {
		if d.inode == in {
			return d
		}
	}
	return nil
}

func (v *VFS) dotdot(dir *Inode) *Inode {
	for dir.parent == nil {
		mp := dir.sb.mountpoint
		if mp == nil {
			return dir // namespace root, or a detached tree
		}
		dir = mp
	}
	return dir.parent
}
