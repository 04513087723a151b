package runtimemetrics

import (
	"sort"
	"testing"

	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/goexe"
)

// tableBinary answers FieldOffset from goexe's committed offsets table for
// one toolchain, as goexe does for a binary without DWARF.
type tableBinary struct {
	Binary
	tab     *goexe.OffsetTable
	version string
}

func (b tableBinary) FieldOffset(strct, field string) (uint64, bool) {
	off, err := b.tab.Lookup(strct+"."+field, b.version, nil)
	return off, err == nil
}

// TestLayoutsPerGoVersion checks, for every toolchain in goexe's offsets
// table, that the runtime layout this package needs is complete and that
// the fixed layout of profile buckets still holds.
func TestLayoutsPerGoVersion(t *testing.T) {
	tab, err := goexe.EmbeddedOffsets()
	if err != nil {
		t.Fatal(err)
	}
	var versions []string
	for _, vs := range tab.Toolchains {
		versions = append(versions, vs...)
	}
	sort.Strings(versions)
	if len(versions) == 0 {
		t.Fatal("offsets table lists no toolchain")
	}
	for _, v := range versions {
		t.Run(v, func(t *testing.T) {
			bin := tableBinary{tab: tab, version: v}
			l, err := loadLayout(bin)
			if err != nil {
				t.Fatalf("layout: %v", err)
			}
			// Every g field we read must fit in what we copy per goroutine.
			for name, off := range map[string]int64{"atomicstatus": l.gStatus, "goid": l.gGoid, "waitsince": l.gWaitSince,
				"waitreason": l.gWaitReason, "gopc": l.gGopc, "startpc": l.gStartPC} {
				if off == noField || off+1 > int64(l.gReadSize) {
					t.Errorf("runtime.g.%s at %d, read size %d", name, off, l.gReadSize)
				}
			}
			for name, off := range map[string]int64{"numgc": l.msNumGC, "numforcedgc": l.msNumForcedGC, "pause_total_ns": l.msPauseTotalNs,
				"pause_ns": l.msPauseNs, "last_gc_unix": l.msLastGCUnix, "gcPercent": l.gcPercent, "heapInUse": l.gcHeapInUse,
				"totalAlloc": l.gcTotalAlloc, "mappedReady": l.gcMappedReady, "memoryLimit": l.gcMemoryLimit, "p.id": l.pID,
				"schedt.timeToRun": l.schedTimeToRun, "schedt.mnext": l.schedMnext, "schedt.maxmcount": l.schedMaxmcount} {
				if off == noField {
					t.Errorf("%s: offset missing from the table for %s", name, v)
				}
			}
			// pause_ns is [256]uint64 right after pause_total_ns; numforcedgc follows numgc.
			if l.msPauseNs != l.msPauseTotalNs+8 || l.msNumForcedGC != l.msNumGC+4 {
				t.Errorf("mstats layout unexpected: pause_total_ns %d pause_ns %d numgc %d numforcedgc %d",
					l.msPauseTotalNs, l.msPauseNs, l.msNumGC, l.msNumForcedGC)
			}
			for field, want := range map[string]uint64{"allnext": bucketAllNextOff, "typ": bucketTypOff, "size": bucketSizeOff, "nstk": bucketNstkOff} {
				if got, ok := bin.FieldOffset("runtime.bucket", field); !ok || got != want {
					t.Errorf("runtime.bucket.%s at %d (known %v), this package assumes %d", field, got, ok, want)
				}
			}
		})
	}
}
