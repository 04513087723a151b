package tracer

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"unsafe"
)

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
	// Status is 0 when the handler wrote no header (net/http then sends 200)
	// or when the protocol is not HTTP/1.x (not read).
	Status uint16
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
			PID:        e.Pid,
			StartNs:    e.StartNs,
			EndNs:      e.EndNs,
			IDs:        spanIDs(e.Ids, e.HasParent),
			Method:     cString(e.Method[:], e.MethodLen),
			Path:       cString(e.Path[:], e.PathLen),
			Pattern:    cString(e.Pattern[:], e.PatternLen),
			Host:       cString(e.Host[:], e.HostLen),
			RemoteAddr: cString(e.Remote[:], e.RemoteLen),
			ProtoMajor: e.ProtoMajor,
			ProtoMinor: e.ProtoMinor,
			Status:     e.Status,
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
