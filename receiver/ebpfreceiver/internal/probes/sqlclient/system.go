package sqlclient

import "strings"

// db.system.name values (semantic conventions).
const (
	SystemPostgreSQL = "postgresql"
	SystemMySQL      = "mysql"
	SystemMariaDB    = "mariadb"
	SystemSQLite     = "sqlite"
	SystemSQLServer  = "microsoft.sql_server"
	SystemOracle     = "oracle.db"
	SystemClickHouse = "clickhouse"
	SystemOther      = "other_sql"
)

// systemByConnType maps the Go type name of a driver's driver.Conn, as
// the runtime names it (package name, not path), to db.system.name.
var systemByConnType = map[string]string{
	"*pq.conn":               SystemPostgreSQL, // github.com/lib/pq
	"*stdlib.Conn":           SystemPostgreSQL, // github.com/jackc/pgx/v4 and v5 stdlib
	"*mysql.mysqlConn":       SystemMySQL,      // github.com/go-sql-driver/mysql (MariaDB too)
	"*sqlite3.SQLiteConn":    SystemSQLite,     // github.com/mattn/go-sqlite3
	"*sqlite.conn":           SystemSQLite,     // modernc.org/sqlite
	"*mssql.Conn":            SystemSQLServer,  // github.com/microsoft/go-mssqldb, denisenkom/go-mssqldb
	"*godror.conn":           SystemOracle,     // github.com/godror/godror
	"*go_ora.Connection":     SystemOracle,     // github.com/sijms/go-ora
	"*clickhouse.stdDriver":  SystemClickHouse, // github.com/ClickHouse/clickhouse-go/v2
	"*clickhouse.clickhouse": SystemClickHouse, // clickhouse-go v1
}

// SystemOf returns db.system.name for the driver.Conn's type name
// ("*pq.conn"): a known driver's database, else other_sql. The connection
// cannot tell MySQL from MariaDB: go-sql-driver/mysql is mysql.
func SystemOf(connType string) string {
	if s, ok := systemByConnType[connType]; ok {
		return s
	}
	pkg := strings.TrimLeft(connType, "*")
	if dot := strings.IndexByte(pkg, '.'); dot >= 0 {
		pkg = pkg[:dot]
	}
	switch pkg {
	case "pq", "pgx", "pgconn":
		return SystemPostgreSQL
	case "mysql":
		return SystemMySQL
	case "sqlite", "sqlite3":
		return SystemSQLite
	}
	return SystemOther
}
