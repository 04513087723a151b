package ebpfreceiver

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/discovery"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/runtimemetrics"
)

// Config is the ebpf receiver's configuration. Key names are part of the
// distribution's contract (DESIGN.md).
type Config struct {
	// Discovery selects the processes to instrument.
	Discovery DiscoveryConfig `mapstructure:"discovery"`
	// Traces selects the spans produced.
	Traces TracesConfig `mapstructure:"traces"`
	// Metrics configures the Go runtime metrics of instrumented processes.
	Metrics MetricsConfig `mapstructure:"metrics"`
	// RingBufferSize is the size of the BPF ring buffer that carries events
	// from the kernel, e.g. "8MiB". Rounded up to a power of two. Events that
	// do not fit are dropped and counted (otelcol_receiver_ebpf_events_lost).
	RingBufferSize ByteSize `mapstructure:"ring_buffer_size"`
}

// DiscoveryConfig selects processes by executable path, listening port or pid.
type DiscoveryConfig struct {
	// Instrument lists selectors; a process matching any of them is
	// instrumented unless it matches an Exclude entry.
	Instrument []ProcessSelector `mapstructure:"instrument"`
	// Exclude lists selectors of processes never instrumented.
	Exclude []ProcessSelector `mapstructure:"exclude"`
	// PollInterval is how often /proc is scanned for new, exited and
	// restarted processes.
	PollInterval time.Duration `mapstructure:"poll_interval"`
}

// ProcessSelector matches a process. Exactly one field is set per entry.
type ProcessSelector struct {
	// ExePath is a glob on the process's executable path (/proc/<pid>/exe):
	// '*' matches any characters including '/', '?' one character, and
	// [...] a character class.
	ExePath string `mapstructure:"exe_path"`
	// OpenPorts lists TCP ports and ranges the process listens on, e.g.
	// "8080,9000-9100".
	OpenPorts string `mapstructure:"open_ports"`
	// PID selects one process id.
	PID int `mapstructure:"pid"`
}

// TracesConfig selects which spans are produced and how context propagates.
type TracesConfig struct {
	// HTTP enables net/http server and client spans and says what of the
	// URL they keep.
	HTTP HTTPConfig `mapstructure:"http"`
	// GRPC enables google.golang.org/grpc spans: a SERVER span per RPC
	// served (unary or streaming), a CLIENT span per RPC made (unary, and
	// streaming with client_streams). On by default; stripped binaries
	// work for grpc-go v1.33-v1.85 (offsets table by grpc minor, the
	// version from the build info or inferred).
	GRPC GRPCConfig `mapstructure:"grpc"`
	// SQL enables database/sql spans: a CLIENT span per query or exec and
	// per transaction begin, commit and rollback, whatever the driver.
	SQL SQLConfig `mapstructure:"sql"`
	// Redis enables go-redis client spans (github.com/redis/go-redis/v9,
	// github.com/go-redis/redis/v8): a CLIENT span per command, pipeline or
	// MULTI/EXEC transaction. A stripped binary needs its go-redis release
	// in the offsets table.
	Redis RedisConfig `mapstructure:"redis"`
	// Kafka enables Kafka client spans of github.com/segmentio/kafka-go (a
	// PRODUCER span per (*Writer).WriteMessages call, a CONSUMER span per
	// message a (*Reader) fetches) and github.com/IBM/sarama (a PRODUCER
	// span per SyncProducer SendMessage or SendMessages call, a CONSUMER
	// span per message a partition consumer fetches).
	Kafka KafkaConfig `mapstructure:"kafka"`
	// Propagation configures trace context propagation.
	Propagation PropagationConfig `mapstructure:"propagation"`
	// GoroutineAncestry is how far below a handler's goroutine a client
	// call still joins the handler's span. "deep" (default): any depth on
	// every Go version, by probing runtime.newproc's call of runqput (its
	// RETs of runtime.newproc1 where that call is not found), which costs 1
	// uprobe hit per goroutine the process creates, emulated by the kernel
	// (net/http's server starts one per request: 3 hits per served request
	// instead of 2); a goroutine
	// that outlives its request parents nothing. "parent": no extra hit on
	// Go >= 1.21, where the creator is found from runtime.g.parentGoid, so
	// only the handler's goroutine and the goroutines it starts directly
	// join, and a goroutine that outlives its request and calls while its
	// creator serves a later request (same keep-alive connection) is
	// parented to that later request; on older Go the goroutines probe is
	// attached anyway and "parent" behaves as "deep".
	GoroutineAncestry string `mapstructure:"goroutine_ancestry"`
	// CaptureHeaders would record the named request headers as span
	// attributes. Not implemented yet: a non-empty list is a configuration
	// error.
	CaptureHeaders []string `mapstructure:"capture_headers"`
}

// ProtocolConfig enables the server and client side of a protocol.
type ProtocolConfig struct {
	// Server enables SERVER spans for requests the process serves.
	Server bool `mapstructure:"server"`
	// Client enables CLIENT spans for requests the process makes.
	Client bool `mapstructure:"client"`
}

// SQLConfig configures database/sql spans.
type SQLConfig struct {
	// Enabled turns the spans on (off by default: a new probe
	// is opted into).
	Enabled bool `mapstructure:"enabled"`
	// QueryText records the statement as db.query.text, with every literal
	// (string, number) replaced by '?' and comments removed; at most the
	// statement's first 512 bytes are read. Off by default: statements may
	// name what users do not want exported even without their values.
	QueryText bool `mapstructure:"query_text"`
}

// RedisConfig configures Redis client spans.
type RedisConfig struct {
	// Enabled turns the spans on (off by default).
	Enabled bool `mapstructure:"enabled"`
}

// KafkaConfig configures Kafka spans (kafka-go and sarama), one switch per
// side (as for gRPC).
type KafkaConfig struct {
	// Producer: PRODUCER spans, one per kafka-go (*Writer).WriteMessages
	// call and per sarama SyncProducer send. Off by default, like SQL and
	// Redis: a new probe is opted into.
	Producer bool `mapstructure:"producer"`
	// Consumer: CONSUMER spans, one per message a kafka-go (*Reader) or a
	// sarama partition consumer fetches. Off by default.
	Consumer bool `mapstructure:"consumer"`
	// Join continues the producer's trace in the consumer span of the same
	// message when both run on this host, by the message's topic,
	// partition and offset (docs/kafka-join.md): on by default. A
	// traceparent header the producing application set still wins.
	Join bool `mapstructure:"join"`
	// JoinWait is how long a consumer span without a parent, and the spans
	// of its subtree, are held for the producer's record of the message
	// (default 2s): they are sent that much later, joined or not.
	JoinWait time.Duration `mapstructure:"join_wait"`
	// JoinMaxHeldSpans bounds the spans held at once (default 10000):
	// beyond it the oldest held consumer spans are sent unjoined (counted
	// as evicted).
	JoinMaxHeldSpans int `mapstructure:"join_max_held_spans"`
}

// joins: consumer spans are joined to producer records.
func (k KafkaConfig) joins() bool { return k.Join && k.Consumer }

// GRPCConfig configures google.golang.org/grpc spans.
type GRPCConfig struct {
	ProtocolConfig `mapstructure:",squash"`
	// ClientStreams: with client on, a CLIENT span per streaming RPC too
	// (default true). Streaming spans end at the entry of
	// (*clientStream).finish, which unary RPCs pass as well: off, a unary RPC
	// costs one uprobe hit less on the client (2 instead of 3, 3 instead
	// of 4 with stitching) and streaming RPCs get no CLIENT span.
	ClientStreams bool `mapstructure:"client_streams"`
}

// HTTPConfig configures net/http spans.
type HTTPConfig struct {
	ProtocolConfig `mapstructure:",squash"`
	// CaptureQuery records the query string of served requests as url.query
	// on SERVER spans, with sensitive values redacted. false reads no query
	// at all. (Client spans always carry the redacted query in url.full.)
	CaptureQuery bool `mapstructure:"capture_query"`
	// RedactQueryKeys lists query parameter names whose values are replaced
	// by REDACTED in url.query and url.full, on top of the ones the semantic
	// conventions name (AWSAccessKeyId, Signature, sig, X-Goog-Signature).
	// Names match case-insensitively.
	RedactQueryKeys []string `mapstructure:"redact_query_keys"`
}

// Values of TracesConfig.GoroutineAncestry.
const (
	AncestryParent = "parent"
	AncestryDeep   = "deep"
)

// PropagationConfig configures trace context propagation.
type PropagationConfig struct {
	// Extract lists the incoming header formats whose parent span the server
	// span adopts: "tracecontext" (W3C traceparent) and "b3" (single b3
	// header). traceparent wins when both are present.
	Extract []string `mapstructure:"extract"`
	// Stitch joins, on this host, the server span of a request to the
	// client span that sent it over HTTP/1.x or HTTP/2 (TLS and h2c
	// included): the server span, and the spans under it, take the client
	// span's trace, with the client span as parent. The two are matched by
	// the connection's TCP 4-tuple (and, for HTTP/2, the stream id), read
	// from the kernel's sockets; nothing is written to either process.
	// Costs one uprobe hit per HTTP/1 or HTTP/2 client request. Both
	// processes must be instrumented by this receiver.
	Stitch bool `mapstructure:"stitch"`
	// Inject inserts a W3C traceparent header, with the client span's
	// context, into the plaintext HTTP/1.x requests instrumented processes
	// send, at the socket layer (cgroup sockops + sockhash + sk_msg, see
	// internal/inject): the called service need not be instrumented by this
	// receiver, nor run on this host. Nothing is written into a process's
	// memory. A request that already carries a traceparent is sent
	// unchanged; TLS, heads split across writes and anything the BPF parser
	// cannot prove are skipped and counted. Needs traces.http.client and
	// CAP_NET_ADMIN (besides CAP_BPF and CAP_PERFMON); without the
	// capability injection is off, with one warning. Costs no uprobe hit
	// while stitch is on (one per HTTP/1 client request otherwise) and one
	// sk_msg program run per write on the instrumented processes' sockets.
	Inject bool `mapstructure:"inject"`
}

// MetricsConfig configures the Go runtime metrics collected from
// instrumented processes (emitted in a metrics pipeline).
type MetricsConfig struct {
	// CollectionInterval is how often runtime metrics are collected.
	CollectionInterval time.Duration `mapstructure:"collection_interval"`
	// Runtime selects the metric groups.
	Runtime RuntimeMetricsConfig `mapstructure:"runtime"`
	// DBPools reports the state of the database/sql connection pools
	// (*sql.DB) and go-redis clients' pools of instrumented processes, read
	// from their memory every collection interval:
	// db.client.connection.count (idle, used), .max, .pending_requests,
	// .wait_count, .wait_duration, and .timeouts for Redis. The pools are
	// found by the sql and Redis probes, so this needs traces.sql.enabled
	// or traces.redis.enabled (and the receiver in a traces pipeline);
	// binaries need DWARF.
	DBPools bool `mapstructure:"db_pools"`
}

// RuntimeMetricsConfig selects Go runtime metric groups.
type RuntimeMetricsConfig struct {
	// Goroutines: goroutine counts.
	Goroutines bool `mapstructure:"goroutines"`
	// Scheduler: scheduler latency and run queue figures.
	Scheduler bool `mapstructure:"scheduler"`
	// GC: garbage collection cycles and pauses.
	GC bool `mapstructure:"gc"`
	// Allocations: heap allocation figures.
	Allocations bool `mapstructure:"allocations"`

	// TopKCreationSites bounds how many blocked-goroutine series (creation site and
	// start function) are reported per process; the rest are folded into one
	// "other" series and counted.
	TopKCreationSites int `mapstructure:"top_k_creation_sites"`
	// TopKAllocationSites bounds how many allocation sites are reported per process;
	// the rest are folded into "other" and counted.
	TopKAllocationSites int `mapstructure:"top_k_allocation_sites"`
	// LeakThreshold is the number of blocked goroutines of one creation site and
	// start function from which a group that keeps growing is reported as a
	// suspected leak (metric go.goroutine.leak.suspected and one log line naming
	// the creation site and the start function).
	LeakThreshold int64 `mapstructure:"leak_threshold"`
	// LeakWindow is how many consecutive collections a site must grow over, without
	// shrinking, to be a suspected leak.
	LeakWindow int `mapstructure:"leak_window"`
	// MaxGoroutines bounds how many goroutines are read per process per collection.
	MaxGoroutines int `mapstructure:"max_goroutines"`
	// SetMemProfileRate is refused unless 0: it used to write runtime.MemProfileRate
	// into targets whose allocation sampling is off, and this receiver never writes
	// into a target's memory. A program that wants allocation sites reported turns
	// sampling on itself (it is on by default unless the program never references
	// runtime.MemProfile; setting runtime.MemProfileRate in main is enough).
	SetMemProfileRate int64 `mapstructure:"set_mem_profile_rate"`
}

// options maps the user's settings onto the runtime collector's options.
func (r RuntimeMetricsConfig) options() runtimemetrics.Options {
	o := runtimemetrics.DefaultOptions()
	o.Goroutines, o.Scheduler, o.GC, o.Allocations = r.Goroutines, r.Scheduler, r.GC, r.Allocations
	o.TopKCreationSites = r.TopKCreationSites
	o.TopKAllocationSites = r.TopKAllocationSites
	o.LeakThreshold = r.LeakThreshold
	o.LeakWindow = r.LeakWindow
	o.MaxGoroutines = r.MaxGoroutines
	return o
}

const (
	minRingBufferSize = 4 << 10
	maxRingBufferSize = 1 << 30
)

// Validate checks the configuration; errors name the field and bad value.
func (cfg *Config) Validate() error {
	var errs []error
	if len(cfg.Discovery.Instrument) == 0 {
		errs = append(errs, errors.New("discovery.instrument: at least one selector is required"))
	}
	for i, s := range cfg.Discovery.Instrument {
		if err := s.validate(); err != nil {
			errs = append(errs, fmt.Errorf("discovery.instrument[%d]: %w", i, err))
		}
	}
	for i, s := range cfg.Discovery.Exclude {
		if err := s.validate(); err != nil {
			errs = append(errs, fmt.Errorf("discovery.exclude[%d]: %w", i, err))
		}
	}
	if cfg.Discovery.PollInterval < 100*time.Millisecond {
		errs = append(errs, fmt.Errorf("discovery.poll_interval must be at least 100ms: %s", cfg.Discovery.PollInterval))
	}
	for i, k := range cfg.Traces.HTTP.RedactQueryKeys {
		if k == "" || strings.ContainsAny(k, "&=#? ") {
			errs = append(errs, fmt.Errorf("traces.http.redact_query_keys[%d]: invalid query parameter name %q (empty, or contains one of & = # ? space)", i, k))
		}
	}
	for i, f := range cfg.Traces.Propagation.Extract {
		if f != "tracecontext" && f != "b3" {
			errs = append(errs, fmt.Errorf("traces.propagation.extract[%d]: unknown format %q (want tracecontext or b3)", i, f))
		}
	}
	if a := cfg.Traces.GoroutineAncestry; a != AncestryParent && a != AncestryDeep {
		errs = append(errs, fmt.Errorf("traces.goroutine_ancestry: unknown value %q (want %s or %s)", a, AncestryParent, AncestryDeep))
	}
	if cfg.Metrics.DBPools && !cfg.Traces.SQL.Enabled && !cfg.Traces.Redis.Enabled {
		errs = append(errs, errors.New("metrics.db_pools: true needs traces.sql.enabled: true or traces.redis.enabled: true (their probes find the pools)"))
	}
	if cfg.Traces.SQL.QueryText && !cfg.Traces.SQL.Enabled {
		errs = append(errs, errors.New("traces.sql.query_text: true needs traces.sql.enabled: true (no database/sql spans are made to carry the statement)"))
	}
	if cfg.Traces.Propagation.Inject && !cfg.Traces.HTTP.Client {
		errs = append(errs, errors.New("traces.propagation.inject: true needs traces.http.client: true (the context injected is the client span's)"))
	}
	if k := cfg.Traces.Kafka; k.Join {
		if k.JoinWait <= 0 || k.JoinWait > time.Minute {
			errs = append(errs, fmt.Errorf("traces.kafka.join_wait must be more than 0 and at most 1m: %s", k.JoinWait))
		}
		if k.JoinMaxHeldSpans < 1 {
			errs = append(errs, fmt.Errorf("traces.kafka.join_max_held_spans must be at least 1: %d", k.JoinMaxHeldSpans))
		}
	}
	if len(cfg.Traces.CaptureHeaders) > 0 {
		errs = append(errs, fmt.Errorf("traces.capture_headers: header capture is not implemented in this version: %q", cfg.Traces.CaptureHeaders))
	}
	if cfg.Metrics.CollectionInterval <= 0 {
		errs = append(errs, fmt.Errorf("metrics.collection_interval must be positive: %s", cfg.Metrics.CollectionInterval))
	}
	if r := cfg.Metrics.Runtime.SetMemProfileRate; r != 0 {
		errs = append(errs, fmt.Errorf("metrics.runtime.set_mem_profile_rate is not supported: %d (this receiver never writes into a target's memory; set runtime.MemProfileRate in the program itself to have allocation sites reported)", r))
	}
	if err := cfg.Metrics.Runtime.options().Validate(); err != nil {
		errs = append(errs, fmt.Errorf("metrics.runtime: %w", err))
	}
	if cfg.RingBufferSize < minRingBufferSize || cfg.RingBufferSize > maxRingBufferSize {
		errs = append(errs, fmt.Errorf("ring_buffer_size must be between 4KiB and 1GiB: %d bytes", int64(cfg.RingBufferSize)))
	}
	return errors.Join(errs...)
}

func (s ProcessSelector) validate() error {
	set := 0
	if s.ExePath != "" {
		set++
		if _, err := discovery.CompileGlob(s.ExePath); err != nil {
			return fmt.Errorf("exe_path: bad glob %q: %w", s.ExePath, err)
		}
	}
	if s.OpenPorts != "" {
		set++
		if _, err := discovery.ParsePortRanges(s.OpenPorts); err != nil {
			return fmt.Errorf("open_ports: %w", err)
		}
	}
	if s.PID != 0 {
		set++
		if s.PID < 0 {
			return fmt.Errorf("pid must be positive: %d", s.PID)
		}
	}
	if set != 1 {
		return fmt.Errorf("exactly one of exe_path, open_ports, pid must be set: exe_path=%q open_ports=%q pid=%d", s.ExePath, s.OpenPorts, s.PID)
	}
	return nil
}

// ByteSize is a size in bytes that unmarshals from "8MiB", "512KiB",
// "1MB", "4096" and the like.
type ByteSize int64

var byteUnits = []struct {
	suffix string
	mult   int64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30},
	{"KB", 1000}, {"MB", 1000 * 1000}, {"GB", 1000 * 1000 * 1000},
	{"B", 1},
}

// UnmarshalText parses a size with an optional binary or decimal unit.
func (b *ByteSize) UnmarshalText(text []byte) error {
	s := strings.TrimSpace(string(text))
	mult := int64(1)
	num := s
	for _, u := range byteUnits {
		if strings.HasSuffix(s, u.suffix) {
			mult = u.mult
			num = strings.TrimSpace(strings.TrimSuffix(s, u.suffix))
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 {
		return fmt.Errorf("invalid byte size %q: want a non-negative integer with an optional unit (KiB, MiB, GiB, KB, MB, GB, B)", s)
	}
	if n > (1<<62)/mult {
		return fmt.Errorf("byte size %q overflows", s)
	}
	*b = ByteSize(n * mult)
	return nil
}
