package sqlconnector

import (
	"encoding/binary"
	"fmt"
	"strings"
	"testing"
)

// fakeMemory is a process's memory made of regions; it records every read
// and fails reads outside its regions.
type fakeMemory struct {
	regions map[uint64][]byte
	reads   [][2]uint64 // [addr, end)
}

func (m *fakeMemory) put(addr uint64, b []byte) { m.regions[addr] = b }

func (m *fakeMemory) word(addr, v uint64) {
	b := make([]byte, 8)
	binary.LittleEndian.PutUint64(b, v)
	m.put(addr, b)
}

func (m *fakeMemory) str(addr, data uint64, s string) {
	m.word(addr, data)
	m.word(addr+8, uint64(len(s)))
	m.put(data, []byte(s))
}

func (m *fakeMemory) ReadAt(p []byte, off int64) (int, error) {
	a := uint64(off)
	m.reads = append(m.reads, [2]uint64{a, a + uint64(len(p))})
	for base, b := range m.regions {
		if a >= base && a+uint64(len(p)) <= base+uint64(len(b)) {
			copy(p, b[a-base:])
			return len(p), nil
		}
	}
	// Contiguous words put one by one.
	for i := range p {
		found := false
		for base, b := range m.regions {
			if a+uint64(i) >= base && a+uint64(i) < base+uint64(len(b)) {
				p[i] = b[a+uint64(i)-base]
				found = true
				break
			}
		}
		if !found {
			return 0, fmt.Errorf("no memory at %#x", a+uint64(i))
		}
	}
	return len(p), nil
}

// readOf reports whether any read touched [addr, addr+n).
func (m *fakeMemory) touched(addr, n uint64) bool {
	for _, r := range m.reads {
		if r[0] < addr+n && addr < r[1] {
			return true
		}
	}
	return false
}

const (
	bias   = 0x1000
	db     = 0xc000010000
	itab   = 0x7f0000
	itab2  = 0x7f1000
	conn   = 0xc000020000
	cfg    = 0xc000030000
	strs   = 0xc000040000
	passAt = 0xc000050000
)

var typeNames = map[uint64]string{
	0x100: typeDSNConnector,
	0x200: "*pq.Driver",
	0x300: typeMySQLConnector,
	0x400: typePgxDriverConnector,
	0x500: typePgxConnector,
	0x600: "*other.Connector",
	0x700: "*sqlite.Driver",
}

func newProcess(m *fakeMemory) Process {
	return Process{Mem: m, Bias: bias, TypeName: func(a uint64) string { return typeNames[a] }, SystemOf: func(name string) string {
		if strings.Contains(name, "pq") {
			return "postgresql"
		}
		if strings.Contains(name, "sqlite") {
			return "sqlite"
		}
		return "other_sql"
	}}
}

// pool writes a sql.DB whose connector has the type at unrelocated typ.
func pool(m *fakeMemory, typ uint64) {
	m.word(db+DBConnectorOffset, itab)
	m.word(db+DBConnectorOffset+8, conn)
	m.word(itab+8, typ+bias)
}

func TestRead(t *testing.T) {
	t.Parallel()
	const secret = "Pa55-w0rd-7f3a"
	for _, tc := range []struct {
		name  string
		setup func(m *fakeMemory)
		want  Server
	}{
		{"lib/pq dsnConnector", func(m *fakeMemory) {
			pool(m, 0x100)
			m.str(conn+dsnConnectorDSN, strs, "postgres://app:"+secret+"@10.1.2.3:5433/shop?sslmode=disable")
			m.word(conn+dsnConnectorDriver, itab2)
			m.word(itab2+8, 0x200+bias)
		}, Server{System: "postgresql", Address: "10.1.2.3", Port: 5433, Namespace: "shop"}},
		{"sqlite dsnConnector", func(m *fakeMemory) {
			pool(m, 0x100)
			m.str(conn+dsnConnectorDSN, strs, "file:/var/lib/app/orders.db?_pragma=busy_timeout(5000)")
			m.word(conn+dsnConnectorDriver, itab2)
			m.word(itab2+8, 0x700+bias)
		}, Server{System: "sqlite", Namespace: "orders.db"}},
		{"go-sql-driver connector", func(m *fakeMemory) {
			pool(m, 0x300)
			m.word(conn+mysqlConnectorCfg, cfg)
			m.str(cfg+mysqlConfigNet, strs, "tcp")
			m.str(cfg+mysqlConfigAddr, strs+16, "db.local:3307")
			m.str(cfg+mysqlConfigDBName, strs+48, "orders")
			m.str(cfg+16, passAt, secret) // Passwd: never read
		}, Server{System: "mysql", Address: "db.local", Port: 3307, Namespace: "orders"}},
		{"pgx sql.Open", func(m *fakeMemory) {
			pool(m, 0x400)
			m.str(conn+pgxDriverConnectorName, strs, "host=127.0.0.1 port=5432 password="+secret+" dbname=app")
		}, Server{System: "postgresql", Address: "127.0.0.1", Port: 5432, Namespace: "app"}},
		{"pgx stdlib.OpenDB", func(m *fakeMemory) {
			pool(m, 0x500)
			m.str(conn+pgxConfigHost, strs, "pg.internal")
			m.put(conn+pgxConfigPort, []byte{0x38, 0x15, 0, 0, 0, 0, 0, 0}) // 5432
			m.str(conn+pgxConfigDatabase, strs+32, "app")
			m.str(conn+56, passAt, secret) // Password (after User): never read
		}, Server{System: "postgresql", Address: "pg.internal", Port: 5432, Namespace: "app"}},
		{"other connector", func(m *fakeMemory) { pool(m, 0x600) }, Server{System: "other_sql"}},
	} {
		m := &fakeMemory{regions: map[uint64][]byte{}}
		tc.setup(m)
		got, err := Read(newProcess(m), db)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
		}
		if got != tc.want {
			t.Errorf("%s: %+v, want %+v", tc.name, got, tc.want)
		}
		if strings.Contains(fmt.Sprint(got), secret) {
			t.Errorf("%s: the password survives: %+v", tc.name, got)
		}
		if m.touched(passAt, uint64(len(secret))) {
			t.Errorf("%s: the password's bytes were read", tc.name)
		}
	}
}

// Unreadable or implausible memory gives errors that hold no DSN text.
func TestReadErrors(t *testing.T) {
	t.Parallel()
	m := &fakeMemory{regions: map[uint64][]byte{}}
	if _, err := Read(newProcess(m), db); err == nil {
		t.Error("no error without memory")
	}
	pool(m, 0x100)
	m.word(conn+dsnConnectorDSN, strs)
	m.word(conn+dsnConnectorDSN+8, maxDSN+1)
	_, err := Read(newProcess(m), db)
	if err == nil || !strings.Contains(err.Error(), "implausible") {
		t.Errorf("a DSN of %d bytes: %v", maxDSN+1, err)
	}
	m2 := &fakeMemory{regions: map[uint64][]byte{}}
	m2.word(db+DBConnectorOffset, itab)
	m2.word(db+DBConnectorOffset+8, conn)
	m2.word(itab+8, 0x999+bias)
	if _, err := Read(newProcess(m2), db); err == nil {
		t.Error("a connector of no known type: no error")
	}
}

func TestCache(t *testing.T) {
	t.Parallel()
	m := &fakeMemory{regions: map[uint64][]byte{}}
	pool(m, 0x400)
	m.str(conn+pgxDriverConnectorName, strs, "postgres://h:1/d")
	opens := 0
	c := NewCache(func(pid uint32) (Process, func(), bool) {
		opens++
		return newProcess(m), func() {}, pid == 7
	})
	want := Server{System: "postgresql", Address: "h", Port: 1, Namespace: "d"}
	for i := 0; i < 3; i++ {
		if got := c.Lookup(7, db); got != want {
			t.Fatalf("lookup %d: %+v, want %+v", i, got, want)
		}
	}
	if opens != 1 {
		t.Errorf("memory opened %d times for one pool, want 1", opens)
	}
	if got := c.Lookup(8, db); got != (Server{}) {
		t.Errorf("unreadable process: %+v", got)
	}
	c.Forget(7)
	c.Lookup(7, db)
	if opens != 3 {
		t.Errorf("after Forget: %d opens, want 3", opens)
	}
	var nilCache *Cache
	if nilCache.Lookup(7, db) != (Server{}) {
		t.Error("nil cache")
	}
}
