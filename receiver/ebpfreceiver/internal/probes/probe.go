// Package probes is the seam between the shared loader (package tracer) and
// the probes, one package per protocol side under this directory. A probe
// is data the loader acts on: the functions it instruments, the struct
// fields its BPF programs read (field IDs), how it decodes its events and
// turns them into spans. The registry (package registry) lists the probes;
// their BPF programs are in bpf/probes/<name>.c, compiled into one object
// with the shared headers (package bpfprog).
//
// Adding a protocol side is a new package here, a new C file in bpf/probes,
// one registry line and the field IDs it reads (package fields).
package probes

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"unsafe"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/bpfprog"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/fields"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/goexe"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/httpspan"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/sqlconnector"
)

// Probe describes one probe to the loader.
type Probe struct {
	// Name identifies the probe in selections, errors and logs ("http_server").
	Name string
	// Uprobes are the functions the probe instruments.
	Uprobes []Uprobe
	// Fields must all be known, or the probe is not attached to the binary
	// (its programs would read at wrong addresses).
	Fields []fields.ID
	// OptionalFields are groups of fields the programs read when known; a
	// group is filled entirely or left Unknown (the programs test it).
	OptionalFields [][]fields.ID
	// RuleFields are taken from DWARF when it has them all, else Complete
	// must set them (a rule of the probe for the library versions it
	// knows); the probe is left out when one is still unknown after
	// Complete, rather than attached to programs that cannot use it.
	RuleFields []fields.ID
	// Complete runs once the probe's fields and functions are resolved, for
	// what a rule of the probe derives (a field from a neighbour, an address).
	Complete func(exe *goexe.Executable, off *Offsets)
	// StartsSpans: the probe records the span it opens as the goroutine's
	// current span (goroutines.h set_goroutine_span). JoinsSpans: it makes
	// its span a child of the goroutine's current span (inherit_span).
	StartsSpans, JoinsSpans bool
	// CarriesSpans: the probe only carries span context between goroutines.
	// It is attached only where a probe that starts spans and one that joins
	// them are attached, and not when every field of NeedlessWith is known
	// (which lets the joining probe find the parent itself).
	CarriesSpans bool
	NeedlessWith []fields.ID
	// GoroutineMaps are the probe's BPF maps keyed by struct goroutine_key:
	// state of a process is deleted from them when it exits.
	GoroutineMaps []string
	// Constants gives the probe's BPF constants (volatile const, set
	// before load) from the receiver's settings, by variable name.
	Constants func(Settings) map[string]any
	// Kind is the event kind of the probe's events (0: it sends none), and
	// Decode turns one ring buffer record of that kind into an Event.
	Kind   bpfprog.GoebpfEventKind
	Decode func(raw []byte) (Event, error)
}

// Settings are the receiver settings probes turn into constants of their
// BPF programs.
type Settings struct {
	// CaptureQuery: server spans carry the request's query string
	// (traces.http.capture_query).
	CaptureQuery bool
	// Stitch: server spans join a client span of this host on the same
	// connection (traces.propagation.stitch).
	Stitch bool
	// SQLPools: the sql probe notes the *sql.DB of every call for the pool
	// metrics (metrics.db_pools).
	SQLPools bool
	// KafkaOffsets: the kafka-go producer probe notes each message's span
	// for the kafkaoffsets probe (traces.kafka.join).
	KafkaOffsets bool
}

// Uprobe is one function a probe instruments.
type Uprobe struct {
	// Symbol is the function ("net/http.serverHandler.ServeHTTP").
	Symbol string
	// Entry is the BPF program run at the function's entry ("" for none).
	Entry string
	// Return is the BPF program run at every RET instruction of the
	// function, or, with CallsOf, at every call of CallsOf inside it.
	Return  string
	CallsOf string
	// SingleCall, with CallsOf, requires exactly one call of CallsOf in
	// Symbol: with none or several the uprobe is not resolved (and its
	// Fallback, if any, is used), as the program relies on that one
	// call's arguments.
	SingleCall bool
	// Fallback is resolved in place of this uprobe in a binary where this
	// one cannot be (function or call site not found, SingleCall not
	// met); the resolver reports why, once per binary. Its Fallback is
	// ignored.
	Fallback *Uprobe
	// Optional names a group of uprobes that are attached all together or
	// not at all, when every one of them is found; "" means required: the
	// probe is not attached to a binary without the function.
	Optional string
	// WrapperOf makes Symbol a method value's wrapper ("pkg.(*T).m-fm") of
	// the function named here: it is probed only where it does not call
	// that function (the compiler inlined it into the wrapper, or left it
	// out of the binary), so a call through the wrapper is seen once. A
	// probe whose uprobes are all Optional needs at least one of them.
	WrapperOf string
}

// Offsets is what the BPF programs read about one binary: struct field
// offsets by field ID and addresses (struct go_offsets).
type Offsets struct {
	Fields fields.Table
	// GopanicVaddr is runtime.gopanic's unrelocated entry address: the
	// panic probe subtracts the load bias from the panic value's type.
	GopanicVaddr uint64
}

// BPF is the offsets as the programs' map value.
func (o Offsets) BPF() bpfprog.GoebpfGoOffsets {
	return bpfprog.GoebpfGoOffsets{Field: o.Fields, GopanicVaddr: o.GopanicVaddr}
}

// Event is one decoded ring buffer record.
type Event interface {
	// Process is the pid of the process the event comes from.
	Process() uint32
	// AppendSpan adds the event's span to ss.
	AppendSpan(ss ptrace.ScopeSpans, env SpanEnv)
}

// SpanEnv is what turning events into spans needs besides the event.
type SpanEnv struct {
	Clock httpspan.Clock
	// Redactor redacts query strings (nil: the default sensitive keys).
	Redactor *httpspan.Redactor
	// TypeName names the Go type at an unrelocated address in a process's
	// executable ("" when unknown); nil: types stay unnamed.
	TypeName func(pid uint32, addr uint64) string
	// SQLQueryText: database spans carry the sanitized statement as
	// db.query.text (traces.sql.query_text).
	SQLQueryText bool
	// SQLServer says which server the *sql.DB at db of a process talks to
	// (nil: not known).
	SQLServer func(pid uint32, db uint64) sqlconnector.Server
}

// SpanIDs are the identifiers the probes generated or extracted.
type SpanIDs struct {
	TraceID      [16]byte
	SpanID       [8]byte
	ParentSpanID [8]byte
	// HasParent: ParentSpanID is set (from an incoming header or the
	// enclosing server span).
	HasParent bool
}

// SetIDs sets a span's trace, span and parent span ids.
func SetIDs(s ptrace.Span, ids SpanIDs) {
	s.SetTraceID(pcommon.TraceID(ids.TraceID))
	s.SetSpanID(pcommon.SpanID(ids.SpanID))
	if ids.HasParent {
		s.SetParentSpanID(pcommon.SpanID(ids.ParentSpanID))
	}
}

// Header is the decoded struct event_header every event starts with.
type Header struct {
	Kind    bpfprog.GoebpfEventKind
	PID     uint32
	StartNs uint64 // CLOCK_BOOTTIME
	EndNs   uint64
	IDs     SpanIDs
}

// HeaderOf converts a generated event header.
func HeaderOf(h bpfprog.GoebpfEventHeader) Header {
	return Header{
		Kind:    bpfprog.GoebpfEventKind(h.Kind),
		PID:     h.Pid,
		StartNs: h.StartNs,
		EndNs:   h.EndNs,
		IDs:     SpanIDs{TraceID: h.Ids.TraceId, SpanID: h.Ids.SpanId, ParentSpanID: h.Ids.ParentSpanId, HasParent: h.HasParent != 0},
	}
}

// littleEndian: the host stores integers as the ring buffer's records do
// (BPF programs run in the host's byte order), so a record is its struct's
// bytes.
var littleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// DecodeRecord decodes raw into the generated event struct *dst, whose
// size it checks first; name is for errors ("server event").
//
// The generated structs (bpf2go, structs.HostLayout) have the C layout and
// hold only integers and arrays of them, so on a little-endian host the
// record is copied as it is: one memmove instead of encoding/binary's
// reflection over every array element (most of the receiver's CPU per span
// before). TestDecodeRecordMatchesBinary checks both give the same struct.
func DecodeRecord[T any](raw []byte, dst *T, name string) error {
	size := int(unsafe.Sizeof(*dst))
	if len(raw) < size {
		return fmt.Errorf("%s too short: %d bytes, want %d", name, len(raw), size)
	}
	if !littleEndian {
		if _, err := binary.Decode(raw[:size], binary.LittleEndian, dst); err != nil {
			return fmt.Errorf("decode %s: %w", name, err)
		}
		return nil
	}
	copy(unsafe.Slice((*byte)(unsafe.Pointer(dst)), size), raw)
	return nil
}

// CString converts a fixed char array holding n valid bytes to a string.
// A NUL inside the first n bytes ends the string (a short read).
func CString(b []int8, n uint16) string {
	return string(cBytes(b, n)) // a copy: the record's memory is reused
}

// CField is a fixed char array and its count of valid bytes, for CStrings.
type CField struct {
	B []int8
	N uint16
}

// maxCStrings bounds CStrings' fields (its scratch stays on the stack).
const maxCStrings = 8

// CStrings sets *dst[i] to CString(src[i].B, src[i].N) for each i, the
// non-empty ones backed by a single allocation instead of one each: the
// strings of one record live and die together (they end up in the same
// span). More than maxCStrings fields, or len(dst) != len(src), panics.
func CStrings(dst []*string, src []CField) {
	if len(dst) != len(src) || len(src) > maxCStrings {
		panic("probes.CStrings: bad field count")
	}
	var raws [maxCStrings][]byte
	total := 0
	for i, f := range src {
		raws[i] = cBytes(f.B, f.N)
		total += len(raws[i])
	}
	if total == 0 {
		for _, d := range dst {
			*d = ""
		}
		return
	}
	buf := make([]byte, total) // a copy: the record's memory is reused
	off := 0
	for i, raw := range raws[:len(src)] {
		if len(raw) == 0 {
			*dst[i] = ""
			continue
		}
		copy(buf[off:], raw)
		*dst[i] = unsafe.String(&buf[off], len(raw))
		off += len(raw)
	}
}

// CStringOf is CString, but returns the entry of common the bytes equal,
// when one does, instead of a new string: values most events repeat (HTTP
// methods, URL schemes) cost no allocation.
func CStringOf(b []int8, n uint16, common []string) string {
	raw := cBytes(b, n)
	for _, c := range common {
		if string(raw) == c {
			return c
		}
	}
	return string(raw)
}

// HTTPMethods and URLSchemes are the common values of CStringOf.
var (
	HTTPMethods = []string{"GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "CONNECT", "TRACE"}
	URLSchemes  = []string{"http", "https"}
)

// cBytes is the first n bytes of b (at most len(b)), up to a NUL.
func cBytes(b []int8, n uint16) []byte {
	if int(n) > len(b) {
		n = uint16(len(b))
	}
	if n == 0 {
		return nil
	}
	raw := unsafe.Slice((*byte)(unsafe.Pointer(&b[0])), n)
	if i := bytes.IndexByte(raw, 0); i >= 0 {
		raw = raw[:i]
	}
	return raw
}
