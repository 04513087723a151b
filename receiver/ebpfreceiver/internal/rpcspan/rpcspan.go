// Package rpcspan holds what the gRPC probes share when they turn events
// into spans: the RPC semantic-convention attributes, span names from a
// full method name, and the status rules of each side.
package rpcspan

import (
	"net"
	"strconv"
	"strings"

	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/bpfprog"
)

// Attribute keys (OpenTelemetry semantic conventions, RPC spans).
const (
	AttrSystem         = "rpc.system"
	AttrService        = "rpc.service"
	AttrMethod         = "rpc.method"
	AttrGRPCStatusCode = "rpc.grpc.status_code"
	AttrErrorType      = "error.type"
	SystemGRPC         = "grpc"
)

// CodeUnread is a status code the probe could not read: bpf2go's constant
// of bpf/common/grpc.h's GRPC_CODE_UNKNOWN_READ.
const CodeUnread = uint32(bpfprog.GoebpfGrpcCodeGRPC_CODE_UNKNOWN_READ)

// codeNames are the gRPC status codes' names (google.golang.org/grpc/codes).
var codeNames = [...]string{
	"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
	"ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
	"ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS",
	"UNAUTHENTICATED",
}

// CodeName is a status code's name ("NOT_FOUND"), or its number for a code
// outside the 17 gRPC defines.
func CodeName(code uint32) string {
	if int(code) < len(codeNames) {
		return codeNames[code]
	}
	return strconv.FormatUint(uint64(code), 10)
}

// ServerError: the codes that make a SERVER span an error (the semantic
// conventions: the server's own fault, not the caller's).
func ServerError(code uint32) bool {
	switch code {
	case 2, 4, 12, 13, 14, 15: // UNKNOWN, DEADLINE_EXCEEDED, UNIMPLEMENTED, INTERNAL, UNAVAILABLE, DATA_LOSS
		return true
	}
	return false
}

// SplitMethod splits a full method name "/pkg.Service/Method" into service
// and method; ok is false when it is not of that form.
func SplitMethod(full string) (service, method string, ok bool) {
	rest, found := strings.CutPrefix(full, "/")
	if !found {
		return "", "", false
	}
	i := strings.LastIndexByte(rest, '/')
	if i <= 0 || i == len(rest)-1 {
		return "", "", false
	}
	return rest[:i], rest[i+1:], true
}

// Start names the span after the RPC and sets the rpc.* attributes but the
// status code. A malformed method name stays the name, unsplit.
func Start(s ptrace.Span, fullMethod string) {
	attrs := s.Attributes()
	attrs.PutStr(AttrSystem, SystemGRPC)
	if svc, m, ok := SplitMethod(fullMethod); ok {
		s.SetName(svc + "/" + m)
		attrs.PutStr(AttrService, svc)
		attrs.PutStr(AttrMethod, m)
		return
	}
	if fullMethod == "" {
		fullMethod = "grpc"
	}
	s.SetName(fullMethod)
}

// SetStatus records the status code and, when isError says it is one for
// this side, the span's Error status and error.type.
func SetStatus(s ptrace.Span, code uint32, isError func(uint32) bool) {
	if code == CodeUnread {
		return
	}
	s.Attributes().PutInt(AttrGRPCStatusCode, int64(code))
	if isError(code) {
		s.Status().SetCode(ptrace.StatusCodeError)
		s.Status().SetMessage(CodeName(code))
		s.Attributes().PutStr(AttrErrorType, CodeName(code))
	}
}

// ClientError: on the client every non-OK code is an error.
func ClientError(code uint32) bool { return code != 0 }

// TargetAddress returns the host and port a grpc-go client target names
// ("127.0.0.1:50051", "dns:///orders.svc:443", "passthrough:///h:1");
// ok is false for a target without a network address (unix sockets).
func TargetAddress(target string) (host string, port uint16, ok bool) {
	if scheme, rest, found := strings.Cut(target, "://"); found {
		if scheme == "unix" || scheme == "unix-abstract" {
			return "", 0, false
		}
		// "//authority/endpoint": the endpoint is after the authority.
		if i := strings.IndexByte(rest, '/'); i >= 0 {
			rest = rest[i+1:]
		}
		target = rest
	} else if strings.HasPrefix(target, "unix:") {
		return "", 0, false
	}
	if target == "" {
		return "", 0, false
	}
	h, p, err := net.SplitHostPort(target)
	if err != nil {
		return strings.Trim(target, "[]"), 0, true
	}
	n, err := strconv.ParseUint(p, 10, 16)
	if err != nil {
		return h, 0, true
	}
	return h, uint16(n), true
}
