package probes

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"testing"

	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/bpfprog"
)

// decodeBoth decodes the same random records into *T with DecodeRecord and
// with encoding/binary (the reference: field by field, little-endian) and
// compares what each holds, re-encoded (blank padding fields as zeros).
func decodeBoth[T any](t *testing.T, name string) {
	t.Helper()
	var probe T
	size := binary.Size(&probe)
	rng := rand.New(rand.NewPCG(1, uint64(size)))
	for i := range 50 {
		raw := make([]byte, size+i%3) // records may carry trailing bytes
		for j := range raw {
			raw[j] = byte(rng.Uint32())
		}
		var got, want T
		if err := DecodeRecord(raw, &got, name); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if _, err := binary.Decode(raw, binary.LittleEndian, &want); err != nil {
			t.Fatalf("%s: reference decode: %v", name, err)
		}
		g, _ := binary.Append(nil, binary.LittleEndian, &got)
		w, _ := binary.Append(nil, binary.LittleEndian, &want)
		if !bytes.Equal(g, w) {
			t.Fatalf("%s: DecodeRecord differs from encoding/binary", name)
		}
	}
	if err := DecodeRecord(make([]byte, size-1), &probe, name); err == nil {
		t.Errorf("%s: a record one byte short decoded", name)
	}
}

// Every event struct the ring buffer carries decodes to the same values as
// encoding/binary gives: the generated structs have no implicit padding
// and hold only integers, so copying the record is decoding it.
func TestDecodeRecordMatchesBinary(t *testing.T) {
	decodeBoth[bpfprog.GoebpfHttpServerEvent](t, "http server")
	decodeBoth[bpfprog.GoebpfHttpClientEvent](t, "http client")
	decodeBoth[bpfprog.GoebpfGrpcServerEvent](t, "grpc server")
	decodeBoth[bpfprog.GoebpfGrpcClientEvent](t, "grpc client")
	decodeBoth[bpfprog.GoebpfKafkaConsumerEvent](t, "kafka consumer")
	decodeBoth[bpfprog.GoebpfKafkaProducerEvent](t, "kafka producer")
	decodeBoth[bpfprog.GoebpfRedisClientEvent](t, "redis client")
	decodeBoth[bpfprog.GoebpfSqlClientEvent](t, "sql client")
}

func TestCString(t *testing.T) {
	chars := func(s string) []int8 {
		out := make([]int8, 8)
		for i := range s {
			out[i] = int8(s[i])
		}
		return out
	}
	for _, tc := range []struct {
		b    []int8
		n    uint16
		want string
	}{
		{chars("GET"), 3, "GET"},
		{chars("GET"), 2, "GE"},
		{chars("GET"), 0, ""},
		{chars("GE\x00T"), 4, "GE"},         // a NUL ends a short read
		{chars("abcdefgh"), 99, "abcdefgh"}, // n beyond the array
		{nil, 5, ""},
	} {
		if got := CString(tc.b, tc.n); got != tc.want {
			t.Errorf("CString(%v, %d) = %q, want %q", tc.b, tc.n, got, tc.want)
		}
	}
	for _, tc := range []struct {
		b    []int8
		n    uint16
		want string
	}{
		{chars("GET"), 3, "GET"},
		{chars("GETX"), 4, "GETX"},
		{chars("GET"), 2, "GE"},
		{chars("PO\x00ST"), 5, "PO"},
		{chars("https"), 5, "https"},
	} {
		if got := CStringOf(tc.b, tc.n, append(HTTPMethods, URLSchemes...)); got != tc.want {
			t.Errorf("CStringOf(%v, %d) = %q, want %q", tc.b, tc.n, got, tc.want)
		}
	}
	// The string does not alias the record: the ring buffer reuses it.
	b := chars("abc")
	s, s2 := CString(b, 3), CStringOf(b, 3, URLSchemes)
	b[0] = 'x'
	if s != "abc" || s2 != "abc" {
		t.Errorf("CString aliases its input: %q, %q", s, s2)
	}
}

// TestCStrings: the strings of one allocation equal CString's, field by
// field, empty ones included, and do not alias the record.
func TestCStrings(t *testing.T) {
	chars := func(s string) []int8 {
		out := make([]int8, 8)
		for i := range s {
			out[i] = int8(s[i])
		}
		return out
	}
	fields := []CField{
		{chars("GET"), 3}, {chars("GET"), 0}, {chars("GE\x00T"), 4},
		{chars("abcdefgh"), 99}, {nil, 5}, {chars("/a/b"), 4}, {chars("xy"), 1}, {chars(""), 0},
	}
	for n := 0; n <= len(fields); n++ {
		for start := 0; start+n <= len(fields); start++ {
			src := fields[start : start+n]
			got := make([]string, n)
			dst := make([]*string, n)
			for i := range got {
				got[i] = "stale"
				dst[i] = &got[i]
			}
			CStrings(dst, src)
			for i, f := range src {
				if want := CString(f.B, f.N); got[i] != want {
					t.Errorf("fields %d..%d: [%d] = %q, want %q", start, start+n, i, got[i], want)
				}
			}
		}
	}
	b := chars("abc")
	var s1, s2 string
	CStrings([]*string{&s1, &s2}, []CField{{b, 3}, {b, 2}})
	b[0] = 'x'
	if s1 != "abc" || s2 != "ab" {
		t.Errorf("CStrings aliases its input: %q, %q", s1, s2)
	}
}
