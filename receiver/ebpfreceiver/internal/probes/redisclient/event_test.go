package redisclient

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
	var e bpfprog.GoebpfRedisClientEvent
	e.Hdr.Kind = uint8(bpfprog.GoebpfEventKindEVENT_REDIS_CLIENT)
	e.Hdr.Pid = 78
	e.OpKind = uint8(OpMulti)
	e.BatchSize = 2
	e.ErrKind = uint8(ErrString)
	put := func(dst []int8, s string) uint16 {
		for i := range s {
			dst[i] = int8(s[i])
		}
		return uint16(len(s))
	}
	e.OpLen = put(e.Op[:], "get")
	e.ErrLen = put(e.Err[:], "ERR x")
	put(e.Addr[:], "127.0.0.1:6379")
	e.AddrLen = 999
	e.HasDb, e.Db = 1, 5
	var buf bytes.Buffer
	if err := binary.Write(&buf, binary.LittleEndian, &e); err != nil {
		t.Fatal(err)
	}
	ev, err := Decode(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	got := ev.(*Event)
	if got.PID != 78 || got.Kind != OpMulti || got.BatchSize != 2 || got.Command != "get" || got.ErrKind != ErrString || got.ErrText != "ERR x" || got.Addr != "127.0.0.1:6379" || !got.HasDB || got.DB != 5 {
		t.Errorf("decoded %+v", got)
	}
	if _, err := Decode(buf.Bytes()[:unsafe.Sizeof(e)-1]); err == nil {
		t.Error("short record decoded")
	}
}
