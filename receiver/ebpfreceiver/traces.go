package ebpfreceiver

import (
	"context"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/goexe"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/httpspan"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/kafkajoin"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/sqlconnector"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/tracer"
)

// drainInterval bounds how long an event waits in the ring buffer before it
// becomes a span when traffic is too low to trigger a wakeup.
const drainInterval = 200 * time.Millisecond

func (r *ebpfReceiver) drainLoop(ctx context.Context) {
	for ctx.Err() == nil {
		batch := newSpanBatch(r.clock(), r.redactor, r.panicTypeName)
		batch.sqlQueryText = r.cfg.Traces.SQL.QueryText
		if r.sqlServers != nil {
			batch.sqlServer = r.sqlServers.Lookup
		}
		counts := drainCounts{now: time.Now()}
		err := r.tracer.Drain(drainInterval, func(raw []byte) { r.handleRecord(&counts, batch, raw) })
		r.recordCounts(ctx, &counts)
		r.countDrops(ctx)
		r.countGRPCMetadata(ctx)
		r.countInjection(ctx)
		if r.join != nil {
			if ctx.Err() != nil || err != nil {
				r.countJoins(ctx, r.join.Flush(batch.td))
			} else {
				r.countJoins(ctx, r.join.Process(batch.td, time.Now()))
			}
		}
		if n := batch.td.SpanCount(); n > 0 && r.traces != nil {
			if cerr := r.traces.ConsumeTraces(ctx, batch.td); cerr != nil {
				r.tel.ReceiverEbpfSpansRefused.Add(ctx, int64(n))
				r.set.Logger.Debug("Next consumer refused spans", zap.Int("spans", n), zap.Error(cerr))
			} else {
				r.tel.ReceiverEbpfSpansEmitted.Add(ctx, int64(n))
			}
		}
		if err != nil {
			if ctx.Err() == nil {
				r.set.Logger.Error("Ring buffer read failed", zap.Error(err))
			}
			return
		}
	}
}

// handleRecord turns one ring buffer record into a span of batch, counting
// what it cannot in counts.
func (r *ebpfReceiver) handleRecord(counts *drainCounts, batch *spanBatch, raw []byte) {
	counts.received++
	ev, err := tracer.Decode(raw)
	if err != nil {
		counts.undecodable++
		return
	}
	if h, ok := ev.(probes.Handoff); ok && h.H2CHandoff() {
		counts.handoffs++
		return
	}
	if rec, ok := ev.(kafkajoin.Record); ok {
		counts.kafkaRecords++
		if r.join != nil {
			r.join.AddProduced(rec.Produced(), counts.now)
		}
		return
	}
	counts.stitch(ev)
	batch.add(ev, r.resourceFor)
}

// drainCounts tallies one drain's records for the receiver's counters,
// added once per drain rather than once per record (a counter update costs
// about as much as decoding a record).
type drainCounts struct {
	// now is when the drain began (the Kafka join's clock for records).
	now                                           time.Time
	received, undecodable, handoffs, kafkaRecords int64
	// stitched server spans; unstitched spans by side.
	stitched, stitchedLate, unstitchedServer, unstitchedClient int64
}

// stitch tallies what stitching found for an event's span: joined server
// spans (those joined late also apart), and spans of either side sent
// unjoined.
func (c *drainCounts) stitch(ev any) {
	e, ok := ev.(probes.Stitched)
	if !ok {
		return
	}
	switch side, res := e.StitchResult(); {
	case res == probes.StitchMatched && side == probes.SideServer:
		c.stitched++
	case res == probes.StitchLate && side == probes.SideServer:
		c.stitched++
		c.stitchedLate++
	case res == probes.StitchUnmatched && side == probes.SideServer:
		c.unstitchedServer++
	case res == probes.StitchUnmatched:
		c.unstitchedClient++
	}
}

// The reason attribute of events_lost, the side of spans_unstitched.
var (
	lostRingBufferFull = metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", "ring_buffer_full")))
	lostUndecodable    = metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", "undecodable")))
	sideServer         = metric.WithAttributeSet(attribute.NewSet(attribute.String("side", string(probes.SideServer))))
	sideClient         = metric.WithAttributeSet(attribute.NewSet(attribute.String("side", string(probes.SideClient))))
)

// The result attribute of kafka_joins.
var (
	joinJoined   = metric.WithAttributeSet(attribute.NewSet(attribute.String("result", "joined")))
	joinUnjoined = metric.WithAttributeSet(attribute.NewSet(attribute.String("result", "unjoined")))
	joinEvicted  = metric.WithAttributeSet(attribute.NewSet(attribute.String("result", "evicted")))
)

func (r *ebpfReceiver) countJoins(ctx context.Context, c kafkajoin.Counts) {
	if c.Joined > 0 {
		r.tel.ReceiverEbpfKafkaJoins.Add(ctx, c.Joined, joinJoined)
	}
	if c.Unjoined > 0 {
		r.tel.ReceiverEbpfKafkaJoins.Add(ctx, c.Unjoined, joinUnjoined)
	}
	if c.Evicted > 0 {
		r.tel.ReceiverEbpfKafkaJoins.Add(ctx, c.Evicted, joinEvicted)
	}
}

// recordCounts adds a drain's tallies to the receiver's counters.
func (r *ebpfReceiver) recordCounts(ctx context.Context, c *drainCounts) {
	add := func(n int64, counter interface {
		Add(context.Context, int64, ...metric.AddOption)
	}, opts ...metric.AddOption,
	) {
		if n > 0 {
			counter.Add(ctx, n, opts...)
		}
	}
	add(c.received, r.tel.ReceiverEbpfEventsReceived)
	add(c.undecodable, r.tel.ReceiverEbpfEventsLost, lostUndecodable)
	add(c.handoffs, r.tel.ReceiverEbpfH2cHandoffs)
	add(c.kafkaRecords, r.tel.ReceiverEbpfKafkaProducedRecords)
	add(c.stitched, r.tel.ReceiverEbpfSpansStitched)
	add(c.stitchedLate, r.tel.ReceiverEbpfSpansStitchedLate)
	add(c.unstitchedServer, r.tel.ReceiverEbpfSpansUnstitched, sideServer)
	add(c.unstitchedClient, r.tel.ReceiverEbpfSpansUnstitched, sideClient)
}

func (r *ebpfReceiver) countDrops(ctx context.Context) {
	drops, err := r.tracer.Drops()
	if err != nil {
		return
	}
	if drops > r.lastDrops {
		r.tel.ReceiverEbpfEventsLost.Add(ctx, int64(drops-r.lastDrops), lostRingBufferFull)
		r.lastDrops = drops
	}
}

// The reason attribute of grpc_metadata_unsearched.
var (
	grpcMetadataTruncated  = metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", "truncated")))
	grpcMetadataReadFailed = metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", "read_failed")))
)

func (r *ebpfReceiver) countGRPCMetadata(ctx context.Context) {
	c, err := r.tracer.GRPCMetadataCounts()
	if err != nil {
		return
	}
	last := r.lastGRPCMetadata
	if c.Truncated > last.Truncated {
		r.tel.ReceiverEbpfGrpcMetadataUnsearched.Add(ctx, int64(c.Truncated-last.Truncated), grpcMetadataTruncated)
	}
	if c.ReadFailed > last.ReadFailed {
		r.tel.ReceiverEbpfGrpcMetadataUnsearched.Add(ctx, int64(c.ReadFailed-last.ReadFailed), grpcMetadataReadFailed)
	}
	r.lastGRPCMetadata = c
}

func (r *ebpfReceiver) clock() httpspan.Clock {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts)
	return httpspan.NewClock(time.Now(), ts.Nano())
}

func (r *ebpfReceiver) resourceFor(pid uint32) httpspan.Resource {
	r.resMu.Lock()
	defer r.resMu.Unlock()
	if res, ok := r.resources[pid]; ok {
		return res
	}
	return httpspan.Resource{ServiceName: "unknown_service", PID: int(pid), HostName: r.host}
}

type panicTypeKey struct {
	exe  *goexe.Executable
	addr uint64
}

// maxPanicTypeNames bounds the cache of panic value type names.
const maxPanicTypeNames = 4096

// panicTypeName names the type of a panic value (or of a database
// connection or error, for the sql probe) from the process's
// executable; "" when it cannot (the span's error.type is then _OTHER).
func (r *ebpfReceiver) panicTypeName(pid uint32, addr uint64) string {
	if addr == 0 {
		return ""
	}
	r.resMu.Lock()
	exe := r.exes[pid]
	name, ok := r.typeNames[panicTypeKey{exe, addr}]
	r.resMu.Unlock()
	if exe == nil || ok {
		return name
	}
	name, err := exe.TypeName(addr)
	if err != nil {
		r.set.Logger.Debug("Cannot name a panic value's type", zap.Uint32("pid", pid), zap.Error(err))
	}
	r.resMu.Lock()
	if len(r.typeNames) < maxPanicTypeNames {
		r.typeNames[panicTypeKey{exe, addr}] = name
	}
	r.resMu.Unlock()
	return name
}

// spanBatch groups one drain's spans by process.
type spanBatch struct {
	td       ptrace.Traces
	clock    httpspan.Clock
	scopes   map[uint32]ptrace.ScopeSpans
	redactor *httpspan.Redactor
	typeName func(pid uint32, addr uint64) string
	// sqlQueryText: traces.sql.query_text.
	sqlQueryText bool
	// sqlServer names a database/sql pool's server (nil: not known).
	sqlServer func(pid uint32, db uint64) sqlconnector.Server
}

func newSpanBatch(c httpspan.Clock, red *httpspan.Redactor, typeName func(uint32, uint64) string) *spanBatch {
	return &spanBatch{td: ptrace.NewTraces(), clock: c, scopes: map[uint32]ptrace.ScopeSpans{}, redactor: red, typeName: typeName}
}

func (b *spanBatch) scope(pid uint32, resource func(uint32) httpspan.Resource) ptrace.ScopeSpans {
	if ss, ok := b.scopes[pid]; ok {
		return ss
	}
	rs := b.td.ResourceSpans().AppendEmpty()
	resource(pid).Fill(rs.Resource())
	ss := rs.ScopeSpans().AppendEmpty()
	ss.Scope().SetName("github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver")
	b.scopes[pid] = ss
	return ss
}

// add appends the span of a probe's event; anything else is ignored.
func (b *spanBatch) add(ev any, resource func(uint32) httpspan.Resource) {
	e, ok := ev.(probes.Event)
	if !ok {
		return
	}
	env := probes.SpanEnv{Clock: b.clock, Redactor: b.redactor, TypeName: b.typeName, SQLQueryText: b.sqlQueryText, SQLServer: b.sqlServer}
	e.AppendSpan(b.scope(e.Process(), resource), env)
}
