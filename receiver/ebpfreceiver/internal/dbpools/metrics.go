package dbpools

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"sync"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/goexe"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/sqlclient"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/runtimemetrics"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/sqlconnector"
)

// Metric and attribute names. The count, max and pending requests are the
// semantic conventions' (database client metrics); wait_count and
// wait_duration are database/sql's cumulative DB.Stats() figures, which
// the conventions have no name for (their db.client.connection.wait_time
// is a histogram of single waits, which is not kept).
const (
	MetricCount        = "db.client.connection.count"
	MetricMax          = "db.client.connection.max"
	MetricPending      = "db.client.connection.pending_requests"
	MetricWaitCount    = "db.client.connection.wait_count"
	MetricWaitDuration = "db.client.connection.wait_duration"
	MetricTimeouts     = "db.client.connection.timeouts"
	AttrPoolName       = "db.client.connection.pool.name"
	AttrState          = "db.client.connection.state"
	ScopeName          = "github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/dbpools"
)

// Process is what the collector needs to know about a process.
type Process struct {
	Exe *goexe.Executable
	// TypeName names a type descriptor at an unrelocated address ("" when
	// it cannot).
	TypeName func(addr uint64) string
	// Server names the server of the pool at an address (nil: unknown);
	// it gives the pool its name ("postgresql 127.0.0.1:5432/app").
	Server func(db uint64) sqlconnector.Server
}

// Collector reads the pools of instrumented processes. Collect and Forget
// may be called from different goroutines.
type Collector struct {
	mu      sync.Mutex
	layouts map[*goexe.Executable]layoutOrErr
	biases  map[int]uint64
	// names are the pools' names by pid and address, given when a pool is
	// first read, so that a name stays with its pool while the process
	// runs; taken counts the pools of a pid by base name.
	names map[int]map[uint64]string
	taken map[int]map[string]int
	start pcommon.Timestamp
	// RedisLayoutUnknown, when set, is told once per executable that has
	// go-redis clients whose pool layout is unknown (a stripped binary
	// built against a go-redis release the offsets table does not list):
	// its Redis pools get no metrics.
	RedisLayoutUnknown func(exe string, err error)
	// SQLLayoutUnknown, when set, is told once per executable that has
	// database/sql pools whose layout is unknown (no DWARF and a Go
	// version the layout rule does not cover; ErrGoVersionUnknown names
	// it): its database/sql pools get no metrics.
	SQLLayoutUnknown func(exe string, err error)
}

type layoutOrErr struct {
	l   Layout
	err error
	// done: l and err were read (when a pool was first seen).
	done     bool
	redis    RedisLayout
	redisErr error
	// redisDone: redis and redisErr were read (when a client was first
	// seen).
	redisDone bool
}

// NewCollector returns a collector; start is the start time of its
// cumulative sums.
func NewCollector(start time.Time) *Collector {
	return &Collector{layouts: map[*goexe.Executable]layoutOrErr{}, biases: map[int]uint64{}, names: map[int]map[uint64]string{},
		taken: map[int]map[string]int{}, start: pcommon.NewTimestampFromTime(start)}
}

// Forget drops what is cached about a process (it exited).
func (c *Collector) Forget(pid int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.biases, pid)
	delete(c.names, pid)
	delete(c.taken, pid)
}

// nameOf is the pool's name: base the first time the process's pool at
// addr is read with a base no other pool of the process has, else base
// with "#2", "#3", ... in the order pools are first read.
func (c *Collector) nameOf(pid int, addr uint64, base string) string {
	if n, ok := c.names[pid][addr]; ok {
		return n
	}
	if c.names[pid] == nil {
		c.names[pid] = map[uint64]string{}
		c.taken[pid] = map[string]int{}
	}
	c.taken[pid][base]++
	n := base
	if k := c.taken[pid][base]; k > 1 {
		n += "#" + strconv.Itoa(k)
	}
	c.names[pid][addr] = n
	return n
}

// Collect appends the metrics of every pool in pools (the *DB addresses
// used by each pid) and of every go-redis client's pool in redis (the
// *baseClient addresses) to md, in the ResourceMetrics of the pid (made
// when md has none). procOf returns a pid's process (ok false: not
// instrumented any more). The error joins what could not be read.
func (c *Collector) Collect(md pmetric.Metrics, now time.Time, pools, redis map[int][]uint64, procOf func(pid int) (Process, bool)) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var errs []error
	ts := pcommon.NewTimestampFromTime(now)
	pids := make([]int, 0, len(pools)+len(redis))
	for pid := range pools {
		pids = append(pids, pid)
	}
	for pid := range redis {
		if _, dup := pools[pid]; !dup {
			pids = append(pids, pid)
		}
	}
	sort.Ints(pids)
	for _, pid := range pids {
		proc, ok := procOf(pid)
		if !ok || proc.Exe == nil {
			continue
		}
		lo := c.layouts[proc.Exe]
		if len(pools[pid]) > 0 && !lo.done {
			lo.l, lo.err = LayoutOf(proc.Exe)
			lo.done = true
			if lo.err != nil && c.SQLLayoutUnknown != nil {
				c.SQLLayoutUnknown(proc.Exe.Path, lo.err)
			}
		}
		if len(redis[pid]) > 0 && !lo.redisDone {
			// Read once the binary has a client: most have none.
			lo.redis, lo.redisErr = RedisLayoutOf(proc.Exe)
			lo.redisDone = true
			if lo.redisErr != nil && c.RedisLayoutUnknown != nil {
				c.RedisLayoutUnknown(proc.Exe.Path, lo.redisErr)
			}
		}
		c.layouts[proc.Exe] = lo
		sqlOK := lo.done && lo.err == nil
		if !sqlOK && (!lo.redisDone || lo.redisErr != nil) {
			continue // no layout: no pool metrics (a go-redis one said once per binary)
		}
		bias, ok := c.biases[pid]
		if !ok {
			b, err := runtimemetrics.LoadBias(pid, proc.Exe)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			bias = b
			c.biases[pid] = b
		}
		mem, err := OpenMemory(pid)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		var dbs []uint64
		if sqlOK {
			dbs = append(dbs, pools[pid]...)
		}
		sort.Slice(dbs, func(i, j int) bool { return dbs[i] < dbs[j] })
		var states []State
		var names []string
		for _, db := range dbs {
			s, err := Read(mem, db, lo.l, bias)
			if err != nil {
				errs = append(errs, fmt.Errorf("pid %d: %w", pid, err))
				continue
			}
			if s.Closed {
				continue
			}
			system := sqlclient.SystemOther
			if proc.TypeName != nil {
				name := proc.TypeName(s.ConnectorType)
				if name == "" {
					// Not a live sql.DB any more (closed, freed and the
					// memory reused): its connector is no type.
					continue
				}
				if name == "sql.dsnConnector" {
					// sql.Open of a driver without OpenConnector (lib/pq):
					// the driver's type names the database.
					name = proc.TypeName(DriverType(mem, s.Connector, bias))
				}
				system = sqlclient.SystemOf(name)
			}
			name := system
			if proc.Server != nil {
				name = proc.Server(db).PoolName(system)
			}
			name = c.nameOf(pid, db, name)
			states = append(states, s)
			names = append(names, name)
		}
		if lo.redisDone && lo.redisErr == nil {
			clients := append([]uint64{}, redis[pid]...)
			sort.Slice(clients, func(i, j int) bool { return clients[i] < clients[j] })
			read := map[uint64]bool{}
			for _, client := range clients {
				s, pool, name, err := ReadRedis(mem, client, lo.redis, bias, proc.TypeName)
				if errors.Is(err, errNotConnPool) || read[pool] {
					continue // a Conn's own pool, or a pool already read
				}
				if err != nil {
					errs = append(errs, fmt.Errorf("pid %d: %w", pid, err))
					continue
				}
				read[pool] = true
				name = c.nameOf(pid, pool, name)
				states = append(states, s)
				names = append(names, name)
			}
		}
		mem.Close()
		if len(states) == 0 {
			continue
		}
		c.emit(scopeFor(md, pid), ts, states, names)
	}
	return errors.Join(errs...)
}

// scopeFor returns a new ScopeMetrics in the pid's ResourceMetrics.
func scopeFor(md pmetric.Metrics, pid int) pmetric.ScopeMetrics {
	var rm pmetric.ResourceMetrics
	found := false
	for i := 0; i < md.ResourceMetrics().Len(); i++ {
		r := md.ResourceMetrics().At(i)
		if v, ok := r.Resource().Attributes().Get("process.pid"); ok && v.Int() == int64(pid) {
			rm, found = r, true
			break
		}
	}
	if !found {
		rm = md.ResourceMetrics().AppendEmpty()
		rm.Resource().Attributes().PutInt("process.pid", int64(pid))
	}
	sm := rm.ScopeMetrics().AppendEmpty()
	sm.Scope().SetName(ScopeName)
	return sm
}

func (c *Collector) emit(sm pmetric.ScopeMetrics, ts pcommon.Timestamp, states []State, names []string) {
	ms := sm.Metrics()
	sum := func(name, desc, unit string, monotonic bool) pmetric.NumberDataPointSlice {
		m := ms.AppendEmpty()
		m.SetName(name)
		m.SetDescription(desc)
		m.SetUnit(unit)
		s := m.SetEmptySum()
		s.SetIsMonotonic(monotonic)
		s.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
		return s.DataPoints()
	}
	point := func(dps pmetric.NumberDataPointSlice, pool string) pmetric.NumberDataPoint {
		dp := dps.AppendEmpty()
		dp.SetStartTimestamp(c.start)
		dp.SetTimestamp(ts)
		dp.Attributes().PutStr(AttrPoolName, pool)
		return dp
	}
	count := sum(MetricCount, "Connections of the pool, by state: idle, or used (open and not idle).", "{connection}", false)
	maxOpen := sum(MetricMax, "The most connections the pool opens (SetMaxOpenConns); absent when unlimited.", "{connection}", false)
	pending := sum(MetricPending, "Requests waiting for a connection of the pool.", "{request}", false)
	waits := sum(MetricWaitCount, "Connections waited for since the pool was opened (DB.Stats().WaitCount).", "{wait}", true)
	waited := sum(MetricWaitDuration, "Time spent waiting for a connection since the pool was opened (DB.Stats().WaitDuration).", "s", true)
	timeouts := sum(MetricTimeouts, "Waits for a connection that timed out since the pool was opened (go-redis PoolStats.Timeouts).", "{timeout}", true)
	for i, s := range states {
		idle := point(count, names[i])
		idle.Attributes().PutStr(AttrState, "idle")
		idle.SetIntValue(s.Idle)
		used := point(count, names[i])
		used.Attributes().PutStr(AttrState, "used")
		used.SetIntValue(max(s.Open-s.Idle, 0))
		if s.MaxOpen > 0 {
			point(maxOpen, names[i]).SetIntValue(s.MaxOpen)
		}
		if !s.NoPending {
			point(pending, names[i]).SetIntValue(s.Pending)
		}
		if !s.NoWaits {
			point(waits, names[i]).SetIntValue(s.WaitCount)
			point(waited, names[i]).SetDoubleValue(s.WaitDuration.Seconds())
		}
		if s.HasTimeouts {
			point(timeouts, names[i]).SetIntValue(s.Timeouts)
		}
	}
	ms.RemoveIf(func(m pmetric.Metric) bool { return m.Sum().DataPoints().Len() == 0 })
}
