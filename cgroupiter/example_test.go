package cgroupiter_test

import (
	"fmt"
	"log"

	"github.com/simfs/simfs/kernel"
	"golang.org/x/sys/unix"
)

// The cgroup_iter example object, as the kernel selftest uses it: load it,
// link it to a cgroup in pre-order, pin the link and cat it.
func Example() {
	m, err := kernel.Boot(kernel.Config{})
	if err != nil {
		log.Fatal(err)
	}
	p := m.NewProcess(kernel.ProcessOptions{})
	defer p.Exit()
	for _, d := range []string{"parent", "parent/child1", "parent/child2"} {
		if err := p.Mkdir(kernel.CgroupPath+"/"+d, 0755); err != nil {
			log.Fatal(err)
		}
	}

	obj, err := m.OpenObjectFile("../examples/cgroup_iter/cgroup_iter.bpf.o")
	if err != nil {
		log.Fatal(err)
	}
	// Globals are set before the load, as a skeleton's skel->bss->x = v.
	if err := obj.SetVariable("terminate_early", []byte{0, 0, 0, 0}); err != nil {
		log.Fatal(err)
	}
	fds, err := p.LoadObject(obj, kernel.LoadObjectOptions{})
	if err != nil {
		log.Fatal(err)
	}
	defer fds.Close()

	cgfd, err := p.Open(kernel.CgroupPath+"/parent", unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		log.Fatal(err)
	}
	link, err := p.LinkCreate(fds.Progs["cgroup_id_printer"], kernel.LinkCreateAttr{
		CgroupFD: cgfd,
		Order:    2, // BPF_CGROUP_ITER_DESCENDANTS_PRE
	})
	p.Close(cgfd)
	if err != nil {
		log.Fatal(err)
	}
	if err := p.ObjPin(link, kernel.BPFFSPath+"/cgroups"); err != nil {
		log.Fatal(err)
	}
	p.Close(link) // the pin holds it

	out, err := p.ReadFile(kernel.BPFFSPath + "/cgroups")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Print(string(out))
	// Output:
	// prologue
	//       15
	//       34
	//       53
	// epilogue
}
