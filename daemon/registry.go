package daemon

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// Registry is the directory where running daemons describe themselves, one
// <id>.json file each (a DaemonInfo) next to their <id>.sock control
// socket. The directory is 0700 and owned by the user, so only that user
// (and root) can reach the sockets.
type Registry struct {
	Dir string
}

// RegistryDirs are the candidate registry directories for the current
// user, most preferred first: /run/simfs for root, then
// $XDG_RUNTIME_DIR/simfs, then /tmp/simfs-<uid>. $SIMFS_RUNTIME_DIR, if
// set, is the only one (tests use it to keep to themselves).
func RegistryDirs() []string {
	if d := os.Getenv("SIMFS_RUNTIME_DIR"); d != "" {
		return []string{d}
	}
	var dirs []string
	if os.Geteuid() == 0 {
		dirs = append(dirs, "/run/simfs")
	}
	if x := os.Getenv("XDG_RUNTIME_DIR"); x != "" && filepath.IsAbs(x) {
		dirs = append(dirs, filepath.Join(x, "simfs"))
	}
	return append(dirs, filepath.Join(os.TempDir(), fmt.Sprintf("simfs-%d", os.Geteuid())))
}

// OpenRegistry returns the first candidate directory that exists or can
// be created with mode 0700 and is owned by the user with no access for
// others (a directory anybody could have prepared is refused).
func OpenRegistry() (*Registry, error) {
	var errs []error
	for _, d := range RegistryDirs() {
		if err := ensurePrivateDir(d); err != nil {
			errs = append(errs, err)
			continue
		}
		return &Registry{Dir: d}, nil
	}
	return nil, fmt.Errorf("no usable registry directory: %w", errors.Join(errs...))
}

func ensurePrivateDir(d string) error {
	if err := os.MkdirAll(filepath.Dir(d), 0755); err != nil {
		return err
	}
	if err := os.Mkdir(d, 0700); err != nil && !errors.Is(err, os.ErrExist) {
		return err
	}
	var st unix.Stat_t
	if err := unix.Lstat(d, &st); err != nil {
		return &os.PathError{Op: "lstat", Path: d, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR || st.Uid != uint32(os.Geteuid()) {
		return &os.PathError{Op: "registry", Path: d, Err: unix.EPERM}
	}
	if st.Mode&0077 != 0 {
		if err := os.Chmod(d, 0700); err != nil {
			return err
		}
	}
	return nil
}

// SocketPath is where daemon id's socket goes.
func (r *Registry) SocketPath(id string) string { return filepath.Join(r.Dir, id+".sock") }

func (r *Registry) entryPath(id string) string { return filepath.Join(r.Dir, id+".json") }

// Register writes info's entry (atomically: a reader never sees half).
func (r *Registry) Register(info DaemonInfo) error {
	b, err := json.MarshalIndent(info, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(r.Dir, "."+info.ID+".*")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), r.entryPath(info.ID))
}

// Unregister removes id's entry and socket.
func (r *Registry) Unregister(id string) {
	os.Remove(r.entryPath(id))
	os.Remove(r.SocketPath(id))
}

// List returns the entries of live daemons, by id. Entries whose daemon
// is gone (its pid no longer exists) are removed when prune is set and
// skipped otherwise.
func (r *Registry) List(prune bool) ([]DaemonInfo, error) {
	names, err := filepath.Glob(filepath.Join(r.Dir, "*.json"))
	if err != nil {
		return nil, err
	}
	var out []DaemonInfo
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			continue
		}
		var info DaemonInfo
		if json.Unmarshal(b, &info) != nil || info.ID == "" {
			continue
		}
		if !pidAlive(info.Pid) {
			if prune {
				r.Unregister(info.ID)
			}
			continue
		}
		out = append(out, info)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

func pidAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := unix.Kill(pid, 0)
	return err == nil || errors.Is(err, unix.EPERM)
}

// ListAll lists the live daemons of every candidate registry directory
// that exists.
func ListAll() []DaemonInfo {
	var out []DaemonInfo
	seen := map[string]bool{}
	for _, d := range RegistryDirs() {
		if _, err := os.Stat(d); err != nil {
			continue
		}
		infos, err := (&Registry{Dir: d}).List(false)
		if err != nil {
			continue
		}
		for _, in := range infos {
			if !seen[in.Socket] {
				seen[in.Socket] = true
				out = append(out, in)
			}
		}
	}
	return out
}

// Translate maps a host path inside one of mounts to the simulated path it
// shows (DIR/bpf/x → /sys/fs/bpf/x). ok is false if the path is in none.
func Translate(mounts []Mount, hostPath string) (sim string, ok bool) {
	p := filepath.Clean(hostPath)
	best := -1
	for i, m := range mounts {
		if within(p, m.Host) && (best < 0 || len(m.Host) > len(mounts[best].Host)) {
			best = i
		}
	}
	if best < 0 {
		return "", false
	}
	m := mounts[best]
	rest := strings.TrimPrefix(p, filepath.Clean(m.Host))
	return filepath.Clean(m.Sim + "/" + rest), true
}

// Untranslate maps a simulated path back to the host path that shows it,
// or returns it unchanged when no mount serves it.
func Untranslate(mounts []Mount, simPath string) string {
	best := -1
	for i, m := range mounts {
		if within(simPath, m.Sim) && (best < 0 || len(m.Sim) > len(mounts[best].Sim)) {
			best = i
		}
	}
	if best < 0 {
		return simPath
	}
	m := mounts[best]
	return filepath.Clean(m.Host + "/" + strings.TrimPrefix(simPath, m.Sim))
}

func within(p, dir string) bool {
	dir = filepath.Clean(dir)
	return p == dir || strings.HasPrefix(p, strings.TrimSuffix(dir, "/")+"/")
}

// FindDaemon returns the live daemon whose mounts contain hostPath (an
// absolute, cleaned path) among infos.
func FindDaemon(infos []DaemonInfo, hostPath string) (DaemonInfo, bool) {
	bestLen, best := -1, DaemonInfo{}
	for _, in := range infos {
		for _, m := range in.Mounts {
			if within(hostPath, m.Host) && len(m.Host) > bestLen {
				bestLen, best = len(m.Host), in
			}
		}
	}
	return best, bestLen >= 0
}

// errnoErr makes a path error wrapping e.
func errnoErr(op, path string, e syscall.Errno) error {
	return &os.PathError{Op: op, Path: path, Err: e}
}
