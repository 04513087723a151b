// Package dbpools reads the state of database/sql connection pools
// (*sql.DB values) from a target's memory, as database/sql's own
// DB.Stats() would report it, and turns it into the semantic conventions'
// db.client.connection.* metrics. The pools are found by the sql probe
// (the *DB of every query, exec and begin, noted in a BPF map); reading
// them is done here every collection interval, with no probe of its own.
//
// The DB struct's layout comes from the binary's DWARF or, without DWARF
// (a stripped binary), from a rule by the Go version in its build info
// (database/sql is part of the toolchain). A stripped binary of a Go
// version the rule does not cover gets no pool metrics.
package dbpools

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/goexe"
)

// Layout is where a binary's database/sql.DB keeps what is read.
type Layout struct {
	WaitDuration, Connector, FreeConn, ConnRequests, NumOpen, Closed, MaxOpen, WaitCount uint64
	// ConnRequestsIsSet: connRequests is a connRequestSet (a slice, Go
	// 1.23 on); otherwise a map, whose entry count is its header's first
	// word (hmap.count, and the swiss Map.used since Go 1.24).
	ConnRequestsIsSet bool
	size              uint64 // bytes of DB read: up to the last field's end
}

const dbStruct = "database/sql.DB"

// ErrGoVersionUnknown: a binary without DWARF was built by a Go version
// whose database/sql.DB layout is not known.
var ErrGoVersionUnknown = errors.New("database/sql.DB layout unknown for this Go version")

// LayoutOf reads the DB layout from the executable's DWARF or, without
// DWARF, gives the rule's for its Go version (ErrGoVersionUnknown, naming
// the version, outside the versions the rule covers).
func LayoutOf(exe *goexe.Executable) (Layout, error) {
	if !exe.HasDWARF {
		return ruleLayout(exe.GoVersion)
	}
	return dwarfLayout(exe)
}

// database/sql.DB's layout from Go 1.19 through 1.26, the same for every
// GOARCH with 8-byte words (amd64, arm64):
//
//	waitDuration int64 (atomic.Int64 from 1.20)  0
//	connector driver.Connector                   8
//	numClosed uint64 (atomic.Uint64 from 1.20)  24
//	mu sync.Mutex                                32
//	freeConn []*driverConn                       40
//	connRequests                                 64
//
// connRequests was a map[uint64]chan connRequest followed by nextRequest
// uint64 through Go 1.22, and is a connRequestSet{s []connRequestAndIndex}
// from 1.23: the fields after it (numOpen, openerCh, closed, dep, lastPut,
// maxIdleCount, maxOpen, maxLifetime, maxIdleTime, cleanerCh, waitCount)
// are 8 bytes further on from 1.23. TestLayoutRule checks these against
// DWARF.
const (
	minRuleGoMinor = 19
	maxRuleGoMinor = 26
	setFromGoMinor = 23
)

var (
	mapLayout = Layout{WaitDuration: 0, Connector: 8, FreeConn: 40, ConnRequests: 64, NumOpen: 80, Closed: 96, MaxOpen: 128, WaitCount: 160, size: 168}
	setLayout = Layout{WaitDuration: 0, Connector: 8, FreeConn: 40, ConnRequests: 64, NumOpen: 88, Closed: 104, MaxOpen: 136, WaitCount: 168, ConnRequestsIsSet: true, size: 176}
)

// ruleLayout is the DB layout of a Go version ("go1.22.12").
func ruleLayout(goVersion string) (Layout, error) {
	minor := (&goexe.Executable{GoVersion: goVersion}).GoMinor()
	switch {
	case minor < minRuleGoMinor || minor > maxRuleGoMinor:
		return Layout{}, fmt.Errorf("%w: %q (known: go1.%d through go1.%d; a binary with DWARF needs none)", ErrGoVersionUnknown, goVersion, minRuleGoMinor, maxRuleGoMinor)
	case minor >= setFromGoMinor:
		return setLayout, nil
	default:
		return mapLayout, nil
	}
}

// dwarfLayout reads the DB layout from DWARF.
func dwarfLayout(exe *goexe.Executable) (Layout, error) {
	var l Layout
	var errs []error
	for _, f := range []struct {
		name string
		dst  *uint64
		size uint64
	}{
		{"waitDuration", &l.WaitDuration, 8},
		{"connector", &l.Connector, 16},
		{"freeConn", &l.FreeConn, 24},
		{"connRequests", &l.ConnRequests, 24},
		{"numOpen", &l.NumOpen, 8},
		{"closed", &l.Closed, 1},
		{"maxOpen", &l.MaxOpen, 8},
		{"waitCount", &l.WaitCount, 8},
	} {
		off, err := exe.DWARFFieldOffset(dbStruct, f.name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		*f.dst = off
		if off+f.size > l.size {
			l.size = off + f.size
		}
	}
	if len(errs) > 0 {
		return Layout{}, fmt.Errorf("database/sql.DB layout: %w", errors.Join(errs...))
	}
	_, err := exe.DWARFFieldOffset("database/sql.connRequestSet", "s")
	l.ConnRequestsIsSet = err == nil
	if l.size > 4096 {
		return Layout{}, fmt.Errorf("database/sql.DB layout: implausible size %d", l.size)
	}
	return l, nil
}

// State is one pool's state.
type State struct {
	// Open connections (in use or idle), Idle ones, MaxOpen (0: no limit).
	Open, Idle, MaxOpen int64
	// Pending requests waiting for a connection.
	Pending int64
	// WaitCount and WaitDuration: connections waited for, and the total
	// time waited, since the pool was opened.
	WaitCount    int64
	WaitDuration time.Duration
	Closed       bool
	// Timeouts: waits for a connection that timed out (go-redis pools;
	// HasTimeouts). NoPending, NoWaits: the pool does not keep pending
	// requests, or wait count and time (older go-redis releases).
	Timeouts                        int64
	HasTimeouts, NoPending, NoWaits bool
	// ConnectorType is the unrelocated address of the type descriptor of
	// the pool's driver.Connector (0: unknown), for its name; Connector
	// the value's address.
	ConnectorType, Connector uint64
}

// dsnConnectorDriver is where database/sql's dsnConnector{dsn string;
// driver driver.Driver} (what sql.Open makes for a driver without
// OpenConnector, since Go 1.10) holds the driver.
const dsnConnectorDriver = 16

// DriverType reads the unrelocated type of the driver held by a
// sql.dsnConnector at addr (0: unknown).
func DriverType(mem Memory, addr, bias uint64) uint64 {
	var w [8]byte
	if addr == 0 {
		return 0
	}
	if _, err := mem.ReadAt(w[:], int64(addr+dsnConnectorDriver)); err != nil {
		return 0
	}
	itab := binary.LittleEndian.Uint64(w[:])
	if itab == 0 {
		return 0
	}
	if _, err := mem.ReadAt(w[:], int64(itab+8)); err != nil {
		return 0
	}
	if t := binary.LittleEndian.Uint64(w[:]); t != 0 {
		return t - bias
	}
	return 0
}

func durationNs(ns int64) time.Duration { return time.Duration(ns) }

// Memory reads a process's memory.
type Memory interface {
	ReadAt(p []byte, addr int64) (int, error)
}

// OpenMemory opens /proc/<pid>/mem for reading.
func OpenMemory(pid int) (*os.File, error) {
	return os.Open(fmt.Sprintf("/proc/%d/mem", pid))
}

// Read reads the pool at db; bias is the process's load bias (0 unless a
// PIE), to give the connector's type unrelocated.
func Read(mem Memory, db uint64, l Layout, bias uint64) (State, error) {
	if db == 0 || l.size == 0 {
		return State{}, errors.New("no pool address or layout")
	}
	buf := make([]byte, l.size)
	if _, err := mem.ReadAt(buf, int64(db)); err != nil {
		return State{}, fmt.Errorf("read sql.DB at %#x: %w", db, err)
	}
	word := func(off uint64) uint64 { return binary.LittleEndian.Uint64(buf[off:]) }
	s := State{
		Open:         int64(word(l.NumOpen)),
		Idle:         int64(word(l.FreeConn + 8)), // the slice's length
		MaxOpen:      int64(word(l.MaxOpen)),
		WaitCount:    int64(word(l.WaitCount)),
		WaitDuration: time.Duration(int64(word(l.WaitDuration))),
		Closed:       buf[l.Closed] != 0,
	}
	if l.ConnRequestsIsSet {
		s.Pending = int64(word(l.ConnRequests + 8))
	} else if m := word(l.ConnRequests); m != 0 {
		var cnt [8]byte
		if _, err := mem.ReadAt(cnt[:], int64(m)); err != nil {
			return s, fmt.Errorf("read sql.DB.connRequests at %#x: %w", m, err)
		}
		s.Pending = int64(binary.LittleEndian.Uint64(cnt[:]))
	}
	if itab := word(l.Connector); itab != 0 {
		var t [8]byte
		if _, err := mem.ReadAt(t[:], int64(itab+8)); err == nil {
			if typ := binary.LittleEndian.Uint64(t[:]); typ != 0 {
				s.ConnectorType = typ - bias
				s.Connector = word(l.Connector + 8)
			}
		}
	}
	if s.Open < 0 || s.Idle < 0 || s.Idle > s.Open+1<<20 || s.Pending < 0 || s.WaitCount < 0 {
		return s, fmt.Errorf("sql.DB at %#x: implausible state %+v", db, s)
	}
	return s, nil
}
