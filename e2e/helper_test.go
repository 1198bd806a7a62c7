package e2e

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// helperEnv puts the test binary in helper mode: it performs the one
// operation its arguments name with raw system calls and prints one
// observation line.
const helperEnv = "SIMFS_E2E_HELPER"

// helperMain is the child's side. Arguments: [as UID GID] OP ARGS...
// The umask is 022 so that modes do not depend on the test's
// environment.
func helperMain(args []string) int {
	unix.Umask(022)
	if len(args) >= 3 && args[0] == "as" {
		uid, _ := strconv.Atoi(args[1])
		gid, _ := strconv.Atoi(args[2])
		// Go applies these to every thread of the process.
		if err := syscall.Setgroups(nil); err != nil {
			fmt.Println("setgroups", errObs(err))
			return 1
		}
		if err := syscall.Setgid(gid); err != nil {
			fmt.Println("setgid", errObs(err))
			return 1
		}
		if err := syscall.Setuid(uid); err != nil {
			fmt.Println("setuid", errObs(err))
			return 1
		}
		args = args[3:]
	}
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "helper: no operation")
		return 2
	}
	out, ok := helperOp(args[0], args[1:])
	if !ok {
		fmt.Fprintf(os.Stderr, "helper: unknown operation %q\n", args[0])
		return 2
	}
	fmt.Print(out)
	return 0
}

// errObs is how an error is observed: "ok" or the errno's name.
func errObs(err error) string {
	if err == nil {
		return "ok"
	}
	var e syscall.Errno
	if errors.As(err, &e) {
		if n := unix.ErrnoName(e); n != "" {
			return n
		}
	}
	return "error " + err.Error()
}

// openFlags parses "r", "w", "rw" and "|"-joined extras.
func openFlags(s string) int {
	fl := 0
	for _, w := range strings.Split(s, "|") {
		switch w {
		case "r":
			fl |= unix.O_RDONLY
		case "w":
			fl |= unix.O_WRONLY
		case "rw":
			fl |= unix.O_RDWR
		case "creat":
			fl |= unix.O_CREAT
		case "excl":
			fl |= unix.O_EXCL
		case "trunc":
			fl |= unix.O_TRUNC
		case "dir":
			fl |= unix.O_DIRECTORY
		case "append":
			fl |= unix.O_APPEND
		case "nofollow":
			fl |= unix.O_NOFOLLOW
		case "path":
			fl |= unix.O_PATH
		default:
			panic("unknown open flag " + w)
		}
	}
	return fl
}

func statObs(st *unix.Stat_t) string {
	return fmt.Sprintf("mode=%o nlink=%d size=%d uid=%d gid=%d", st.Mode, st.Nlink, st.Size, st.Uid, st.Gid)
}

// readAll opens path read-only and reads it to EOF with 4 KiB reads.
func readAll(path string) (string, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", err
	}
	defer unix.Close(fd)
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := unix.Read(fd, buf)
		if err != nil {
			return b.String(), err
		}
		if n == 0 {
			return b.String(), nil
		}
		b.Write(buf[:n])
	}
}

func readObs(path string) string {
	s, err := readAll(path)
	if err != nil {
		if s != "" {
			return fmt.Sprintf("%q then %s", s, errObs(err))
		}
		return errObs(err)
	}
	return fmt.Sprintf("%q", s)
}

// getdents lists a directory in the order getdents64 returns it, "." and
// ".." included.
func getdents(path string) ([]string, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	var names []string
	buf := make([]byte, 8192)
	for {
		n, err := unix.ReadDirent(fd, buf)
		if err != nil {
			return names, err
		}
		if n == 0 {
			return names, nil
		}
		for off := 0; off < n; {
			// struct linux_dirent64: d_ino, d_off, d_reclen, d_type, d_name.
			reclen := int(binary.NativeEndian.Uint16(buf[off+16:]))
			name := buf[off+19 : off+reclen]
			if i := bytes.IndexByte(name, 0); i >= 0 {
				name = name[:i]
			}
			names = append(names, string(name))
			off += reclen
		}
	}
}

// helperOp performs one operation. Paths are absolute host paths.
func helperOp(op string, a []string) (string, bool) {
	switch op {
	case "mkdir":
		mode, _ := strconv.ParseUint(a[1], 8, 32)
		return errObs(unix.Mkdir(a[0], uint32(mode))), true
	case "rmdir":
		return errObs(unix.Rmdir(a[0])), true
	case "unlink":
		return errObs(unix.Unlink(a[0])), true
	case "rename": // OLD NEW FLAGS
		fl, _ := strconv.ParseUint(a[2], 0, 32)
		return errObs(unix.Renameat2(unix.AT_FDCWD, a[0], unix.AT_FDCWD, a[1], uint(fl))), true
	case "link":
		return errObs(unix.Link(a[0], a[1])), true
	case "symlink": // TARGET PATH
		return errObs(unix.Symlink(a[0], a[1])), true
	case "mknod": // PATH MODE (octal, with the type bits)
		mode, _ := strconv.ParseUint(a[1], 8, 32)
		return errObs(unix.Mknod(a[0], uint32(mode), 0)), true
	case "open": // PATH FLAGS: open and close
		fd, err := unix.Open(a[0], openFlags(a[1])|unix.O_CLOEXEC, 0644)
		if err == nil {
			unix.Close(fd)
		}
		return errObs(err), true
	case "read":
		return readObs(a[0]), true
	case "write": // PATH DATA: one write(2) on a fresh O_WRONLY open
		fd, err := unix.Open(a[0], unix.O_WRONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return "open " + errObs(err), true
		}
		n, err := unix.Write(fd, []byte(a[1]))
		cerr := unix.Close(fd)
		switch {
		case err != nil:
			return errObs(err), true
		case n != len(a[1]):
			return fmt.Sprintf("n=%d", n), true
		case cerr != nil:
			return "close " + errObs(cerr), true
		}
		return "n=all", true
	case "stat", "lstat":
		var st unix.Stat_t
		var err error
		if op == "stat" {
			err = unix.Stat(a[0], &st)
		} else {
			err = unix.Lstat(a[0], &st)
		}
		if err != nil {
			return errObs(err), true
		}
		return statObs(&st), true
	case "readlink":
		buf := make([]byte, 4096)
		n, err := unix.Readlink(a[0], buf)
		if err != nil {
			return errObs(err), true
		}
		return fmt.Sprintf("%q", buf[:n]), true
	case "readdir":
		names, err := getdents(a[0])
		if err != nil {
			return errObs(err), true
		}
		return strings.Join(names, ","), true
	case "statfs":
		var st unix.Statfs_t
		if err := unix.Statfs(a[0], &st); err != nil {
			return errObs(err), true
		}
		return fmt.Sprintf("type=%#x", st.Type), true
	case "chmod": // PATH MODE
		mode, _ := strconv.ParseUint(a[1], 8, 32)
		return errObs(unix.Chmod(a[0], uint32(mode))), true
	case "truncate":
		return errObs(unix.Truncate(a[0], 0)), true
	case "setxattr": // PATH [NAME VALUE [FLAGS]]
		name, val, fl := "user.x", "1", 0
		if len(a) >= 3 {
			name, val = a[1], a[2]
		}
		if len(a) >= 4 {
			f, _ := strconv.ParseInt(a[3], 0, 32)
			fl = int(f)
		}
		return errObs(unix.Setxattr(a[0], name, []byte(val), fl)), true
	case "getxattr": // PATH NAME
		buf := make([]byte, 1<<16)
		n, err := unix.Getxattr(a[0], a[1], buf)
		if err != nil {
			return errObs(err), true
		}
		return fmt.Sprintf("%q", buf[:n]), true
	case "listxattr": // PATH: the names in the order the kernel gives
		buf := make([]byte, 1<<16)
		n, err := unix.Listxattr(a[0], buf)
		if err != nil {
			return errObs(err), true
		}
		return strings.ReplaceAll(strings.TrimSuffix(string(buf[:n]), "\x00"), "\x00", ","), true
	case "removexattr": // PATH NAME
		return errObs(unix.Removexattr(a[0], a[1])), true
	case "describe": // DIR: every entry in getdents order, with its attributes and content
		return describe(a[0]), true
	}
	return "", false
}

// describe lists dir and, for each entry, its stat, its inode number
// relative to the directory's and, for regular files, what a fresh
// open+read gives.
func describe(dir string) string {
	names, err := getdents(dir)
	if err != nil {
		return errObs(err)
	}
	var base unix.Stat_t
	if err := unix.Stat(dir, &base); err != nil {
		return "stat " + errObs(err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, ".: %s\n", statObs(&base))
	for _, n := range names {
		if n == "." || n == ".." {
			continue
		}
		p := dir + "/" + n
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			fmt.Fprintf(&b, "%s: %s\n", n, errObs(err))
			continue
		}
		if st.Mode&unix.S_IFMT == unix.S_IFDIR {
			// A child directory's id counts every cgroup the host
			// made in between (other tests make thousands); only
			// the files made with the directory have fixed offsets.
			fmt.Fprintf(&b, "%s: %s\n", n, statObs(&st))
			continue
		}
		fmt.Fprintf(&b, "%s: %s ino=dir%+d", n, statObs(&st), int64(st.Ino-base.Ino))
		if st.Mode&unix.S_IFMT == unix.S_IFREG {
			fmt.Fprintf(&b, " %s", readObs(p))
		}
		b.WriteByte('\n')
	}
	return b.String()
}
