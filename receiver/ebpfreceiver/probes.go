package ebpfreceiver

import (
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/grpcclient"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/grpcclientstream"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/grpcserver"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/h2server"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/h2xnet"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/h2xnetclient"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/httpclient"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/httpclientconn"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/httpclienth2"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/httpserver"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/kafkaconsumer"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/kafkaoffsets"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/kafkaproducer"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/redisclient"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/saramaconsumer"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/saramaproducer"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/sqlclient"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/tracer"
)

// probes maps the traces settings to the probes attached to each process
// (a probe's name, from its package, and the setting that enables it).
func (c TracesConfig) probes() tracer.Probes { return c.probesWith(c.Propagation.Inject) }

// probesWith is probes with injection on or off (off when the injector
// could not be loaded).
func (c TracesConfig) probesWith(inject bool) tracer.Probes {
	return tracer.Probes{
		httpserver.Name: c.HTTP.Server,
		// Trace context of HTTP/2 requests, for the server spans: from
		// their headers, or the client span of this host that sent them.
		h2server.Name: c.HTTP.Server && (len(c.Propagation.Extract) > 0 || c.Propagation.Stitch),
		// golang.org/x/net/http2's own server (h2c, ServeConn).
		h2xnet.Name:           c.HTTP.Server,
		httpclient.Name:       c.HTTP.Client,
		h2xnetclient.Name:     c.HTTP.Client,
		grpcserver.Name:       c.GRPC.Server,
		grpcserver.LegacyName: c.GRPC.Server,
		grpcclient.Name:       c.GRPC.Client,
		grpcclient.StreamName: c.GRPC.Client && c.GRPC.ClientStreams,
		sqlclient.Name:        c.SQL.Enabled,
		redisclient.Name:      c.Redis.Enabled,
		redisclient.V8Name:    c.Redis.Enabled,
		kafkaproducer.Name:    c.Kafka.Producer,
		kafkaconsumer.Name:    c.Kafka.Consumer,
		// Where the producer's messages were stored, for the join (and
		// the producer spans' partition and offset).
		kafkaoffsets.Name:   c.Kafka.Producer && c.Kafka.Join,
		saramaproducer.Name: c.Kafka.Producer,
		saramaconsumer.Name: c.Kafka.Consumer,
		// Stitching needs the connection only where spans are joined;
		// injection offers the client span's context for it.
		httpclientconn.Name: c.HTTP.Client && (c.HTTP.Server && c.Propagation.Stitch || inject),
		// gRPC stitching: the HTTP/2 stream of each client RPC.
		grpcclientstream.Name: c.GRPC.Client && c.GRPC.Server && c.Propagation.Stitch,
		// HTTP/2 streams are stitched, not injected into.
		httpclienth2.Name:     c.HTTP.Client && c.HTTP.Server && c.Propagation.Stitch,
		httpclienth2.XNetName: c.HTTP.Client && c.HTTP.Server && c.Propagation.Stitch,
	}
}

// anyProbe: some probe is enabled, so the BPF programs are loaded.
func (c TracesConfig) anyProbe() bool {
	for _, on := range c.probes() {
		if on {
			return true
		}
	}
	return false
}
