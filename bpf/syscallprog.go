package bpf

// SyscallProgType is BPF_PROG_TYPE_SYSCALL, the generic type simfs uses to
// run a program on arbitrary bytes (BPF_PROG_TEST_RUN): the context is the
// caller's buffer, up to 64 KiB, read and written in place.
func SyscallProgType() *ProgType {
	return &ProgType{
		Name:       "syscall",
		Kind:       "syscall",
		KernelType: ProgTypeSyscall,
		CtxSize:    1<<16 - 1,
		Helpers:    BaseHelpers(),
		RetMin:     1, RetMax: 0, // any return value
		Sleepable: true,
		TestRun:   true,
	}
}
