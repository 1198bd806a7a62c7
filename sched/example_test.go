package sched_test

import (
	"fmt"
	"os"

	"github.com/simfs/simfs/kernel"
	"github.com/simfs/simfs/sched"
)

// The seed's programs on a machine whose scheduler a test drives: the
// view prints the longest wait of the cgroup's tasks. The same seed gives
// the same numbers on every run.
func Example() {
	m, _ := kernel.Boot(kernel.Config{Seed: 2022})
	p := m.NewProcess(kernel.ProcessOptions{})
	defer p.Exit()
	s, _ := sched.New(m, sched.Options{CPUs: 1})
	defer s.Close()

	f, _ := os.Open("../examples/pinning_kernfs/pinning_kernfs.bpf.o")
	defer f.Close()
	obj, _ := m.OpenObject(f)
	fds, _ := p.LoadObject(obj, kernel.LoadObjectOptions{})
	_, _ = p.LinkCreate(fds.Progs["wait_record"], kernel.LinkCreateAttr{}) // attach to sched_stat_wait

	_ = p.Mkdir("/sys/fs/cgroup/work", 0o755)
	for range 3 {
		_, _ = p.TaskSpawn("/sys/fs/cgroup/work")
	}
	_ = s.Run(250) // one second of simulated time

	view, _ := p.LinkCreate(fds.Progs["wait_show"], kernel.LinkCreateAttr{})
	_ = p.ObjPin(view, "/sys/fs/bpf/wait_show")
	_ = p.ObjPin(view, "/sys/fs/cgroup/work/wait")
	out, _ := p.ReadFile("/sys/fs/cgroup/work/wait")
	fmt.Print(string(out))
	fmt.Println(s.Now())
	// Output:
	// 15 8000000
	// 1s
}
