// Package grpcclientstream is the client side of gRPC stitching
// (bpf/probes/grpc_client_stream.c): it records the span of each unary RPC
// a grpc-go client makes under the TCP 4-tuple of its connection and the
// HTTP/2 id of its stream, so that the gRPC server probe of a process on
// the same host, serving that stream, makes the client span its parent and
// joins its trace (bpf/common/grpc_stitch.h). It sends no events: the
// client and server probes report the outcome on their spans' events.
package grpcclientstream

import (
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/fields"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/goexe"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes"
)

// Name is the probe's name in selections and errors.
const Name = "grpc_client_stream"

// FuncNewStream is the probed function: the HTTP/2 transport's, on the
// caller's goroutine, which gives the stream its id before the stream's
// HEADERS frame can be written.
const FuncNewStream = "google.golang.org/grpc/internal/transport.(*http2Client).NewStream"

// ProgStream is the BPF program at its RETs.
const ProgStream = "uprobe_grpc_client_stream"

// Probe describes the probe to the loader.
//
// Hits per unary RPC: 1 (one RET of NewStream per stream attempt: a
// transparently retried RPC has one per attempt).
var Probe = &probes.Probe{
	Name:    Name,
	Uprobes: []probes.Uprobe{{Symbol: FuncNewStream, Return: ProgStream}},
	Fields: []fields.ID{
		fields.GRPCStreamID, fields.GRPCHTTP2ClientLocalAddr, fields.GRPCHTTP2ClientRemoteAddr,
		fields.TCPAddrIP, fields.TCPAddrPort,
	},
	OptionalFields: [][]fields.ID{
		// Before v1.69: the stream is a *Stream with the transport in ct
		// (ctx follows it: the rule tells a pointer from an interface).
		{fields.GRPCStreamCt, fields.GRPCStreamCtx},
		// v1.69 on: a *ClientStream embedding the Stream, with ct.
		{fields.GRPCClientStreamStream, fields.GRPCClientStreamCt},
	},
	Complete: streamEmbedding,
}

// streamEmbedding: where the stream's id and transport are. Before v1.69
// NewStream returns a *Stream, see below. From v1.69 it returns a
// *ClientStream: v1.69-v1.76 embed *Stream in it, v1.77 on embed Stream by
// value; the field's offset is the same (0) either way.
// ClientStream.ct follows it: right after a pointer (8 bytes on), or after
// the whole struct. For a pointer the offset is copied to the
// GRPCClientStreamStreamPtr entry, which the program checks first and
// dereferences. Without either group the program records nothing (no
// stitching, never a guess).
func streamEmbedding(_ *goexe.Executable, off *probes.Offsets) {
	t := &off.Fields
	// Stream.ct is a *http2Client before v1.66 and a ClientTransport
	// interface (its data word the *http2Client) in v1.66-v1.68; the field
	// after it, ctx, tells which.
	if t.Known(fields.GRPCStreamCt, fields.GRPCStreamCtx) {
		switch t[fields.GRPCStreamCtx] - t[fields.GRPCStreamCt] {
		case 8:
			t[fields.GRPCStreamCtPtr] = t[fields.GRPCStreamCt]
		case 16:
			t[fields.GRPCStreamCtPtr] = t[fields.GRPCStreamCt] + 8
		}
	}
	if !t.Known(fields.GRPCClientStreamStream, fields.GRPCClientStreamCt) {
		return
	}
	if t[fields.GRPCClientStreamCt] == t[fields.GRPCClientStreamStream]+8 {
		t[fields.GRPCClientStreamStreamPtr] = t[fields.GRPCClientStreamStream]
	}
}
