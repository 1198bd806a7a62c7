// Package kernelref runs simfs's example BPF objects in the real kernel, so
// differential tests can compare the simulator's output with Linux's.
//
// It stands for nothing in the kernel; it is the kernel's side of a
// comparison. It needs root, bpf(), a kernel with cgroup_iter (Linux 6.1+,
// CONFIG_DEBUG_INFO_BTF) and permission to mount cgroup2. Every entry point
// reports a missing requirement with an error that wraps ErrUnavailable, so
// callers skip:
//
//	if err := kernelref.Available(); err != nil {
//		t.Skip(err)
//	}
//
// CgroupIterOutputs mounts cgroup2 in a temporary directory, works only
// under a uniquely named child cgroup it creates there (the cgroup2
// hierarchy is shared with the rest of the machine), and removes that
// cgroup, unmounts and deletes the directory before it returns. The
// iterator link is created with a raw BPF_LINK_CREATE because
// cilium/ebpf's link.AttachIter passes only a map fd in bpf_iter_link_info,
// and the cgroup iterator needs an order (0 is EINVAL).
//
// Left out: the view/cgroup programs, which no merged kernel can load
// (libbpf and the kernel reject the section), and the tp_btf program of
// pinning_kernfs, whose output depends on the scheduler.
package kernelref

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"
)

// ErrUnavailable is wrapped by errors that mean "this machine cannot run
// the kernel side": not root, no bpf(), no cgroup_iter, no cgroup2 mount.
var ErrUnavailable = errors.New("kernelref: the real kernel is unavailable")

func unavailable(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrUnavailable, fmt.Sprintf(format, args...))
}

var (
	availOnce sync.Once
	availErr  error
)

// Available reports whether the kernel helpers can run here: effective
// uid 0 and a kernel whose BTF has cgroup_iter's context type. Mounting
// and bpf() are only known to work when they are tried; their failures
// also wrap ErrUnavailable.
func Available() error {
	availOnce.Do(func() {
		if os.Geteuid() != 0 {
			availErr = unavailable("needs root (euid %d)", os.Geteuid())
			return
		}
		spec, err := btf.LoadKernelSpec()
		if err != nil {
			availErr = unavailable("no kernel BTF: %v", err)
			return
		}
		var ctx *btf.Struct
		if err := spec.TypeByName("bpf_iter__cgroup", &ctx); err != nil {
			availErr = unavailable("kernel has no cgroup_iter (bpf_iter__cgroup): %v", err)
		}
	})
	return availErr
}

// Order is a cgroup iterator walk order (enum bpf_cgroup_iter_order).
type Order uint32

const (
	OrderSelf Order = 1 // BPF_CGROUP_ITER_SELF_ONLY
	OrderPre  Order = 2 // BPF_CGROUP_ITER_DESCENDANTS_PRE
	OrderPost Order = 3 // BPF_CGROUP_ITER_DESCENDANTS_POST
	OrderUp   Order = 4 // BPF_CGROUP_ITER_ANCESTORS_UP
)

func (o Order) String() string {
	switch o {
	case OrderSelf:
		return "self"
	case OrderPre:
		return "pre"
	case OrderPost:
		return "post"
	case OrderUp:
		return "up"
	}
	return fmt.Sprintf("Order(%d)", uint32(o))
}

// IterCase is one iterator link to create and read.
type IterCase struct {
	// Name keys the case's output.
	Name string
	// Start is the cgroup the walk starts from, relative to the work
	// cgroup ("." or "" for the work cgroup itself).
	Start string
	Order Order
	// TerminateEarly sets the program's terminate_early global.
	TerminateEarly bool
	// Terminal, if not empty, sets the program's terminal_cgroup global to
	// the id of that cgroup (relative to the work cgroup, "." for itself).
	Terminal string
}

// IterOutputs is what the kernel printed.
type IterOutputs struct {
	// Outputs maps IterCase.Name to the bytes read from the iterator.
	Outputs map[string]string
	// IDs maps each cgroup of the tree, relative to the work cgroup ("."
	// for the work cgroup itself), to its cgroup id.
	IDs map[string]uint64
	// Path is where the work cgroup was, relative to the cgroup2 root.
	Path string
}

// CgroupIterOutputs loads the cgroup_iter example object at objPath into the
// kernel, builds a cgroup tree with tree (given the absolute path of a
// fresh work cgroup on a private cgroup2 mount; it creates directories with
// os.Mkdir), then for each case attaches cgroup_id_printer with the case's
// start cgroup and order, sets the program's globals, and reads the
// iterator to the end, as the kernel selftest's read_from_cgroup_iter does.
// A second read after the end must return 0 bytes. Everything is removed
// before it returns.
func CgroupIterOutputs(objPath string, tree func(root string) error, cases []IterCase) (_ *IterOutputs, err error) {
	if err := Available(); err != nil {
		return nil, err
	}
	spec, err := ebpf.LoadCollectionSpec(objPath)
	if err != nil {
		return nil, err
	}
	coll, err := ebpf.NewCollection(spec)
	if err != nil {
		if errors.Is(err, unix.EPERM) {
			return nil, unavailable("bpf(): %v", err)
		}
		return nil, fmt.Errorf("load %s: %w", objPath, err)
	}
	defer coll.Close()
	prog := coll.Programs["cgroup_id_printer"]
	if prog == nil {
		return nil, fmt.Errorf("%s has no cgroup_id_printer program", objPath)
	}

	cg, err := MountCgroup2()
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, cg.Close()) }()

	if err := tree(cg.Work); err != nil {
		return nil, fmt.Errorf("building the cgroup tree: %w", err)
	}
	ids, err := cg.IDs()
	if err != nil {
		return nil, err
	}
	out := &IterOutputs{Outputs: map[string]string{}, IDs: ids, Path: strings.TrimPrefix(cg.Work, cg.Mount)}

	for _, c := range cases {
		var terminal uint64
		if c.Terminal != "" {
			id, ok := ids[clean(c.Terminal)]
			if !ok {
				return nil, fmt.Errorf("case %s: no cgroup %q in the tree", c.Name, c.Terminal)
			}
			terminal = id
		}
		var early int32
		if c.TerminateEarly {
			early = 1
		}
		if err := setVar(coll, "terminate_early", early); err != nil {
			return nil, err
		}
		if err := setVar(coll, "terminal_cgroup", terminal); err != nil {
			return nil, err
		}
		text, err := readIter(prog, filepath.Join(cg.Work, clean(c.Start)), c.Order)
		if err != nil {
			return nil, fmt.Errorf("case %s: %w", c.Name, err)
		}
		out.Outputs[c.Name] = text
	}
	return out, nil
}

func clean(rel string) string {
	if rel == "" {
		return "."
	}
	return filepath.Clean(rel)
}

func setVar(coll *ebpf.Collection, name string, v any) error {
	vr := coll.Variables[name]
	if vr == nil {
		return fmt.Errorf("the object has no global %s", name)
	}
	if err := vr.Set(v); err != nil {
		return fmt.Errorf("setting %s: %w", name, err)
	}
	return nil
}

// readIter attaches prog to the cgroup at dir with order and reads one
// iterator session to the end.
func readIter(prog *ebpf.Program, dir string, order Order) (string, error) {
	cgfd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", fmt.Errorf("open %s: %w", dir, err)
	}
	defer unix.Close(cgfd)

	l, err := AttachCgroupIter(prog, order, uint32(cgfd), 0)
	if err != nil {
		return "", err
	}
	defer l.Close()
	r, err := l.Open()
	if err != nil {
		return "", err
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		return string(b), fmt.Errorf("read: %w", err)
	}
	var one [16]byte
	if n, err := r.Read(one[:]); n != 0 || err != io.EOF {
		return string(b), fmt.Errorf("second read after the end: %d bytes, %v", n, err)
	}
	return string(b), nil
}

// Cgroup2 is a private mount of the cgroup2 hierarchy with a work cgroup.
type Cgroup2 struct {
	// Mount is the temporary mount point.
	Mount string
	// Work is the uniquely named child cgroup created for the caller.
	Work string
}

// MountCgroup2 mounts cgroup2 on a new temporary directory and creates a
// uniquely named work cgroup under its root.
func MountCgroup2() (*Cgroup2, error) {
	if os.Geteuid() != 0 {
		return nil, unavailable("mounting cgroup2 needs root")
	}
	dir, err := os.MkdirTemp("", "simfs-kernelref-")
	if err != nil {
		return nil, err
	}
	if err := unix.Mount("none", dir, "cgroup2", 0, ""); err != nil {
		os.Remove(dir)
		return nil, unavailable("mount -t cgroup2: %v", err)
	}
	work, err := os.MkdirTemp(dir, "simfs_kernelref_")
	if err != nil {
		unix.Unmount(dir, 0)
		os.Remove(dir)
		return nil, fmt.Errorf("creating the work cgroup: %w", err)
	}
	return &Cgroup2{Mount: dir, Work: work}, nil
}

// IDs returns the cgroup id of the work cgroup and of every cgroup under
// it, keyed by path relative to the work cgroup ("." for itself).
func (c *Cgroup2) IDs() (map[string]uint64, error) {
	ids := map[string]uint64{}
	err := filepath.WalkDir(c.Work, func(path string, d os.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		id, err := CgroupID(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(c.Work, path)
		ids[rel] = id
		return nil
	})
	return ids, err
}

// Close removes every cgroup under the work cgroup (deepest first), the
// work cgroup, unmounts and removes the mount point.
func (c *Cgroup2) Close() error {
	var dirs []string
	walkErr := filepath.WalkDir(c.Work, func(path string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			dirs = append(dirs, path)
		}
		return nil
	})
	sort.Slice(dirs, func(i, j int) bool { return len(dirs[i]) > len(dirs[j]) })
	var errs []error
	if walkErr != nil {
		errs = append(errs, walkErr)
	}
	for _, d := range dirs {
		if err := unix.Rmdir(d); err != nil && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("rmdir %s: %w", d, err))
		}
	}
	if err := unix.Unmount(c.Mount, 0); err != nil {
		errs = append(errs, fmt.Errorf("umount %s: %w", c.Mount, err))
	} else if err := os.Remove(c.Mount); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// CgroupID returns the id of the cgroup2 directory at path: its kernfs node
// id, which name_to_handle_at returns as the file handle (what the kernel
// selftests' get_cgroup_id does).
func CgroupID(path string) (uint64, error) {
	h, _, err := unix.NameToHandleAt(unix.AT_FDCWD, path, 0)
	if err != nil {
		return 0, fmt.Errorf("name_to_handle_at %s: %w", path, err)
	}
	b := h.Bytes()
	if len(b) != 8 {
		return 0, fmt.Errorf("name_to_handle_at %s: %d-byte handle, want 8", path, len(b))
	}
	return uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
		uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56, nil
}

// AttachCgroupIter creates a cgroup iterator link for prog (an iter/cgroup
// program) with a raw BPF_LINK_CREATE whose iter_info is
// { order u32, cgroup_fd u32, cgroup_id u64 }. At most one of cgroupFD and
// cgroupID may be non-zero; both zero start at the cgroup2 root.
func AttachCgroupIter(prog *ebpf.Program, order Order, cgroupFD uint32, cgroupID uint64) (*link.Iter, error) {
	fd, err := linkCreateIter(prog.FD(), uint32(order), cgroupFD, cgroupID)
	if err != nil {
		return nil, fmt.Errorf("BPF_LINK_CREATE (cgroup iter, order %s): %w", order, err)
	}
	l, err := link.NewFromFD(fd)
	if err != nil {
		unix.Close(fd)
		return nil, err
	}
	it, ok := l.(*link.Iter)
	if !ok {
		l.Close()
		return nil, fmt.Errorf("BPF_LINK_CREATE gave a %T, not an iterator link", l)
	}
	return it, nil
}
