package interp

import (
	"errors"
	"fmt"
	"syscall"
)

// LoadError is a load-time rejection. errors.Is(err, syscall.EINVAL) and
// friends work on it: Errno is EINVAL for malformed programs, EACCES for
// safety rejections and E2BIG for size limits, as the Linux verifier answers.
type LoadError struct {
	Index int    // raw instruction slot the message is about; -1 for the whole program
	Msg   string // the verifier-style message, e.g. "frame pointer is read only"
	Log   string // a human-readable log: the instructions up to Index, then Msg
	Errno syscall.Errno
}

func (e *LoadError) Error() string {
	if e.Index < 0 {
		return "interp: load: " + e.Msg
	}
	return fmt.Sprintf("interp: load: insn %d: %s", e.Index, e.Msg)
}

// Unwrap returns the errno.
func (e *LoadError) Unwrap() error { return e.Errno }

// RunError reports why a run stopped abnormally. Its Err is one of the
// sentinels below, a *MemoryFault, or a helper's own error.
type RunError struct {
	PC   int    // raw instruction slot that was executing
	Insn string // its disassembly
	Err  error
}

func (e *RunError) Error() string {
	return fmt.Sprintf("interp: run: pc %d (%s): %v", e.PC, e.Insn, e.Err)
}

// Unwrap returns the cause.
func (e *RunError) Unwrap() error { return e.Err }

// kindError is an immutable sentinel that also matches an errno.
type kindError struct {
	msg   string
	errno syscall.Errno
}

func (e *kindError) Error() string { return e.msg }
func (e *kindError) Unwrap() error { return e.errno }

// Sentinel causes of a RunError. They are never modified.
var (
	// ErrBudgetExhausted: the run executed its budget of instructions
	// (E2BIG, like the verifier's 1M-instruction complexity limit).
	ErrBudgetExhausted error = &kindError{"instruction budget exhausted", syscall.E2BIG}
	// ErrCallDepth: a bpf-to-bpf call would need a ninth frame (E2BIG, like
	// the verifier's "the call stack of 9 frames is too deep").
	ErrCallDepth error = &kindError{"call stack too deep", syscall.E2BIG}
	// ErrUnknownHelper: a call to a helper id with no Helper in
	// RunOptions.Helpers, or not allowed (only reachable through callx,
	// or when the load-time set and the run-time table disagree) (EINVAL).
	ErrUnknownHelper error = &kindError{"call to unknown helper", syscall.EINVAL}
	// ErrCORERelocation: execution reached an instruction that CO-RE
	// relocation poisoned (call 0xbad2310, or lddw r10 = 0xbad2310) because
	// the target type lacks the field (EINVAL).
	ErrCORERelocation error = &kindError{"reached an instruction poisoned by a failed CO-RE relocation", syscall.EINVAL}
	// ErrExit is not a failure: a Helper returns it (possibly wrapped) to
	// end the program at once with R0 set to the helper's return value, as
	// uBPF's "unwind" helper does.
	ErrExit = errors.New("exit requested by helper")
)

// MemoryFault describes a load, store or helper access that was out of
// bounds, to unmapped memory, or a store to read-only memory. It matches
// syscall.EFAULT.
type MemoryFault struct {
	Addr   uint64
	Size   int
	Write  bool
	Reason string
}

func (f *MemoryFault) Error() string {
	kind := "read"
	if f.Write {
		kind = "write"
	}
	return fmt.Sprintf("memory fault: %s of %d bytes at %#x: %s", kind, f.Size, f.Addr, f.Reason)
}

// Unwrap returns syscall.EFAULT.
func (f *MemoryFault) Unwrap() error { return syscall.EFAULT }
