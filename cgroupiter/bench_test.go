package cgroupiter_test

import (
	"fmt"
	"testing"

	"github.com/simfs/simfs/kernel"
	"github.com/stretchr/testify/require"
)

// BenchmarkWalk reads one pre-order session over a flat tree of n
// cgroups with the example program (9 bytes a cgroup), in one read.
func BenchmarkWalk(b *testing.B) {
	for _, n := range []int{10, 1000, 3000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			m, p := boot(b, nil)
			prog := printer(b, m, p, false, 0)
			dir := kernel.CgroupPath + "/w"
			mkdirs(b, p, dir)
			for i := 0; i < n; i++ {
				mkdirs(b, p, fmt.Sprintf("%s/c%d", dir, i))
			}
			link, err := attach(p, prog, dir, orderPre)
			require.NoError(b, err)
			buf := make([]byte, 128<<10)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				fd, err := p.IterCreate(link)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := p.Read(fd, buf); err != nil {
					b.Fatal(err)
				}
				p.Close(fd)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n+1), "ns/cgroup")
		})
	}
}
