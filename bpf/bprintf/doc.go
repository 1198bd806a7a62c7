// Package bprintf is the kernel's BPF printf formatting: what bpf_seq_printf,
// bpf_snprintf, bpf_trace_printk and bpf_trace_vprintk produce for a format
// string and its u64 arguments.
//
// It stands for bpf_bprintf_prepare and bpf_snprintf in kernel/bpf/helpers.c,
// the format parts of bpf_seq_printf, bpf_trace_printk and bpf_trace_vprintk
// in kernel/trace/bpf_trace.c, and the parts of lib/vsprintf.c (bstr_printf,
// number, string, the %p forms) and mm/maccess.c (the nofault string copies)
// they reach, as of Linux 6.18.
package bprintf
