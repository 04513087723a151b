package tracer

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"unsafe"
)

// StatusUnknown is ServerEvent.Status when the probe could not read it.
const StatusUnknown = 0xffff

// Event kinds, the first byte of every ring buffer record.
const (
	KindHTTPServer = 1
	KindHTTPClient = 2
)

// SpanIDs are the identifiers the probes generated or extracted.
type SpanIDs struct {
	TraceID      [16]byte
	SpanID       [8]byte
	ParentSpanID [8]byte
	// HasParent: ParentSpanID is set (from an incoming header or the
	// enclosing server span).
	HasParent bool
}

// ServerEvent is one request served by net/http.
type ServerEvent struct {
	PID        uint32
	StartNs    uint64 // CLOCK_BOOTTIME
	EndNs      uint64
	IDs        SpanIDs
	Method     string
	Path       string
	Pattern    string
	Host       string
	RemoteAddr string
	ProtoMajor uint8
	ProtoMinor uint8
	// Scheme is "https" when the request came over TLS, "http" when not,
	// "" when the binary's Request.TLS offset is unknown.
	Scheme string
	// Status is 0 when the handler wrote no header (net/http then sends
	// 200), StatusUnknown when it could not be read.
	Status uint16
	// RawQuery is the request's query string, unredacted, truncated to 64
	// bytes; empty when query capture is off.
	RawQuery string
	// Panicked: the handler panicked and net/http recovered (the
	// connection or stream was closed without a normal end).
	Panicked bool
	// PanicTypeAddr is the unrelocated address of the panic value's type
	// descriptor (goexe.Executable.TypeName names it); 0 when unknown.
	PanicTypeAddr uint64
	// PanicMessage is the panic value's text when it is a string or a
	// pointer to a struct starting with one (errors.New), truncated to 64 bytes.
	PanicMessage string
	// PanicType is PanicTypeAddr's name, filled by the receiver.
	PanicType string
}

// ClientEvent is one request made by net/http's Transport.
type ClientEvent struct {
	PID         uint32
	StartNs     uint64
	EndNs       uint64
	IDs         SpanIDs
	Method      string
	Scheme      string
	Host        string
	Path        string
	RawQuery    string
	HasResponse bool
	HasError    bool
	Status      uint16
	// HasUserInfo: the URL carries credentials (user[:password]@), which
	// are never read.
	HasUserInfo bool
}

var (
	serverEventSize = int(unsafe.Sizeof(httpHttpServerEvent{}))
	clientEventSize = int(unsafe.Sizeof(httpHttpClientEvent{}))
)

// Decode turns one ring buffer record into a *ServerEvent or *ClientEvent.
// Malformed records return an error, never a panic.
func Decode(raw []byte) (any, error) {
	if len(raw) == 0 {
		return nil, fmt.Errorf("empty event")
	}
	switch raw[0] {
	case KindHTTPServer:
		if len(raw) < serverEventSize {
			return nil, fmt.Errorf("server event too short: %d bytes, want %d", len(raw), serverEventSize)
		}
		var e httpHttpServerEvent
		if _, err := binary.Decode(raw[:serverEventSize], binary.LittleEndian, &e); err != nil {
			return nil, fmt.Errorf("decode server event: %w", err)
		}
		return &ServerEvent{
			PID:           e.Pid,
			StartNs:       e.StartNs,
			EndNs:         e.EndNs,
			IDs:           spanIDs(e.Ids, e.HasParent),
			Method:        cString(e.Method[:], e.MethodLen),
			Path:          cString(e.Path[:], e.PathLen),
			Pattern:       cString(e.Pattern[:], e.PatternLen),
			Host:          cString(e.Host[:], e.HostLen),
			RemoteAddr:    cString(e.Remote[:], e.RemoteLen),
			ProtoMajor:    e.ProtoMajor,
			ProtoMinor:    e.ProtoMinor,
			Scheme:        [...]string{0: "", 1: "http", 2: "https", 3: ""}[e.Tls&3],
			Status:        e.Status,
			RawQuery:      cString(e.Query[:], e.QueryLen),
			Panicked:      e.Panicked != 0,
			PanicTypeAddr: e.PanicType,
			PanicMessage:  cString(e.PanicMsg[:], e.PanicMsgLen),
		}, nil
	case KindHTTPClient:
		if len(raw) < clientEventSize {
			return nil, fmt.Errorf("client event too short: %d bytes, want %d", len(raw), clientEventSize)
		}
		var e httpHttpClientEvent
		if _, err := binary.Decode(raw[:clientEventSize], binary.LittleEndian, &e); err != nil {
			return nil, fmt.Errorf("decode client event: %w", err)
		}
		return &ClientEvent{
			PID:         e.Pid,
			StartNs:     e.StartNs,
			EndNs:       e.EndNs,
			IDs:         spanIDs(e.Ids, e.HasParent),
			Method:      cString(e.Method[:], e.MethodLen),
			Scheme:      cString(e.Scheme[:], e.SchemeLen),
			Host:        cString(e.Host[:], e.HostLen),
			Path:        cString(e.Path[:], e.PathLen),
			RawQuery:    cString(e.Query[:], e.QueryLen),
			HasResponse: e.HasResponse != 0,
			HasError:    e.HasError != 0,
			Status:      e.Status,
			HasUserInfo: e.HasUser != 0,
		}, nil
	default:
		return nil, fmt.Errorf("unknown event kind %d", raw[0])
	}
}

func spanIDs(ids httpSpanIds, hasParent uint8) SpanIDs {
	return SpanIDs{TraceID: ids.TraceId, SpanID: ids.SpanId, ParentSpanID: ids.ParentSpanId, HasParent: hasParent != 0}
}

// cString converts a fixed char array holding n valid bytes to a string.
func cString(b []int8, n uint16) string {
	if int(n) > len(b) {
		n = uint16(len(b))
	}
	buf := make([]byte, n)
	for i := range buf {
		buf[i] = byte(b[i])
	}
	// A NUL inside the copied bytes ends the string (a short read).
	if i := bytes.IndexByte(buf, 0); i >= 0 {
		buf = buf[:i]
	}
	return string(buf)
}
