package bpf

import (
	"sync"
	"time"

	"github.com/simfs/simfs/interp"
)

// TraceLine is one bpf_trace_printk message, as trace_pipe would show it.
type TraceLine struct {
	Time time.Duration // since boot
	Pid  uint32
	Comm string
	Msg  string
}

// traceLog keeps the most recent trace_printk lines (the trace ring buffer).
type traceLog struct {
	mu    sync.Mutex
	lines []TraceLine
	next  int
	full  bool
}

const traceLogSize = 1024

func (s *Subsystem) tracePrintk(c *interp.Call, msg []byte) {
	t, _ := s.current(c)
	l := TraceLine{Time: time.Duration(s.KtimeNS()), Pid: t.Pid, Comm: t.Comm, Msg: string(msg)}
	s.trace.mu.Lock()
	defer s.trace.mu.Unlock()
	if s.trace.lines == nil {
		s.trace.lines = make([]TraceLine, traceLogSize)
	}
	s.trace.lines[s.trace.next] = l
	s.trace.next = (s.trace.next + 1) % traceLogSize
	if s.trace.next == 0 {
		s.trace.full = true
	}
}

// TraceLog returns the retained bpf_trace_printk lines, oldest first.
func (s *Subsystem) TraceLog() []TraceLine {
	s.trace.mu.Lock()
	defer s.trace.mu.Unlock()
	if !s.trace.full {
		return append([]TraceLine(nil), s.trace.lines[:s.trace.next]...)
	}
	return append(append([]TraceLine(nil), s.trace.lines[s.trace.next:]...), s.trace.lines[:s.trace.next]...)
}
