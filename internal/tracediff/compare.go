// Package tracediff compares two OTLP trace exports (what the collector's
// file exporter writes) trace by trace and span by span: traces and spans
// present on one side only, spans written more than once, and spans whose
// fields (attributes, resource, name, times, status, ...) differ. Files
// larger than memory are handled by first partitioning both into bucket
// files by trace ID, then comparing one bucket at a time.
package tracediff

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"slices"
	"sort"
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// Options tune a comparison.
type Options struct {
	// Ignore lists field names or path.Match patterns to leave out of the
	// comparison, e.g. "attributes.tailsampling.*" or "resource.host.name".
	// Field names: name, kind, parent_span_id, trace_state, start_time,
	// end_time, status.code, status.message, events, links, scope.name,
	// scope.version, attributes.<key>, resource.<key>, scope.<key>.
	Ignore []string
	// MemoryBudget is roughly how many bytes of span records one bucket may
	// hold in memory; the inputs are split into as many buckets as their
	// size needs. 0 means 256 MiB.
	MemoryBudget int64
	// TempDir holds the bucket files; "" means the system's temp dir.
	TempDir string
	// MaxDetails caps the detail lines kept in the report; 0 means 50.
	MaxDetails int
}

// Report is the outcome of a comparison of A (expected) with B (actual).
type Report struct {
	TracesA, TracesB int
	SpansA, SpansB   int // distinct span IDs per side
	// MissingTraces: in A, no span of them in B. ExtraTraces: the reverse.
	MissingTraces, ExtraTraces int
	// MissingSpans / ExtraSpans: span IDs on one side only (those of
	// missing or extra traces included).
	MissingSpans, ExtraSpans int
	// DuplicatedA / DuplicatedB: extra copies of a span ID on that side.
	DuplicatedA, DuplicatedB int
	// DifferingSpans: spans on both sides whose compared fields differ.
	DifferingSpans int
	// Details describe differences, at most Options.MaxDetails of them.
	Details []string
	// Truncated counts the difference lines left out of Details.
	Truncated int
}

// Equal reports whether the two sides hold the same spans, once each, with
// the same fields.
func (r *Report) Equal() bool {
	return r.MissingSpans == 0 && r.ExtraSpans == 0 && r.DuplicatedA == 0 && r.DuplicatedB == 0 && r.DifferingSpans == 0
}

// Summary is the report in one line.
func (r *Report) Summary() string {
	verdict := "no difference"
	if !r.Equal() {
		verdict = "DIFFERENT"
	}
	return fmt.Sprintf("%s: traces A=%d B=%d missing=%d extra=%d; spans A=%d B=%d missing=%d extra=%d duplicated A=%d B=%d differing=%d",
		verdict, r.TracesA, r.TracesB, r.MissingTraces, r.ExtraTraces, r.SpansA, r.SpansB,
		r.MissingSpans, r.ExtraSpans, r.DuplicatedA, r.DuplicatedB, r.DifferingSpans)
}

func (r *Report) detail(max int, format string, args ...any) {
	if len(r.Details) >= max {
		r.Truncated++
		return
	}
	r.Details = append(r.Details, fmt.Sprintf(format, args...))
}

// Compare reads the two files and reports how B differs from A.
func Compare(a, b string, opts Options) (*Report, error) {
	if opts.MemoryBudget <= 0 {
		opts.MemoryBudget = 256 << 20
	}
	if opts.MaxDetails <= 0 {
		opts.MaxDetails = 50
	}
	for _, p := range opts.Ignore {
		if _, err := path.Match(p, ""); err != nil {
			return nil, fmt.Errorf("ignore pattern %q: %w", p, err)
		}
	}
	ignore := func(name string) bool {
		for _, p := range opts.Ignore {
			if ok, _ := path.Match(p, name); ok {
				return true
			}
		}
		return false
	}
	buckets, err := bucketCount(opts.MemoryBudget, a, b)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp(opts.TempDir, "tracediff-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	files, err := partition(dir, buckets, ignore, a, b)
	if err != nil {
		return nil, err
	}
	rep := &Report{}
	for _, f := range files {
		if err := compareBucket(f, rep, opts.MaxDetails); err != nil {
			return nil, err
		}
	}
	return rep, nil
}

// bucketCount sizes the partition from the inputs' sizes: compressed inputs
// expand roughly tenfold, and a span's record held in memory (strings and
// maps) takes about 8 times the size of its OTLP JSON (BenchmarkCompare: 355
// MiB of heap for 47 MB of input compared in one bucket).
func bucketCount(budget int64, paths ...string) (int, error) {
	var total int64
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return 0, err
		}
		size := st.Size()
		if compressed(p) {
			size *= 10
		}
		total += size
	}
	n := int(8*total/budget) + 1
	return min(n, 4096), nil
}

func compressed(p string) bool {
	f, err := os.Open(p)
	if err != nil {
		return false
	}
	defer f.Close()
	head := make([]byte, 8)
	n, _ := io.ReadFull(f, head)
	head = head[:n]
	return bytes.HasPrefix(head, zstdMagic) || bytes.HasPrefix(head, gzipMagic) || (n == 8 && bytes.Equal(head[4:8], zstdMagic))
}

// partition writes every span of both files into the bucket file its
// trace ID selects.
func partition(dir string, buckets int, ignore func(string) bool, a, b string) ([]string, error) {
	names := make([]string, buckets)
	files := make([]*os.File, buckets)
	writers := make([]*bufio.Writer, buckets)
	defer func() {
		for _, f := range files {
			if f != nil {
				f.Close()
			}
		}
	}()
	for i := range files {
		names[i] = fmt.Sprintf("%s/bucket-%04d", dir, i)
		f, err := os.Create(names[i])
		if err != nil {
			return nil, err
		}
		files[i] = f
		writers[i] = bufio.NewWriterSize(f, 64<<10)
	}
	for _, side := range []struct {
		tag  byte
		path string
	}{{'A', a}, {'B', b}} {
		err := ReadFile(side.path, func(td ptrace.Traces) error {
			return recordsOf(td, ignore, func(r *spanRecord) error {
				i := int(binary.BigEndian.Uint64(r.trace[8:]) % uint64(buckets))
				return writeRecord(writers[i], side.tag, r)
			})
		})
		if err != nil {
			return nil, err
		}
	}
	for i, w := range writers {
		if err := w.Flush(); err != nil {
			return nil, err
		}
		if err := files[i].Close(); err != nil {
			return nil, err
		}
		files[i] = nil
	}
	return names, nil
}

// spanCopies is one span ID of one trace: how often each side wrote it, and
// the first copy each side wrote.
type spanCopies struct {
	n      [2]int
	fields [2][]field
}

func compareBucket(name string, rep *Report, maxDetails int) error {
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	traces := map[pcommon.TraceID]map[pcommon.SpanID]*spanCopies{}
	r := bufio.NewReaderSize(f, 64<<10)
	for {
		side, rec, err := readRecord(r)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		s := 0
		if side == 'B' {
			s = 1
		}
		spans := traces[rec.trace]
		if spans == nil {
			spans = map[pcommon.SpanID]*spanCopies{}
			traces[rec.trace] = spans
		}
		c := spans[rec.span]
		if c == nil {
			c = &spanCopies{}
			spans[rec.span] = c
		}
		if c.n[s] == 0 {
			c.fields[s] = rec.fields
		}
		c.n[s]++
	}
	ids := make([]pcommon.TraceID, 0, len(traces))
	for id := range traces {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(x, y pcommon.TraceID) int { return bytes.Compare(x[:], y[:]) })
	for _, tid := range ids {
		compareTrace(tid, traces[tid], rep, maxDetails)
	}
	return nil
}

func compareTrace(tid pcommon.TraceID, spans map[pcommon.SpanID]*spanCopies, rep *Report, maxDetails int) {
	sids := make([]pcommon.SpanID, 0, len(spans))
	var inA, inB int
	for sid, c := range spans {
		sids = append(sids, sid)
		if c.n[0] > 0 {
			inA++
		}
		if c.n[1] > 0 {
			inB++
		}
	}
	sort.Slice(sids, func(i, j int) bool { return bytes.Compare(sids[i][:], sids[j][:]) < 0 })
	rep.SpansA += inA
	rep.SpansB += inB
	if inA > 0 {
		rep.TracesA++
	}
	if inB > 0 {
		rep.TracesB++
	}
	switch {
	case inB == 0:
		rep.MissingTraces++
		rep.MissingSpans += inA
		rep.detail(maxDetails, "trace %s: missing from B (%d spans)", tid, inA)
	case inA == 0:
		rep.ExtraTraces++
		rep.ExtraSpans += inB
		rep.detail(maxDetails, "trace %s: extra in B (%d spans)", tid, inB)
	}
	for _, sid := range sids {
		c := spans[sid]
		for s, side := range []string{"A", "B"} {
			if c.n[s] > 1 {
				if s == 0 {
					rep.DuplicatedA += c.n[s] - 1
				} else {
					rep.DuplicatedB += c.n[s] - 1
				}
				rep.detail(maxDetails, "trace %s span %s: %d copies in %s", tid, sid, c.n[s], side)
			}
		}
		if inA == 0 || inB == 0 {
			continue // counted with its trace
		}
		switch {
		case c.n[1] == 0:
			rep.MissingSpans++
			rep.detail(maxDetails, "trace %s span %s (%s): missing from B", tid, sid, spanName(c.fields[0]))
		case c.n[0] == 0:
			rep.ExtraSpans++
			rep.detail(maxDetails, "trace %s span %s (%s): extra in B", tid, sid, spanName(c.fields[1]))
		default:
			if diff := diffFields(c.fields[0], c.fields[1]); diff != "" {
				rep.DifferingSpans++
				rep.detail(maxDetails, "trace %s span %s (%s): %s", tid, sid, spanName(c.fields[0]), diff)
			}
		}
	}
}

func spanName(fs []field) string {
	for _, f := range fs {
		if f.name == "name" {
			return f.value
		}
	}
	return "?"
}

// diffFields describes how two sorted field lists differ; "" if they do not.
func diffFields(a, b []field) string {
	var out []string
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case j == len(b) || (i < len(a) && a[i].name < b[j].name):
			out = append(out, fmt.Sprintf("%s=%q only in A", a[i].name, a[i].value))
			i++
		case i == len(a) || b[j].name < a[i].name:
			out = append(out, fmt.Sprintf("%s=%q only in B", b[j].name, b[j].value))
			j++
		default:
			if a[i].value != b[j].value {
				out = append(out, fmt.Sprintf("%s: %q in A, %q in B", a[i].name, a[i].value, b[j].value))
			}
			i++
			j++
		}
	}
	return strings.Join(out, "; ")
}
