package sqlclient

import (
	"bytes"
	"encoding/binary"
	"testing"
	"unsafe"

	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/bpfprog"
)

// A record is decoded from the generated struct's layout; a short one is an
// error, not a panic; lengths larger than the arrays are clamped; the code
// is read as its kind says.
func TestDecode(t *testing.T) {
	t.Parallel()
	var e bpfprog.GoebpfSqlClientEvent
	e.Hdr.Kind = uint8(bpfprog.GoebpfEventKindEVENT_SQL_CLIENT)
	e.Hdr.Pid = 78
	e.Op = uint8(OpExec)
	e.DriverType, e.ErrorType, e.HasError = 0x1000, 0x2000, 1
	q := "DELETE FROM t"
	for i := range q {
		e.Query[i] = int8(q[i])
	}
	e.QueryLen, e.QueryFullLen = uint16(len(q)), 13
	e.CodeKind, e.ErrorNumber = codeNumber, 1146
	var buf bytes.Buffer
	if err := binary.Write(&buf, binary.LittleEndian, &e); err != nil {
		t.Fatal(err)
	}
	ev, err := Decode(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	got := ev.(*Event)
	if got.PID != 78 || got.Op != OpExec || got.Query != q || got.QueryLen != 13 || !got.HasError ||
		got.DriverType != 0x1000 || got.ErrorType != 0x2000 || got.StatusCode != "1146" {
		t.Errorf("decoded %+v", got)
	}

	e.CodeKind, e.Code, e.CodeLen, e.QueryLen = codeSQLState, [8]int8{'4', '2', 'P', '0', '1'}, 5, 9999
	buf.Reset()
	if err := binary.Write(&buf, binary.LittleEndian, &e); err != nil {
		t.Fatal(err)
	}
	ev, err = Decode(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if got := ev.(*Event); got.StatusCode != "42P01" || got.Query != q {
		t.Errorf("decoded %+v", got)
	}
	// Codes read untyped (no DWARF): each as its bit says.
	e.CodeKind, e.Untyped = codeUntyped, untypedPQ|untypedMySQL
	e.PqCode, e.PqCodeLen, e.ErrorNumber = [8]int8{'4', '2', 'P', '0', '1'}, 5, 1146
	buf.Reset()
	if err := binary.Write(&buf, binary.LittleEndian, &e); err != nil {
		t.Fatal(err)
	}
	ev, err = Decode(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if got := ev.(*Event); got.StatusCode != "" || got.PQCode == nil || *got.PQCode != "42P01" || got.MySQLNumber == nil || *got.MySQLNumber != 1146 || got.Pgx != nil {
		t.Errorf("decoded untyped %+v", got)
	}
	if _, err := Decode(buf.Bytes()[:unsafe.Sizeof(e)-1]); err == nil {
		t.Error("short record decoded")
	}
}
