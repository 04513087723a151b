// Package sqlconnector tells which database server a database/sql pool
// (*sql.DB) talks to, from the pool's driver.Connector read in the
// target's memory: the data source name sql.Open keeps (lib/pq and other
// drivers without a connector of their own, pgx's stdlib driver), or the
// parsed configuration a driver's connector holds (go-sql-driver/mysql,
// pgx's stdlib.OpenDB). Only the server's address, its port and the
// database name are kept: a password is never copied out of a parse, and
// nothing read is logged.
package sqlconnector

import (
	"net"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
)

// Server is what a pool's connector says about the database it uses.
type Server struct {
	// System is db.system.name when the connector names the driver ("" when
	// it does not).
	System string
	// Address is server.address: a host name, an IP address or a unix
	// socket path ("" unknown); Port is server.port (0: not given).
	Address string
	Port    int
	// Namespace is db.namespace: the database name (for SQLite the file's
	// base name).
	Namespace string
}

// PoolName is a name users recognise for the pool: db.system.name, then
// the server's address and port, then "/" and the database, as far as
// they are known ("postgresql 127.0.0.1:5432/app", "sqlite orders.db").
func (s Server) PoolName(system string) string {
	if s.System != "" {
		system = s.System
	}
	where := s.Address
	if s.Port != 0 && where != "" {
		where = net.JoinHostPort(where, strconv.Itoa(s.Port))
	}
	if s.Namespace != "" {
		if where != "" {
			where += "/" + s.Namespace
		} else {
			where = s.Namespace
		}
	}
	if where == "" {
		return system
	}
	return system + " " + where
}

// db.system.name values this package parses data source names for.
const (
	systemPostgreSQL = "postgresql"
	systemMySQL      = "mysql"
	systemSQLite     = "sqlite"
)

// ParseDSN reads the server out of a data source name of a driver of the
// given db.system.name: PostgreSQL's URL and key=value forms (lib/pq, pgx),
// go-sql-driver/mysql's [user[:password]@][net[(addr)]]/dbname[?params],
// SQLite's file name or file: URI. Anything else, or what does not parse,
// gives an empty Server. The password is never part of the result.
func ParseDSN(system, dsn string) Server {
	var s Server
	switch system {
	case systemPostgreSQL:
		s = parsePostgres(dsn)
	case systemMySQL:
		s = parseMySQL(dsn)
	case systemSQLite:
		s = parseSQLite(dsn)
	}
	s.System = system
	return s
}

// maxPort bounds what is taken for a port.
const maxPort = 65535

func port(s string) int {
	p, err := strconv.Atoi(s)
	if err != nil || p <= 0 || p > maxPort {
		return 0
	}
	return p
}

// parsePostgres: postgres://[user[:password]@][host][:port][,...][/dbname][?k=v&...]
// (also postgresql://), or "k=v k='quoted v' ...". The first host of a
// list is taken. host, port and dbname parameters override the URL's.
func parsePostgres(dsn string) Server {
	var s Server
	rest, ok := cutPrefixFold(dsn, "postgres://")
	if !ok {
		rest, ok = cutPrefixFold(dsn, "postgresql://")
	}
	if !ok {
		kv := parseKeyValues(dsn)
		applyPostgresParams(&s, kv)
		return s
	}
	if i := strings.IndexByte(rest, '#'); i >= 0 {
		rest = rest[:i]
	}
	query := ""
	if i := strings.IndexByte(rest, '?'); i >= 0 {
		rest, query = rest[:i], rest[i+1:]
	}
	authority, path := rest, ""
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		authority, path = rest[:i], rest[i+1:]
	}
	// The user information ends at the authority's last '@' (a password
	// may hold '@' when not escaped); it is dropped unread.
	if i := strings.LastIndexByte(authority, '@'); i >= 0 {
		authority = authority[i+1:]
	}
	if i := strings.IndexByte(authority, ','); i >= 0 {
		authority = authority[:i]
	}
	host, p := splitHostPort(authority)
	s.Address = unescape(host)
	s.Port = port(p)
	s.Namespace = unescape(path)
	params := map[string]string{}
	for _, kv := range strings.Split(query, "&") {
		k, v, _ := strings.Cut(kv, "=")
		switch k = unescape(k); k {
		case "host", "port", "dbname":
			params[k] = unescape(v)
		}
	}
	applyPostgresParams(&s, params)
	return s
}

func applyPostgresParams(s *Server, kv map[string]string) {
	if h, ok := kv["host"]; ok && h != "" {
		if i := strings.IndexByte(h, ','); i >= 0 {
			h = h[:i]
		}
		s.Address = h
	}
	if p, ok := kv["port"]; ok && p != "" {
		if i := strings.IndexByte(p, ','); i >= 0 {
			p = p[:i]
		}
		s.Port = port(p)
	}
	if d, ok := kv["dbname"]; ok && d != "" {
		s.Namespace = d
	}
}

// parseKeyValues reads libpq's "k=v k2='v 2'" form (\' and \\ escape in
// quotes), keeping only host, port and dbname: every other value (the
// password among them) is skipped without being copied.
func parseKeyValues(dsn string) map[string]string {
	out := map[string]string{}
	i := 0
	for i < len(dsn) {
		for i < len(dsn) && isSpace(dsn[i]) {
			i++
		}
		start := i
		for i < len(dsn) && dsn[i] != '=' && !isSpace(dsn[i]) {
			i++
		}
		key := dsn[start:i]
		for i < len(dsn) && isSpace(dsn[i]) {
			i++
		}
		if i >= len(dsn) || dsn[i] != '=' {
			return out // not key=value: no more to read
		}
		i++
		for i < len(dsn) && isSpace(dsn[i]) {
			i++
		}
		keep := key == "host" || key == "port" || key == "dbname"
		var val strings.Builder
		if i < len(dsn) && dsn[i] == '\'' {
			i++
			for i < len(dsn) && dsn[i] != '\'' {
				if dsn[i] == '\\' && i+1 < len(dsn) {
					i++
				}
				if keep {
					val.WriteByte(dsn[i])
				}
				i++
			}
			i++ // the closing quote
		} else {
			for i < len(dsn) && !isSpace(dsn[i]) {
				if dsn[i] == '\\' && i+1 < len(dsn) {
					i++
				}
				if keep {
					val.WriteByte(dsn[i])
				}
				i++
			}
		}
		if keep {
			out[key] = val.String()
		}
	}
	return out
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'
}

// parseMySQL: [user[:password]@][net[(addr)]]/dbname[?params]. The
// database is after the last '/', the user information before the last
// '@' ahead of it (as the driver reads it).
func parseMySQL(dsn string) Server {
	var s Server
	slash := strings.LastIndexByte(dsn, '/')
	if slash < 0 {
		return s
	}
	left, db := dsn[:slash], dsn[slash+1:]
	if i := strings.IndexByte(db, '?'); i >= 0 {
		db = db[:i]
	}
	s.Namespace = db
	if i := strings.LastIndexByte(left, '@'); i >= 0 {
		left = left[i+1:]
	}
	netw, addr := left, ""
	if i := strings.IndexByte(left, '('); i >= 0 && strings.HasSuffix(left, ")") {
		netw, addr = left[:i], left[i+1:len(left)-1]
	}
	return mysqlServer(s, netw, addr)
}

// mysqlServer fills address and port from the driver's Net and Addr
// (its defaults when empty: tcp, 127.0.0.1:3306).
func mysqlServer(s Server, netw, addr string) Server {
	if netw == "unix" {
		s.Address = addr
		return s
	}
	if addr == "" {
		if netw != "" && netw != "tcp" && netw != "tcp4" && netw != "tcp6" {
			return s // a custom dialer's network: its address is its own
		}
		addr = "127.0.0.1:3306"
	}
	host, p := splitHostPort(addr)
	s.Address = host
	s.Port = port(p)
	if s.Port == 0 && p == "" {
		s.Port = 3306
	}
	return s
}

// parseSQLite: a file name, or a file: URI, with query parameters; the
// namespace is the file's base name. An in-memory database (":memory:",
// mode=memory) has none.
func parseSQLite(dsn string) Server {
	path, query, _ := strings.Cut(strings.TrimPrefix(dsn, "file:"), "?")
	if path == "" || path == ":memory:" || strings.Contains(query, "mode=memory") {
		return Server{}
	}
	return Server{Namespace: filepath.Base(path)}
}

// splitHostPort splits "host:port", "[v6]:port", "host" or "[v6]".
func splitHostPort(a string) (host, port string) {
	if strings.HasPrefix(a, "[") {
		end := strings.IndexByte(a, ']')
		if end < 0 {
			return a, ""
		}
		host, rest := a[1:end], a[end+1:]
		if p, ok := strings.CutPrefix(rest, ":"); ok {
			return host, p
		}
		return host, ""
	}
	if i := strings.LastIndexByte(a, ':'); i >= 0 && strings.Count(a, ":") == 1 {
		return a[:i], a[i+1:]
	}
	return a, ""
}

func unescape(s string) string {
	if u, err := url.PathUnescape(s); err == nil {
		return u
	}
	return s
}

func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix) {
		return s[len(prefix):], true
	}
	return s, false
}
