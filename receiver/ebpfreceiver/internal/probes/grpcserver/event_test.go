package grpcserver

import (
	"bytes"
	"encoding/binary"
	"testing"
	"unsafe"

	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/bpfprog"
)

// A record is decoded field by field from the generated struct's layout;
// a short one is an error, not a panic.
func TestDecode(t *testing.T) {
	t.Parallel()
	var e bpfprog.GoebpfGrpcServerEvent
	e.Hdr.Kind = uint8(bpfprog.GoebpfEventKindEVENT_GRPC_SERVER)
	e.Hdr.Pid = 77
	e.Code = 13
	m := "/shop.Orders/Get"
	for i := range m {
		e.Method[i] = int8(m[i])
	}
	e.MethodLen = uint16(len(m))
	e.PeerIp = [16]uint8{10, 0, 0, 7}
	e.PeerIpLen = 4
	e.PeerPort = 51234
	e.LocalIp = [16]uint8{0: 0x20, 1: 0x01, 2: 0x0d, 3: 0xb8, 15: 1}
	e.LocalIpLen = 16
	e.LocalPort = 443
	var buf bytes.Buffer
	if err := binary.Write(&buf, binary.LittleEndian, &e); err != nil {
		t.Fatal(err)
	}
	ev, err := Decode(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	got := ev.(*Event)
	if got.PID != 77 || got.Code != 13 || got.Method != m || got.Peer.String() != "10.0.0.7:51234" || got.Local.String() != "[2001:db8::1]:443" {
		t.Errorf("decoded %+v", got)
	}
	if _, err := Decode(buf.Bytes()[:unsafe.Sizeof(e)-1]); err == nil {
		t.Error("short record decoded")
	}
	e.PeerIpLen = 7 // neither IPv4 nor IPv6: no address
	buf.Reset()
	_ = binary.Write(&buf, binary.LittleEndian, &e)
	if ev, err := Decode(buf.Bytes()); err != nil || ev.(*Event).Peer.IsValid() {
		t.Errorf("peer with 7-byte IP: %v, %v", ev, err)
	}
}
