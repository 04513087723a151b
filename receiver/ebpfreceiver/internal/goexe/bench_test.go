package goexe

import (
	"testing"
	"time"
)

// BenchmarkInspect measures a full inspection (ELF, build info, symbols,
// pclntab) of the httpapp target built by the host toolchain, unstripped and
// stripped, and of the tiny target.
//
//	go test ./receiver/ebpfreceiver/internal/goexe -run '^$' -bench . -benchmem
func BenchmarkInspect(b *testing.B) {
	for _, v := range []variant{{}, {stripped: true}, {tiny: true}} {
		path := buildTarget(b, tcHost, v)
		b.Run(v.String(), func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if _, err := Inspect(path); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkCacheHit measures what a discovery poll pays for a process whose
// binary was already inspected, and reports how many times cheaper that is
// than inspecting (timed in the same run).
func BenchmarkCacheHit(b *testing.B) {
	path := buildTarget(b, tcHost, variant{})
	start := time.Now()
	const inspections = 5
	for i := 0; i < inspections; i++ {
		if _, err := Inspect(path); err != nil {
			b.Fatal(err)
		}
	}
	perInspect := time.Since(start) / inspections
	c := NewCache()
	if _, err := c.Inspect(path); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := c.Inspect(path); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	perHit := b.Elapsed() / time.Duration(b.N)
	b.ReportMetric(float64(perInspect.Nanoseconds()), "inspect-ns")
	if perHit > 0 {
		b.ReportMetric(float64(perInspect)/float64(perHit), "inspect/hit")
	}
}

// BenchmarkFunc measures finding net/http.serverHandler.ServeHTTP and its
// RET offsets (reopening the file, reading and decoding the code).
func BenchmarkFunc(b *testing.B) {
	exe, err := Inspect(buildTarget(b, tcHost, variant{stripped: true}))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := exe.Func(serveHTTP); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFuncForPC measures resolving a PC to function, file and line, as
// the runtime metrics do for goroutine creation sites and allocation sites.
func BenchmarkFuncForPC(b *testing.B) {
	exe, err := Inspect(buildTarget(b, tcHost, variant{stripped: true}))
	if err != nil {
		b.Fatal(err)
	}
	fn, err := exe.Func(serveHTTP)
	if err != nil {
		b.Fatal(err)
	}
	pc := fn.Entry + (fn.ReturnOffsets[0] - fn.EntryOffset)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, _, _, ok := exe.FuncForPC(pc); !ok {
			b.Fatal("not found")
		}
	}
}
