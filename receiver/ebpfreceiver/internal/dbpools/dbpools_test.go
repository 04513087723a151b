package dbpools

import (
	"encoding/binary"
	"errors"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pmetric"
)

// fakeMemory is a process's memory: words at addresses.
type fakeMemory map[uint64][]byte

func (m fakeMemory) ReadAt(p []byte, addr int64) (int, error) {
	for base, b := range m {
		if uint64(addr) >= base && uint64(addr)+uint64(len(p)) <= base+uint64(len(b)) {
			return copy(p, b[uint64(addr)-base:]), nil
		}
	}
	return 0, errors.New("unmapped")
}

func put(b []byte, off uint64, v uint64) { binary.LittleEndian.PutUint64(b[off:], v) }

// The Go 1.26 layout of database/sql.DB (as DWARF gives it).
var layout126 = Layout{WaitDuration: 0, Connector: 8, FreeConn: 40, ConnRequests: 64, NumOpen: 88, Closed: 104, MaxOpen: 136, WaitCount: 168, ConnRequestsIsSet: true, size: 176}

func TestRead(t *testing.T) {
	t.Parallel()
	const db, itab, bias = 0xc000100000, 0x900000, 0x1000
	for _, set := range []bool{true, false} {
		l := layout126
		l.ConnRequestsIsSet = set
		b := make([]byte, l.size)
		put(b, l.WaitDuration, uint64(3*time.Second))
		put(b, l.Connector, itab)
		put(b, l.Connector+8, 0xc000200000)
		put(b, l.FreeConn+8, 1) // len(freeConn)
		put(b, l.NumOpen, 2)
		put(b, l.MaxOpen, 2)
		put(b, l.WaitCount, 8)
		mem := fakeMemory{db: b}
		if set {
			put(b, l.ConnRequests+8, 5) // len(connRequests.s)
		} else {
			put(b, l.ConnRequests, 0xc000300000) // *hmap / *maps.Map
			hm := make([]byte, 8)
			put(hm, 0, 5)
			mem[0xc000300000] = hm
		}
		tb := make([]byte, 16)
		put(tb, 8, 0x5000+bias)
		mem[itab] = tb
		s, err := Read(mem, db, l, bias)
		if err != nil {
			t.Fatal(err)
		}
		want := State{Open: 2, Idle: 1, MaxOpen: 2, Pending: 5, WaitCount: 8, WaitDuration: 3 * time.Second, ConnectorType: 0x5000, Connector: 0xc000200000}
		if s != want {
			t.Errorf("set=%v: %+v, want %+v", set, s, want)
		}
	}
	if _, err := Read(fakeMemory{}, db, layout126, 0); err == nil {
		t.Error("read of unmapped memory succeeded")
	}
	bad := make([]byte, layout126.size)
	put(bad, layout126.NumOpen, 1<<63)
	if _, err := Read(fakeMemory{db: bad}, db, layout126, 0); err == nil {
		t.Error("implausible state accepted")
	}
}

// Metrics of two pools of one database in one process: names in address
// order (#2 for the second), idle and used counts, max only when limited.
func TestEmit(t *testing.T) {
	t.Parallel()
	c := NewCollector(time.Unix(100, 0))
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutInt("process.pid", 42)
	states := []State{{Open: 3, Idle: 1, Pending: 0, WaitCount: 0}, {Open: 2, Idle: 0, MaxOpen: 2, Pending: 8, WaitCount: 8, WaitDuration: 20 * time.Second}}
	c.emit(scopeFor(md, 42), 0, states, []string{"postgresql", "postgresql#2"})
	if md.ResourceMetrics().Len() != 1 {
		t.Fatalf("%d resources, want the pid's one", md.ResourceMetrics().Len())
	}
	got := map[string]float64{}
	ms := rm.ScopeMetrics().At(0).Metrics()
	for i := 0; i < ms.Len(); i++ {
		dps := ms.At(i).Sum().DataPoints()
		for j := 0; j < dps.Len(); j++ {
			dp := dps.At(j)
			pool, _ := dp.Attributes().Get(AttrPoolName)
			key := ms.At(i).Name() + "/" + pool.Str()
			if st, ok := dp.Attributes().Get(AttrState); ok {
				key += "/" + st.Str()
			}
			v := float64(dp.IntValue())
			if dp.ValueType() == pmetric.NumberDataPointValueTypeDouble {
				v = dp.DoubleValue()
			}
			got[key] = v
		}
	}
	want := map[string]float64{
		MetricCount + "/postgresql/idle": 1, MetricCount + "/postgresql/used": 2,
		MetricCount + "/postgresql#2/idle": 0, MetricCount + "/postgresql#2/used": 2,
		MetricMax + "/postgresql#2":   2,
		MetricPending + "/postgresql": 0, MetricPending + "/postgresql#2": 8,
		MetricWaitCount + "/postgresql": 0, MetricWaitCount + "/postgresql#2": 8,
		MetricWaitDuration + "/postgresql": 0, MetricWaitDuration + "/postgresql#2": 20,
	}
	if len(got) != len(want) {
		t.Errorf("%d points %v, want %d", len(got), got, len(want))
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
}
