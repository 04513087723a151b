package grpcclient

import (
	"bytes"
	"encoding/binary"
	"testing"
	"unsafe"

	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/bpfprog"
)

// A record is decoded from the generated struct's layout; a short one is an
// error, not a panic; a length larger than the array is clamped.
func TestDecode(t *testing.T) {
	t.Parallel()
	var e bpfprog.GoebpfGrpcClientEvent
	e.Hdr.Kind = uint8(bpfprog.GoebpfEventKindEVENT_GRPC_CLIENT)
	e.Hdr.Pid = 78
	e.Code = 5
	m, tg := "/shop.Stock/Reserve", "dns:///stock:443"
	for i := range m {
		e.Method[i] = int8(m[i])
	}
	for i := range tg {
		e.Target[i] = int8(tg[i])
	}
	e.MethodLen, e.TargetLen = uint16(len(m)), 999
	var buf bytes.Buffer
	if err := binary.Write(&buf, binary.LittleEndian, &e); err != nil {
		t.Fatal(err)
	}
	ev, err := Decode(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	got := ev.(*Event)
	if got.PID != 78 || got.Code != 5 || got.Method != m || got.Target != tg {
		t.Errorf("decoded %+v", got)
	}
	if _, err := Decode(buf.Bytes()[:unsafe.Sizeof(e)-1]); err == nil {
		t.Error("short record decoded")
	}
}
