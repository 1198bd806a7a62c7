package daemon_test

import (
	"errors"
	"fmt"

	"github.com/simfs/simfs/interp/bpfasm"
	"github.com/simfs/simfs/kernel"
	"golang.org/x/sys/unix"
)

// Example_library is the README's "Go library" section: the simulated
// machine without the daemon, FUSE or root.
func Example_library() {
	m, err := kernel.Boot(kernel.Config{})
	if err != nil {
		panic(err)
	}
	p := m.NewProcess(kernel.ProcessOptions{Umask: 0o022}) // uid 0
	defer p.Exit()                                         // closes every fd, as a process exit does

	code, _ := bpfasm.Assemble("mov %r0, 7\nexit")
	fd, _, err := p.ProgLoad(kernel.ProgLoadAttr{Section: "syscall", Name: "seven", License: "GPL", Raw: code})
	if err != nil {
		panic(err)
	}
	if err := p.ObjPin(fd, "/sys/fs/bpf/seven"); err != nil {
		panic(err)
	}
	st, _ := p.Stat("/sys/fs/bpf/seven")
	ret, _, _, _ := p.ProgTestRun(fd, nil, 1)
	fmt.Printf("mode %o nlink %d, returns %d\n", st.Mode, st.Nlink, ret)

	err = p.ObjPin(fd, "/sys/fs/bpf/seven")
	fmt.Println(errors.Is(err, unix.EEXIST), err)
	// Output:
	// mode 100600 nlink 1, returns 7
	// true BPF_OBJ_PIN /sys/fs/bpf/seven: file exists
}
