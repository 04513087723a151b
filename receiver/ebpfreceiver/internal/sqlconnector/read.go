package sqlconnector

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Memory reads a process's memory (/proc/<pid>/mem).
type Memory interface {
	ReadAt(p []byte, addr int64) (int, error)
}

// Layouts of what is read. database/sql's are the same from Go 1.19
// through 1.26; the drivers' have not moved in the releases tested
// (TestConnectorLayouts checks them against DWARF).
const (
	// DBConnectorOffset is DB.connector (after waitDuration); dsnConnector{dsn string;
	// driver driver.Driver}.
	DBConnectorOffset  = 8
	dsnConnectorDSN    = 0
	dsnConnectorDriver = 16
	// go-sql-driver/mysql: connector{cfg *Config; ...}; Config{User,
	// Passwd, Net, Addr, DBName string; ...} (Passwd is never read).
	mysqlConnectorCfg = 0
	mysqlConfigNet    = 32
	mysqlConfigAddr   = 48
	mysqlConfigDBName = 64
	// pgx (v4, v5) stdlib: driverConnector{driver *Driver; name string}
	// (sql.Open("pgx", dsn)), and connector{pgx.ConnConfig; ...}
	// (stdlib.OpenDB) whose pgconn.Config starts {Host string; Port
	// uint16; Database string; User, Password string; ...}.
	pgxDriverConnectorName = 8
	pgxConfigHost          = 0
	pgxConfigPort          = 16
	pgxConfigDatabase      = 24
	// maxDSN bounds the data source name read; maxField a string of a
	// driver's configuration.
	maxDSN   = 4096
	maxField = 1024
)

// Connector type names, as the runtime names them.
const (
	typeDSNConnector         = "sql.dsnConnector"
	typeMySQLConnector       = "*mysql.connector"
	typePgxDriverConnector   = "*stdlib.driverConnector"
	typePgxConnector         = "stdlib.connector" // a value: GetConnector returns one
	errNoConnector           = "no connector"
	connectorIfaceSize       = 16
	typeDescriptorInItabWord = 8
)

// Process is what reading a process's pool needs.
type Process struct {
	Mem Memory
	// Bias is the load bias (0 unless a PIE): type descriptors are named
	// by unrelocated address.
	Bias uint64
	// TypeName names the type descriptor at an unrelocated address ("" when
	// it cannot).
	TypeName func(addr uint64) string
	// SystemOf gives db.system.name from a driver's type name.
	SystemOf func(typeName string) string
}

// Read reads the connector of the *sql.DB at db and returns what it says
// of the server. A connector of a kind not listed above gives the system
// from its type name alone.
func Read(p Process, db uint64) (Server, error) {
	if db == 0 {
		return Server{}, errors.New("no sql.DB address")
	}
	var iface [connectorIfaceSize]byte
	if _, err := p.Mem.ReadAt(iface[:], int64(db+DBConnectorOffset)); err != nil {
		return Server{}, fmt.Errorf("read sql.DB.connector at %#x: %w", db+DBConnectorOffset, err)
	}
	itab, data := binary.LittleEndian.Uint64(iface[:]), binary.LittleEndian.Uint64(iface[8:])
	if itab == 0 || data == 0 {
		return Server{}, fmt.Errorf("sql.DB at %#x: %s", db, errNoConnector)
	}
	name := p.typeName(p.word(itab + typeDescriptorInItabWord))
	switch name {
	case "":
		return Server{}, fmt.Errorf("sql.DB at %#x: connector of unknown type", db)
	case typeDSNConnector:
		system := p.SystemOf(p.typeName(p.word(p.word(data+dsnConnectorDriver) + typeDescriptorInItabWord)))
		dsn, err := p.str(data+dsnConnectorDSN, maxDSN)
		if err != nil {
			return Server{System: system}, fmt.Errorf("sql.dsnConnector at %#x: %w", data, err)
		}
		s := ParseDSN(system, string(dsn))
		clear(dsn)
		return s, nil
	case typeMySQLConnector:
		cfg := p.word(data + mysqlConnectorCfg)
		if cfg == 0 {
			return Server{System: systemMySQL}, nil
		}
		netw, err1 := p.str(cfg+mysqlConfigNet, maxField)
		addr, err2 := p.str(cfg+mysqlConfigAddr, maxField)
		db, err3 := p.str(cfg+mysqlConfigDBName, maxField)
		if err := errors.Join(err1, err2, err3); err != nil {
			return Server{System: systemMySQL}, fmt.Errorf("mysql.Config at %#x: %w", cfg, err)
		}
		s := mysqlServer(Server{System: systemMySQL, Namespace: string(db)}, string(netw), string(addr))
		return s, nil
	case typePgxDriverConnector:
		dsn, err := p.str(data+pgxDriverConnectorName, maxDSN)
		if err != nil {
			return Server{System: systemPostgreSQL}, fmt.Errorf("pgx driverConnector at %#x: %w", data, err)
		}
		s := ParseDSN(systemPostgreSQL, string(dsn))
		clear(dsn)
		return s, nil
	case typePgxConnector, "*" + typePgxConnector:
		host, err1 := p.str(data+pgxConfigHost, maxField)
		database, err2 := p.str(data+pgxConfigDatabase, maxField)
		var pb [2]byte
		_, err3 := p.Mem.ReadAt(pb[:], int64(data+pgxConfigPort))
		if err := errors.Join(err1, err2, err3); err != nil {
			return Server{System: systemPostgreSQL}, fmt.Errorf("pgx connector at %#x: %w", data, err)
		}
		return Server{System: systemPostgreSQL, Address: string(host), Port: int(binary.LittleEndian.Uint16(pb[:])), Namespace: string(database)}, nil
	}
	return Server{System: p.SystemOf(name)}, nil
}

func (p Process) typeName(addr uint64) string {
	if addr == 0 || p.TypeName == nil {
		return ""
	}
	return p.TypeName(addr - p.Bias)
}

// word reads a pointer-sized word (0 when it cannot).
func (p Process) word(addr uint64) uint64 {
	if addr < 4096 {
		return 0
	}
	var w [8]byte
	if _, err := p.Mem.ReadAt(w[:], int64(addr)); err != nil {
		return 0
	}
	return binary.LittleEndian.Uint64(w[:])
}

// str reads the Go string whose header is at addr; longer than limit is
// an error (not a connector's).
func (p Process) str(addr uint64, limit uint64) ([]byte, error) {
	var h [16]byte
	if _, err := p.Mem.ReadAt(h[:], int64(addr)); err != nil {
		return nil, err
	}
	ptr, n := binary.LittleEndian.Uint64(h[:]), binary.LittleEndian.Uint64(h[8:])
	if n == 0 {
		return nil, nil
	}
	if n > limit || ptr == 0 {
		return nil, fmt.Errorf("implausible string of %d bytes at %#x", n, addr)
	}
	b := make([]byte, n)
	if _, err := p.Mem.ReadAt(b, int64(ptr)); err != nil {
		return nil, err
	}
	return b, nil
}
