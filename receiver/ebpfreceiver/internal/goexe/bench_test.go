package goexe

import "testing"

// BenchmarkInspect measures a full inspection (ELF, build info, symbols,
// pclntab) plus the lookups an instrumentation pass does, on the httpapp
// target built by the host toolchain, unstripped and stripped.
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
