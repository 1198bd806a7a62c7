package cgroup_test

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/simfs/simfs/cgroup"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// TestConcurrentReadersAndRmdir reads cgroup files while other goroutines
// create and remove the cgroups and move tasks: every read is a complete,
// well-formed file or ENOENT (the path is gone) / ENODEV (removed while
// open), and nothing deadlocks.
func TestConcurrentReadersAndRmdir(t *testing.T) {
	e := newEnv(t, cgroup.Options{})
	const n = 6
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("c%d", i)
		e.mkdir(t, names[i])
	}
	tk, err := e.h.Spawn(nil)
	require.NoError(t, err)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	var complete, gone atomic.Int64
	check := func(file, s string) bool {
		switch file {
		case "cgroup.events":
			return s == "populated 0\nfrozen 0\n" || s == "populated 1\nfrozen 0\n" ||
				s == "populated 0\nfrozen 1\n" || s == "populated 1\nfrozen 1\n"
		case "cgroup.stat":
			return strings.HasPrefix(s, "nr_descendants ") && strings.HasSuffix(s, "nr_dying_subsys_hugetlb 0\n")
		case "cgroup.procs":
			return s == "" || s == fmt.Sprintf("%d\n", tk.Pid())
		}
		return false
	}
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			files := []string{"cgroup.events", "cgroup.stat", "cgroup.procs"}
			for it := 0; ; it++ {
				select {
				case <-stop:
					return
				default:
				}
				file := files[it%len(files)]
				s, err := e.read(names[(g+it)%n] + "/" + file)
				switch {
				case err == nil && check(file, s):
					complete.Add(1)
				case err != nil && (errnoOf(err) == unix.ENOENT || errnoOf(err) == unix.ENODEV):
					gone.Add(1)
				default:
					t.Errorf("read %s: %q, %v", file, s, err)
				}
			}
		}(g)
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for it := 0; ; it++ {
			select {
			case <-stop:
				return
			default:
			}
			cg, err := e.h.Lookup(names[it%n])
			if err == nil {
				_ = e.h.Move(tk, cg) // may race with the rmdir: ENODEV
			}
			_ = cg
			_, _ = e.write(names[(it+1)%n]+"/cgroup.freeze", fmt.Sprint(it%2))
		}
	}()
	for round := 0; round < 30; round++ {
		for _, name := range names {
			if err := e.v.Rmdir(e.c, e.p(name)); err != nil {
				require.Equal(t, unix.EBUSY, errnoOf(err), "rmdir %s", name)
				continue
			}
			require.NoError(t, e.v.Mkdir(e.c, e.p(name), 0755))
		}
	}
	close(stop)
	wg.Wait()
	require.Positive(t, complete.Load())
	tk.Exit()
}
