package dbpools

import (
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/otelcol-goebpf/otelcol-goebpf/internal/testutil/redis"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/goexe"
)

// TestRedisLayoutOf: the pool's layout from DWARF for the newest and the
// oldest go-redis v9 and the newest v8 (integration/testdata/redisdemo):
// the sizes that changed (int → atomic.Int32, int → int32) and the fields
// only newer releases have. A stripped build of each gets the same layout
// from the offsets table (its release is listed); a stripped build of a
// release the table does not list gets none, and an error naming it.
func TestRedisLayoutOf(t *testing.T) {
	t.Parallel()
	const src = "../../../../integration/testdata/redisdemo"
	for _, tc := range []struct {
		demo              redis.Demo
		openSize, maxSize uint64
		waits, pending    bool
	}{
		{redis.Demos[0], 4, 4, true, true},
		{redis.Demos[1], 8, 8, false, false},
		{redis.Demos[2], 8, 8, false, false},
	} {
		exe, err := goexe.Inspect(redis.BuildDemo(t, src, tc.demo))
		if err != nil {
			t.Fatal(err)
		}
		l, err := RedisLayoutOf(exe)
		if err != nil {
			t.Fatalf("%s: %v", tc.demo.Name(), err)
		}
		if l.Module != tc.demo.Module || l.PoolOpen.size != tc.openSize || l.PoolIdle.size != tc.openSize || l.PoolSizeOpt.size != tc.maxSize || l.Timeouts.size != 4 {
			t.Errorf("%s: layout %+v", tc.demo.Name(), l)
		}
		if (l.WaitCount.size != 0) != tc.waits || (l.WaitDuration.size != 0) != tc.waits || (l.Pending.size != 0) != tc.pending {
			t.Errorf("%s: waits/pending fields %+v, want waits %v pending %v", tc.demo.Name(), l, tc.waits, tc.pending)
		}
		stripped := tc.demo
		stripped.Stripped = true
		sexe, err := goexe.Inspect(redis.BuildDemo(t, src, stripped))
		if err != nil {
			t.Fatal(err)
		}
		if sexe.HasDWARF {
			t.Fatalf("%s has DWARF", stripped.Name())
		}
		sl, err := RedisLayoutOf(sexe)
		if err != nil {
			t.Errorf("%s: %v", stripped.Name(), err)
		} else if sl != l {
			t.Errorf("%s: table layout %+v, DWARF's %+v", stripped.Name(), sl, l)
		}
	}
	exe, err := goexe.Inspect(redis.BuildDemo(t, src, redis.Unlisted))
	if err != nil {
		t.Fatal(err)
	}
	if l, err := RedisLayoutOf(exe); err == nil || !strings.Contains(err.Error(), redis.Unlisted.Version) {
		t.Errorf("%s: layout %+v, error %v; want an error naming the version", redis.Unlisted.Name(), l, err)
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

// A binary whose go-redis pool layout is unknown (stripped, a release the
// offsets table does not list) is reported once, however many
// collections see its clients, and gets no pool metrics.
func TestRedisLayoutUnknownReportedOnce(t *testing.T) {
	t.Parallel()
	exe, err := goexe.Inspect(redis.BuildDemo(t, "../../../../integration/testdata/redisdemo", redis.Unlisted))
	if err != nil {
		t.Fatal(err)
	}
	c := NewCollector(time.Now())
	var reports []string
	c.RedisLayoutUnknown = func(path string, err error) { reports = append(reports, path+": "+err.Error()) }
	md := pmetric.NewMetrics()
	for i := 0; i < 3; i++ {
		_ = c.Collect(md, time.Now(), nil, map[int][]uint64{4242: {0xc000010000}}, func(int) (Process, bool) { return Process{Exe: exe}, true })
	}
	if len(reports) != 1 || !strings.Contains(reports[0], exe.Path) || !strings.Contains(reports[0], redis.Unlisted.Version) {
		t.Errorf("reports %q, want one naming %s and %s", reports, exe.Path, redis.Unlisted.Version)
	}
	if md.MetricCount() != 0 {
		t.Errorf("%d metrics for a pool of unknown layout", md.MetricCount())
	}
}
