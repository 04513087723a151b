package ebpfreceiver

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/metadata"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/metadatatest"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/grpcclient"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/grpcclientstream"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/grpcserver"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/h2server"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/httpclient"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/httpclientconn"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/httpclienth2"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/httpserver"
)

func TestStitchOutcomesCounted(t *testing.T) {
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	tb, err := metadata.NewTelemetryBuilder(tel.NewTelemetrySettings())
	require.NoError(t, err)
	r := &ebpfReceiver{tel: tb}
	var counts drainCounts
	for _, ev := range []any{
		&httpserver.Event{Stitch: probes.StitchMatched},
		&httpserver.Event{Stitch: probes.StitchMatched},
		&httpserver.Event{Stitch: probes.StitchUnmatched},
		&httpserver.Event{Stitch: probes.StitchNone},
		&httpclient.Event{Stitch: probes.StitchMatched}, // counted on the server side
		&httpclient.Event{Stitch: probes.StitchUnmatched},
		&httpclient.Event{Stitch: probes.StitchUnmatched},
		&httpclient.Event{Stitch: probes.StitchUnmatched},
		&grpcserver.Event{Stitch: probes.StitchLate},    // joined late: both counters
		&grpcserver.Event{Stitch: probes.StitchMatched}, // gRPC counts like HTTP/1
		&grpcserver.Event{Stitch: probes.StitchUnmatched},
		"not an event",
	} {
		counts.stitch(ev)
	}
	r.recordCounts(context.Background(), &counts)
	ignore := metricdatatest.IgnoreTimestamp()
	metadatatest.AssertEqualReceiverEbpfSpansStitched(t, tel, []metricdata.DataPoint[int64]{{Value: 4}}, ignore)
	metadatatest.AssertEqualReceiverEbpfSpansStitchedLate(t, tel, []metricdata.DataPoint[int64]{{Value: 1}}, ignore)
	metadatatest.AssertEqualReceiverEbpfSpansUnstitched(t, tel, []metricdata.DataPoint[int64]{
		{Value: 2, Attributes: attribute.NewSet(attribute.String("side", "server"))},
		{Value: 3, Attributes: attribute.NewSet(attribute.String("side", "client"))},
	}, ignore)
}

// The client-side stitching probe is attached only when its spans can be
// joined: both HTTP sides traced and propagation.stitch on.
func TestStitchProbeSelection(t *testing.T) {
	for _, tc := range []struct {
		server, client, stitch, want bool
	}{
		{true, true, true, true},
		{true, true, false, false},
		{false, true, true, false},
		{true, false, true, false},
	} {
		c := TracesConfig{HTTP: HTTPConfig{ProtocolConfig: ProtocolConfig{Server: tc.server, Client: tc.client}}, Propagation: PropagationConfig{Stitch: tc.stitch}}
		assert.Equal(t, tc.want, c.probes()[httpclientconn.Name], "server=%t client=%t stitch=%t", tc.server, tc.client, tc.stitch)
		// HTTP/2 streams: the same rule for both HTTP/2 clients' probes.
		assert.Equal(t, tc.want, c.probes()[httpclienth2.Name], "h2: server=%t client=%t stitch=%t", tc.server, tc.client, tc.stitch)
		assert.Equal(t, tc.want, c.probes()[httpclienth2.XNetName], "x/net h2: server=%t client=%t stitch=%t", tc.server, tc.client, tc.stitch)
	}
}

// The h2_server probe runs where HTTP/2 streams take a parent: from their
// headers (propagation.extract) or by stitching.
func TestH2ServerProbeSelection(t *testing.T) {
	for _, tc := range []struct {
		extract []string
		stitch  bool
		want    bool
	}{
		{[]string{"tracecontext"}, false, true},
		{nil, true, true},
		{nil, false, false},
	} {
		c := TracesConfig{HTTP: HTTPConfig{ProtocolConfig: ProtocolConfig{Server: true, Client: true}}, Propagation: PropagationConfig{Extract: tc.extract, Stitch: tc.stitch}}
		assert.Equal(t, tc.want, c.probes()[h2server.Name], "extract=%v stitch=%t", tc.extract, tc.stitch)
	}
}

// The gRPC client's streaming probe (whose finish probe unary RPCs pass
// too) is attached only with grpc.client and grpc.client_streams; unary
// spans and stitching do not depend on it.
func TestGRPCClientStreamsSelection(t *testing.T) {
	for _, tc := range []struct {
		client, streams bool
	}{
		{true, true},
		{true, false},
		{false, true},
	} {
		c := TracesConfig{GRPC: GRPCConfig{ProtocolConfig: ProtocolConfig{Server: true, Client: tc.client}, ClientStreams: tc.streams}, Propagation: PropagationConfig{Stitch: true}}
		p := c.probes()
		assert.Equal(t, tc.client && tc.streams, p[grpcclient.StreamName], "client=%t client_streams=%t", tc.client, tc.streams)
		assert.Equal(t, tc.client, p[grpcclient.Name], "client=%t client_streams=%t", tc.client, tc.streams)
		assert.Equal(t, tc.client, p[grpcclientstream.Name], "client=%t client_streams=%t", tc.client, tc.streams)
	}
}
