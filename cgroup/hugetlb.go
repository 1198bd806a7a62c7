package cgroup

import (
	"fmt"
	"math"

	"github.com/simfs/simfs/kernfs"
	"github.com/simfs/simfs/seqfile"
	"github.com/simfs/simfs/vfs"
	"golang.org/x/sys/unix"
)

// The hugetlb controller's cgroup v2 files (mm/hugetlb_cgroup.c). No page
// is ever charged here, so usage stays 0 and no "max" event happens; the
// limits are kept as the kernel keeps them, in base pages.

// pageCounterMax is PAGE_COUNTER_MAX on 64 bits: LONG_MAX / PAGE_SIZE.
const pageCounterMax = math.MaxInt64 / kernfs.PageSize

// hugetlbMinSize is the smallest huge page with cgroup files: order
// HUGETLB_CGROUP_MIN_ORDER (2).
const hugetlbMinSize = 4 * kernfs.PageSize

// DefaultHugePageSizes returns the reference machine's huge page sizes in
// its hstate order: 1 GiB, then 2 MiB.
func DefaultHugePageSizes() []uint64 { return []uint64{1 << 30, 2 << 20} }

// hstate is one huge page size.
type hstate struct {
	size  uint64 // bytes
	pages uint64 // pages_per_huge_page
	name  string // mem_fmt: "2MB", "1GB"
}

// memFmt is mem_fmt.
func memFmt(size uint64) string {
	switch {
	case size >= 1<<30:
		return fmt.Sprintf("%dGB", size>>30)
	case size >= 1<<20:
		return fmt.Sprintf("%dMB", size>>20)
	}
	return fmt.Sprintf("%dKB", size>>10)
}

// initHugetlb validates Options.HugePageSizes and Options.MemoryNodes.
func (h *Hierarchy) initHugetlb() error {
	sizes := h.opts.HugePageSizes
	if sizes == nil {
		sizes = DefaultHugePageSizes()
	}
	seen := map[uint64]bool{}
	for _, sz := range sizes {
		if sz < hugetlbMinSize || sz&(sz-1) != 0 || seen[sz] {
			return fmt.Errorf("cgroup: bad huge page size %d: %w", sz, unix.EINVAL)
		}
		seen[sz] = true
		h.hstates = append(h.hstates, hstate{size: sz, pages: sz / kernfs.PageSize, name: memFmt(sz)})
	}
	h.nodes = h.opts.MemoryNodes
	if h.nodes == nil {
		h.nodes = []int{0}
	}
	return nil
}

// hugetlbCSS is struct hugetlb_cgroup: per hstate, the limit of the
// fault counter and of the reservation counter, in base pages.
type hugetlbCSS struct {
	max, rsvdMax []uint64
}

// newHugetlbCSS is hugetlb_cgroup_css_alloc: every limit is
// PAGE_COUNTER_MAX, which is not a multiple of the huge page size, so a
// fresh limit reads as a number, not "max".
func (h *Hierarchy) newHugetlbCSS() *hugetlbCSS {
	hc := &hugetlbCSS{max: make([]uint64, len(h.hstates)), rsvdMax: make([]uint64, len(h.hstates))}
	for i := range h.hstates {
		hc.max[i] = pageCounterMax
		hc.rsvdMax[i] = pageCounterMax
	}
	return hc
}

// hugetlbFiles are __hugetlb_cgroup_file_dfl_init's files for each
// hstate, in creation order; ss is hugetlb's subsystem index.
func (h *Hierarchy) hugetlbFiles(ss int) []*cftype {
	var cfts []*cftype
	for idx, hs := range h.hstates {
		limit := func(rsvd bool) *cftype {
			name := "hugetlb." + hs.name + ".max"
			if rsvd {
				name = "hugetlb." + hs.name + ".rsvd.max"
			}
			return &cftype{name: name, flags: notOnRoot,
				show: func(h *Hierarchy, cg *Cgroup, m *seqfile.Buffer) error {
					hc, _ := cg.cssPriv[ss].(*hugetlbCSS)
					if hc == nil {
						return unix.ENODEV
					}
					v := hc.max[idx]
					if rsvd {
						v = hc.rsvdMax[idx]
					}
					// hugetlb_cgroup_read_u64_max: "max" only for
					// the largest limit a write can set.
					if v == pageCounterMax&^(hs.pages-1) {
						_, _ = m.WriteString("max\n")
					} else {
						m.Printf("%d\n", v*kernfs.PageSize)
					}
					return nil
				},
				write: func(h *Hierarchy, cg *Cgroup, of *kernfs.OpenFile, buf string) error {
					nr, err := pageCounterMemparse(strstrip(buf), "max")
					if err != nil {
						return err
					}
					nr &^= hs.pages - 1 // round_down to the huge page
					return h.update(func(t *vfs.Txn) error {
						hc, _ := cg.cssPriv[ss].(*hugetlbCSS)
						if hc == nil {
							return unix.ENODEV
						}
						// page_counter_set_max: usage is 0, so
						// never EBUSY.
						if rsvd {
							hc.rsvdMax[idx] = nr
						} else {
							hc.max[idx] = nr
						}
						return nil
					})
				}}
		}
		text := func(name, content string) *cftype {
			return &cftype{name: "hugetlb." + hs.name + "." + name, flags: notOnRoot,
				show: func(h *Hierarchy, cg *Cgroup, m *seqfile.Buffer) error {
					_, _ = m.WriteString(content)
					return nil
				}}
		}
		numa := &cftype{name: "hugetlb." + hs.name + ".numa_stat", flags: notOnRoot,
			show: func(h *Hierarchy, cg *Cgroup, m *seqfile.Buffer) error {
				// hugetlb_cgroup_read_numa_stat on the default
				// hierarchy, nothing charged.
				_, _ = m.WriteString("total=0")
				for _, n := range h.nodes {
					m.Printf(" N%d=0", n)
				}
				m.PutC('\n')
				return nil
			}}
		cfts = append(cfts, limit(false), limit(true), text("current", "0\n"), text("rsvd.current", "0\n"),
			text("events", "max 0\n"), text("events.local", "max 0\n"), numa)
	}
	return cfts
}

// memparse is lib/cmdline.c's memparse: simple_strtoull with base 0
// (wrapping on overflow, no sign), then an optional K, M, G, T, P or E
// suffix in either case, each a shift by 10 more (wrapping too). It
// returns the value and what follows.
func memparse(s string) (uint64, string) {
	rest, base := fixupRadix(s, 0)
	v, n, _ := parseInteger(rest, base)
	rest = rest[n:]
	if rest == "" {
		return v, rest
	}
	shift := map[byte]uint{'k': 10, 'm': 20, 'g': 30, 't': 40, 'p': 50, 'e': 60}[toLower(rest[0])]
	if shift == 0 {
		return v, rest
	}
	return v << shift, rest[1:]
}

// pageCounterMemparse is page_counter_memparse: max, or a memparse size
// with nothing after it, in pages (rounded down), at most
// PAGE_COUNTER_MAX. An empty string is 0.
func pageCounterMemparse(buf, max string) (uint64, error) {
	if buf == max {
		return pageCounterMax, nil
	}
	bytes, rest := memparse(buf)
	if rest != "" {
		return 0, unix.EINVAL
	}
	return min(bytes/kernfs.PageSize, pageCounterMax), nil
}
