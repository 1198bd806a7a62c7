package kernfs_test

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/simfs/simfs/kernfs"
	"golang.org/x/sys/unix"
)

// BenchmarkCreateRemoveFile creates and removes one file in a directory,
// each in its own transaction (what exposing a BPF object in a cgroup
// directory and unpinning it cost in kernfs).
func BenchmarkCreateRemoveFile(b *testing.B) {
	e := newEnv(b, kernfs.RootOptions{})
	ops := constOps("x\n")
	b.ReportAllocs()
	for b.Loop() {
		n, err := e.r.CreateFile(nil, e.r.Node(), "f", kernfs.Attr{Mode: 0600}, ops)
		if err != nil {
			b.Fatal(err)
		}
		e.r.Remove(nil, n)
	}
}

// BenchmarkRemoveMany removes n files of one directory one by one, each
// with its own transaction and drain, as n fsnotify callbacks would.
func BenchmarkRemoveMany(b *testing.B) {
	for _, n := range []int{1000, 100_000} {
		b.Run(fmt.Sprintf("files=%d", n), func(b *testing.B) {
			e := newEnv(b, kernfs.RootOptions{})
			ops := constOps("x\n")
			for b.Loop() {
				b.StopTimer()
				nodes := make([]*kernfs.Node, n)
				for i := range nodes {
					var err error
					if nodes[i], err = e.r.CreateFile(nil, e.r.Node(), fmt.Sprintf("f%d", i), kernfs.Attr{Mode: 0600}, ops); err != nil {
						b.Fatal(err)
					}
				}
				b.StartTimer()
				for _, nd := range nodes {
					e.r.Remove(nil, nd)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/remove")
		})
	}
}

// BenchmarkSeqRead is open + read + close of a small seq file.
func BenchmarkSeqRead(b *testing.B) {
	e := newEnv(b, kernfs.RootOptions{})
	if _, err := e.r.CreateFile(nil, e.r.Node(), "f", kernfs.Attr{Mode: 0644}, constOps("populated 0\nfrozen 0\n")); err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 4096)
	b.ReportAllocs()
	for b.Loop() {
		f, err := e.v.Open(e.c, "/k/f", unix.O_RDONLY, 0)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := f.Read(buf); err != nil {
			b.Fatal(err)
		}
		f.Close()
	}
}

// BenchmarkRemoveManyOneTxn removes n files in one transaction: one lock
// hold, one deferred drain per node.
func BenchmarkRemoveManyOneTxn(b *testing.B) {
	for _, n := range []int{1000, 100_000} {
		b.Run(fmt.Sprintf("files=%d", n), func(b *testing.B) {
			e := newEnv(b, kernfs.RootOptions{})
			ops := constOps("x\n")
			for b.Loop() {
				b.StopTimer()
				nodes := make([]*kernfs.Node, n)
				for i := range nodes {
					var err error
					if nodes[i], err = e.r.CreateFile(nil, e.r.Node(), fmt.Sprintf("f%d", i), kernfs.Attr{Mode: 0600}, ops); err != nil {
						b.Fatal(err)
					}
				}
				b.StartTimer()
				txn := e.v.Begin()
				for _, nd := range nodes {
					e.r.Remove(txn, nd)
				}
				txn.End()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/remove")
		})
	}
}

// BenchmarkRemoveNodes removes n files of one directory with one
// RemoveNodes call: one transaction, the idle nodes unlinked at once.
func BenchmarkRemoveNodes(b *testing.B) {
	for _, n := range []int{1000, 100_000} {
		b.Run(fmt.Sprintf("files=%d", n), func(b *testing.B) {
			e := newEnv(b, kernfs.RootOptions{})
			ops := constOps("x\n")
			for b.Loop() {
				b.StopTimer()
				nodes := make([]*kernfs.Node, n)
				for i := range nodes {
					var err error
					if nodes[i], err = e.r.CreateFile(nil, e.r.Node(), fmt.Sprintf("f%d", i), kernfs.Attr{Mode: 0600}, ops); err != nil {
						b.Fatal(err)
					}
				}
				runtime.GC()
				b.StartTimer()
				e.r.RemoveNodes(nil, nodes, false)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/remove")
		})
	}
}
