package tracer

import (
	"encoding/binary"
	"testing"

	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/bpfprog"
)

func chars[T ~[]int8](dst T, s string) uint16 {
	for i := range len(s) {
		dst[i] = int8(s[i])
	}
	return uint16(len(s))
}

func TestDecodeServerEvent(t *testing.T) {
	var e bpfprog.GoebpfHttpServerEvent
	e.Hdr.Kind = KindHTTPServer
	e.Hdr.Pid = 77
	e.Hdr.StartNs, e.Hdr.EndNs = 10, 20
	e.Hdr.HasParent = 1
	e.Hdr.Ids.TraceId[0] = 0xaa
	e.Hdr.Ids.ParentSpanId[7] = 0xbb
	e.ProtoMajor, e.ProtoMinor = 1, 1
	e.Status = 503
	e.Tls = 2
	e.MethodLen = chars(e.Method[:], "GET")
	e.PathLen = chars(e.Path[:], "/a/b")
	e.PatternLen = chars(e.Pattern[:], "GET /a/{x}")
	e.HostLen = chars(e.Host[:], "h:1")
	e.RemoteLen = chars(e.Remote[:], "1.2.3.4:5")
	e.QueryLen = chars(e.Query[:], "sig=x&a=1")
	e.Panicked = 1
	e.PanicType = 0x4a5b60
	e.PanicMsgLen = chars(e.PanicMsg[:], "boom")
	raw, err := binary.Append(nil, binary.LittleEndian, &e)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Decode(raw)
	if err != nil {
		t.Fatal(err)
	}
	ev, ok := got.(*ServerEvent)
	if !ok {
		t.Fatalf("Decode returned %T", got)
	}
	want := ServerEvent{PID: 77, StartNs: 10, EndNs: 20, Method: "GET", Path: "/a/b", Pattern: "GET /a/{x}",
		Host: "h:1", RemoteAddr: "1.2.3.4:5", ProtoMajor: 1, ProtoMinor: 1, Status: 503, Scheme: "https",
		RawQuery: "sig=x&a=1", Panicked: true, PanicTypeAddr: 0x4a5b60, PanicMessage: "boom",
		IDs: SpanIDs{HasParent: true}}
	want.IDs.TraceID[0] = 0xaa
	want.IDs.ParentSpanID[7] = 0xbb
	if *ev != want {
		t.Errorf("decoded %+v\nwant    %+v", *ev, want)
	}
}

func TestDecodeClientEvent(t *testing.T) {
	var e bpfprog.GoebpfHttpClientEvent
	e.Hdr.Kind = KindHTTPClient
	e.HasResponse, e.HasError = 1, 0
	e.Status = 200
	e.MethodLen = chars(e.Method[:], "POST")
	e.SchemeLen = chars(e.Scheme[:], "http")
	e.HostLen = chars(e.Host[:], "svc:80")
	e.PathLen = chars(e.Path[:], "/p")
	e.QueryLen = chars(e.Query[:], "q=1")
	e.HasUser = 1
	raw, _ := binary.Append(nil, binary.LittleEndian, &e)
	got, err := Decode(raw)
	if err != nil {
		t.Fatal(err)
	}
	ev := got.(*ClientEvent)
	if ev.Method != "POST" || ev.Scheme != "http" || ev.Host != "svc:80" || ev.Path != "/p" || ev.RawQuery != "q=1" || !ev.HasResponse || ev.HasError || ev.Status != 200 || !ev.HasUserInfo {
		t.Errorf("decoded %+v", *ev)
	}
}

func TestDecodeRejectsMalformed(t *testing.T) {
	var e bpfprog.GoebpfHttpServerEvent
	e.Hdr.Kind = KindHTTPServer
	e.PathLen = 60000 // longer than the array: clamped, no panic
	raw, _ := binary.Append(nil, binary.LittleEndian, &e)
	if _, err := Decode(raw); err != nil {
		t.Errorf("oversized length: %v", err)
	}
	for _, raw := range [][]byte{nil, {KindHTTPServer, 1, 2}, {KindHTTPClient}, {99, 0, 0, 0}} {
		if _, err := Decode(raw); err == nil {
			t.Errorf("Decode(%v): want error", raw)
		}
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte{KindHTTPServer})
	f.Add(make([]byte, serverEventSize))
	f.Fuzz(func(t *testing.T, raw []byte) {
		_, _ = Decode(raw)
	})
}
