package dbpools

import (
	"testing"
	"time"

	"github.com/otelcol-goebpf/otelcol-goebpf/internal/testutil/redis"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/goexe"
)

// TestRedisLayoutOf: the pool's layout from DWARF for the newest and the
// oldest go-redis v9 and the newest v8 (integration/testdata/redisdemo):
// the sizes that changed (int → atomic.Int32, int → int32) and the fields
// only newer releases have; a stripped build has none.
func TestRedisLayoutOf(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		demo                  redis.Demo
		openSize, maxSize     uint64
		waits, pending, strip bool
	}{
		{redis.Demos[0], 4, 4, true, true, false},
		{redis.Demos[1], 8, 8, false, false, false},
		{redis.Demos[2], 8, 8, false, false, false},
		{redis.Demo{Module: redis.Demos[0].Module, Version: redis.Demos[0].Version, Stripped: true}, 0, 0, false, false, true},
	} {
		exe, err := goexe.Inspect(redis.BuildDemo(t, "../../../../integration/testdata/redisdemo", tc.demo))
		if err != nil {
			t.Fatal(err)
		}
		l, err := RedisLayoutOf(exe)
		if tc.strip {
			if err == nil {
				t.Errorf("%s: a layout without DWARF: %+v", tc.demo.Name(), l)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", tc.demo.Name(), err)
		}
		if l.Module != tc.demo.Module || l.PoolOpen.size != tc.openSize || l.PoolIdle.size != tc.openSize || l.PoolSizeOpt.size != tc.maxSize || l.Timeouts.size != 4 {
			t.Errorf("%s: layout %+v", tc.demo.Name(), l)
		}
		if (l.WaitCount.size != 0) != tc.waits || (l.WaitDuration.size != 0) != tc.waits || (l.Pending.size != 0) != tc.pending {
			t.Errorf("%s: waits/pending fields %+v, want waits %v pending %v", tc.demo.Name(), l, tc.waits, tc.pending)
		}
	}
}

// Pool names stay with their pools: a pool first read later gets the next
// number, whatever its address, and a process's exit frees its names.
func TestPoolNamesStable(t *testing.T) {
	t.Parallel()
	c := NewCollector(time.Now())
	if n := c.nameOf(1, 0x200, "redis h:1/0"); n != "redis h:1/0" {
		t.Fatal(n)
	}
	if n := c.nameOf(1, 0x100, "redis h:1/0"); n != "redis h:1/0#2" {
		t.Fatal(n)
	}
	if n := c.nameOf(1, 0x200, "redis h:1/0"); n != "redis h:1/0" {
		t.Fatalf("renamed: %s", n)
	}
	if n := c.nameOf(2, 0x100, "redis h:1/0"); n != "redis h:1/0" {
		t.Fatalf("another process: %s", n)
	}
	c.Forget(1)
	if n := c.nameOf(1, 0x100, "redis h:1/0"); n != "redis h:1/0" {
		t.Fatalf("after Forget: %s", n)
	}
}
