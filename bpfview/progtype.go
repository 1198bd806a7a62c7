package bpfview

import (
	"github.com/simfs/simfs/bpf"
)

// ProgType is the RFC's bpf_view program type for the "cgroup" target:
// BPF_PROG_TYPE_TRACING with expected attach type BPF_TRACE_VIEW, section
// "view/cgroup", attach BTF function bpf_view_cgroup(struct seq_file *,
// struct cgroup *). Its context is {seq @0, cgroup @8}; it may call the
// tracing helpers plus bpf_seq_printf, bpf_seq_write and
// bpf_seq_printf_btf; it must return 0 or 1 (1: the read is empty).
func ProgType() *bpf.ProgType {
	return &bpf.ProgType{
		Name:       "view/cgroup",
		Kind:       "view",
		KernelType: bpf.ProgTypeTracing,
		AttachType: bpf.AttachTraceView,
		CtxSize:    16,
		Helpers:    bpf.SeqHelpers(),
		RetMin:     0,
		RetMax:     1,
		Attach: func(p *bpf.Prog, attr bpf.LinkAttr) (bpf.LinkOps, error) {
			return &viewLink{target: "cgroup"}, nil
		},
	}
}

// viewLink is struct bpf_view_link: a link of type BPF_LINK_TYPE_VIEW for one
// target. Releasing it detaches nothing.
type viewLink struct {
	target string
}

func (l *viewLink) LinkType() string  { return "view" }
func (l *viewLink) Release()          {}
func (l *viewLink) Info() [][2]string { return [][2]string{{"attach_target", l.target}} }

// IsCgroupView is bpf_link_is_cgroup_view.
func IsCgroupView(l *bpf.Link) bool {
	v, ok := l.Ops().(*viewLink)
	return ok && v.target == "cgroup"
}
