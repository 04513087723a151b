package tracediff

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// spanRecord is what tracediff keeps of a span: its identity and the fields
// it compares, each as a name and a canonical string value.
type spanRecord struct {
	trace  pcommon.TraceID
	span   pcommon.SpanID
	fields []field
}

type field struct{ name, value string }

// recordsOf flattens a batch into span records, resource and scope fields
// included in every span's fields (a batch may group spans differently on
// the two sides).
func recordsOf(td ptrace.Traces, ignore func(string) bool, fn func(*spanRecord) error) error {
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		rs := rss.At(i)
		var res []field
		rs.Resource().Attributes().Range(func(k string, v pcommon.Value) bool {
			res = append(res, field{"resource." + k, v.AsString()})
			return true
		})
		sss := rs.ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			ss := sss.At(j)
			scope := []field{{"scope.name", ss.Scope().Name()}, {"scope.version", ss.Scope().Version()}}
			ss.Scope().Attributes().Range(func(k string, v pcommon.Value) bool {
				scope = append(scope, field{"scope." + k, v.AsString()})
				return true
			})
			spans := ss.Spans()
			for k := 0; k < spans.Len(); k++ {
				s := spans.At(k)
				r := &spanRecord{trace: s.TraceID(), span: s.SpanID()}
				add := func(name, value string) {
					if !ignore(name) {
						r.fields = append(r.fields, field{name, value})
					}
				}
				for _, f := range res {
					add(f.name, f.value)
				}
				for _, f := range scope {
					add(f.name, f.value)
				}
				add("name", s.Name())
				add("kind", s.Kind().String())
				add("parent_span_id", s.ParentSpanID().String())
				add("trace_state", s.TraceState().AsRaw())
				add("start_time", strconv.FormatUint(uint64(s.StartTimestamp()), 10))
				add("end_time", strconv.FormatUint(uint64(s.EndTimestamp()), 10))
				add("status.code", s.Status().Code().String())
				add("status.message", s.Status().Message())
				add("events", strconv.Itoa(s.Events().Len()))
				add("links", strconv.Itoa(s.Links().Len()))
				s.Attributes().Range(func(k string, v pcommon.Value) bool {
					add("attributes."+k, v.AsString())
					return true
				})
				sort.Slice(r.fields, func(a, b int) bool { return r.fields[a].name < r.fields[b].name })
				if err := fn(r); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// writeRecord appends a record to a bucket file: side, ids, then the fields
// as length-prefixed strings.
func writeRecord(w *bufio.Writer, side byte, r *spanRecord) error {
	var tmp [binary.MaxVarintLen64]byte
	w.WriteByte(side)
	w.Write(r.trace[:])
	w.Write(r.span[:])
	w.Write(tmp[:binary.PutUvarint(tmp[:], uint64(len(r.fields)))])
	for _, f := range r.fields {
		w.Write(tmp[:binary.PutUvarint(tmp[:], uint64(len(f.name)))])
		w.WriteString(f.name)
		w.Write(tmp[:binary.PutUvarint(tmp[:], uint64(len(f.value)))])
		if _, err := w.WriteString(f.value); err != nil {
			return err
		}
	}
	return nil
}

// readRecord reads what writeRecord wrote; io.EOF at a record boundary.
func readRecord(r *bufio.Reader) (byte, *spanRecord, error) {
	side, err := r.ReadByte()
	if err != nil {
		return 0, nil, err
	}
	rec := &spanRecord{}
	if _, err := io.ReadFull(r, rec.trace[:]); err != nil {
		return 0, nil, corrupt(err)
	}
	if _, err := io.ReadFull(r, rec.span[:]); err != nil {
		return 0, nil, corrupt(err)
	}
	n, err := binary.ReadUvarint(r)
	if err != nil {
		return 0, nil, corrupt(err)
	}
	str := func() (string, error) {
		l, err := binary.ReadUvarint(r)
		if err != nil {
			return "", err
		}
		b := make([]byte, l)
		_, err = io.ReadFull(r, b)
		return string(b), err
	}
	rec.fields = make([]field, n)
	for i := range rec.fields {
		if rec.fields[i].name, err = str(); err != nil {
			return 0, nil, corrupt(err)
		}
		if rec.fields[i].value, err = str(); err != nil {
			return 0, nil, corrupt(err)
		}
	}
	return side, rec, nil
}

func corrupt(err error) error {
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("bucket file: %w", err)
}
