package ebpfreceiver

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"
	"time"

	"github.com/cilium/ebpf"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/receiver"
	"go.uber.org/zap"

	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/dbpools"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/discovery"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/goexe"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/httpspan"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/kafkajoin"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/metadata"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/sqlconnector"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/tracer"
)

type ebpfReceiver struct {
	cfg     *Config
	set     receiver.Settings
	tel     *metadata.TelemetryBuilder
	traces  consumer.Traces
	metrics consumer.Metrics
	runtime RuntimeCollector // nil unless a metrics pipeline lists the receiver
	inspect inspectFunc
	scanner discovery.Scanner
	matcher discovery.Matcher
	tracker *discovery.Tracker
	host    string

	tracer *tracer.Tracer
	// injection is nil unless traces.propagation.inject is on and the
	// injector loaded.
	injection *injection
	cancel    context.CancelFunc
	wg        sync.WaitGroup

	// Owned by the discovery goroutine.
	binaries map[fileID]*binaryState
	procs    map[discovery.Key]*instrumentedProcess

	resMu sync.Mutex
	// resources by pid; a process's entry outlives it by one poll so that
	// its last events still get a resource.
	resources map[uint32]httpspan.Resource
	// exes by pid, with resources: names the type of a panic value.
	exes map[uint32]*goexe.Executable
	// dbpools reads database/sql pools (metrics.db_pools); nil when off.
	dbpools *dbpools.Collector
	// sqlServers names the servers of database/sql pools (traces.sql or
	// metrics.db_pools); nil when both are off.
	sqlServers *sqlconnector.Cache
	typeNames  map[panicTypeKey]string
	exited     []uint32

	redactor *httpspan.Redactor
	// join continues producer traces in Kafka consumer spans
	// (traces.kafka.join); nil when off. Owned by the drain loop.
	join *kafkajoin.Joiner

	lastDrops uint64
	// lastGRPCMetadata: the gRPC server probe's metadata counters when
	// last recorded.
	lastGRPCMetadata tracer.GRPCMetadataCounts
}

func newReceiver(cfg *Config, set receiver.Settings) (*ebpfReceiver, error) {
	tel, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, fmt.Errorf("create telemetry: %w", err)
	}
	m, err := buildMatcher(cfg.Discovery)
	if err != nil {
		return nil, err
	}
	host, _ := os.Hostname()
	return &ebpfReceiver{
		cfg:       cfg,
		set:       set,
		tel:       tel,
		inspect:   goexeInspector{cache: goexe.NewCache()}.inspect,
		scanner:   discovery.Scanner{Root: "/proc", Self: os.Getpid()},
		matcher:   m,
		tracker:   discovery.NewTracker(),
		host:      host,
		binaries:  map[fileID]*binaryState{},
		procs:     map[discovery.Key]*instrumentedProcess{},
		resources: map[uint32]httpspan.Resource{},
		exes:      map[uint32]*goexe.Executable{},
		typeNames: map[panicTypeKey]string{},
		redactor:  httpspan.NewRedactor(cfg.Traces.HTTP.RedactQueryKeys),
	}, nil
}

func buildMatcher(d DiscoveryConfig) (discovery.Matcher, error) {
	conv := func(list []ProcessSelector, field string) ([]discovery.Selector, error) {
		var out []discovery.Selector
		for i, s := range list {
			var sel discovery.Selector
			var err error
			switch {
			case s.ExePath != "":
				sel, err = discovery.NewExeSelector(s.ExePath)
			case s.OpenPorts != "":
				sel, err = discovery.NewPortSelector(s.OpenPorts)
			default:
				sel = discovery.NewPIDSelector(s.PID)
			}
			if err != nil {
				return nil, fmt.Errorf("discovery.%s[%d]: %w", field, i, err)
			}
			out = append(out, sel)
		}
		return out, nil
	}
	inst, err := conv(d.Instrument, "instrument")
	if err != nil {
		return discovery.Matcher{}, err
	}
	excl, err := conv(d.Exclude, "exclude")
	if err != nil {
		return discovery.Matcher{}, err
	}
	return discovery.Matcher{Instrument: inst, Exclude: excl}, nil
}

func (r *ebpfReceiver) Start(_ context.Context, _ component.Host) error {
	if runtime.GOARCH != "amd64" {
		return fmt.Errorf("ebpf receiver supports linux/amd64 only, not %s", runtime.GOARCH)
	}
	if err := checkCapabilities(); err != nil {
		return err
	}
	if r.traces != nil && r.cfg.Traces.anyProbe() {
		var pending, appContexts, liveConns *ebpf.Map
		if r.cfg.Traces.Propagation.Inject && r.cfg.Traces.HTTP.Client {
			r.injection = r.openInjection()
			if r.injection != nil {
				pending, appContexts, liveConns = r.injection.in.PendingMap(), r.injection.in.AppContextMap(), r.injection.in.LiveConnsMap()
			}
		}
		opts := tracerOptions(r.cfg, r.metrics != nil)
		opts.InjectPending, opts.InjectAppContexts, opts.InjectLiveConns = pending, appContexts, liveConns
		tr, err := tracer.New(opts)
		if err != nil {
			_ = r.injection.close()
			r.injection = nil
			return fmt.Errorf("ebpf receiver: %w", err)
		}
		r.tracer = tr
		if r.cfg.Traces.Kafka.joins() {
			jc := kafkajoin.DefaultConfig(r.cfg.Traces.Kafka.JoinWait)
			jc.MaxHeldSpans = r.cfg.Traces.Kafka.JoinMaxHeldSpans
			r.join = kafkajoin.New(jc)
		}
	}
	if r.tracer != nil && r.cfg.Traces.SQL.Enabled {
		r.sqlServers = sqlconnector.NewCache(r.openSQLProcess)
	}
	if r.metrics != nil {
		rc, err := newRuntimeCollector(r.cfg.Metrics, r.set.Logger)
		if err != nil {
			if r.tracer != nil {
				_ = r.tracer.Close()
			}
			_ = r.injection.close()
			r.injection = nil
			return fmt.Errorf("ebpf receiver: runtime metrics: %w", err)
		}
		r.runtime = rc
		if r.cfg.Metrics.DBPools && r.tracer != nil {
			r.dbpools = dbpools.NewCollector(time.Now())
			r.dbpools.RedisLayoutUnknown = func(exe string, err error) {
				r.set.Logger.Warn("No Redis pool metrics for executable: go-redis pool layout unknown", zap.String("path", exe), zap.Error(err))
			}
			r.dbpools.SQLLayoutUnknown = func(exe string, err error) {
				r.set.Logger.Warn("No database/sql pool metrics for executable: sql.DB layout unknown", zap.String("path", exe), zap.Error(err))
			}
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	if r.runtime != nil {
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			r.metricsLoop(ctx)
		}()
	}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		r.discoverLoop(ctx)
	}()
	if r.tracer != nil {
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			r.drainLoop(ctx)
		}()
	}
	return nil
}

// tracerOptions maps the configuration to the tracer's options (without
// the injection maps, which Start opens); metrics says whether the receiver
// also produces metrics.
func tracerOptions(cfg *Config, metrics bool) tracer.Options {
	return tracer.Options{
		RingBufferSize:      int(cfg.RingBufferSize),
		ExtractTraceContext: contains(cfg.Traces.Propagation.Extract, "tracecontext"),
		ExtractB3:           contains(cfg.Traces.Propagation.Extract, "b3"),
		CaptureQuery:        cfg.Traces.HTTP.CaptureQuery,
		Stitch:              cfg.Traces.Propagation.Stitch,
		DeepGoroutines:      cfg.Traces.GoroutineAncestry == AncestryDeep,
		SQLPools:            cfg.Metrics.DBPools && metrics,
		KafkaOffsets:        cfg.Traces.Kafka.Producer && cfg.Traces.Kafka.Join,
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func (r *ebpfReceiver) Shutdown(ctx context.Context) error {
	if r.cancel == nil {
		r.tel.Shutdown()
		return nil
	}
	r.cancel()
	// A drain in progress returns within drainInterval; the programs stay
	// loaded until every link is closed below.
	done := make(chan struct{})
	go func() {
		r.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		return fmt.Errorf("ebpf receiver shutdown: %w", ctx.Err())
	}
	var errs []error
	for k := range r.procs {
		errs = append(errs, r.detach(k))
	}
	if r.runtime != nil {
		errs = append(errs, r.runtime.Close())
	}
	if r.tracer != nil {
		errs = append(errs, r.tracer.Close())
	}
	errs = append(errs, r.injection.close())
	r.tel.Shutdown()
	return errors.Join(errs...)
}
