package sqlclient

import (
	"strings"
	"testing"
)

func TestParseStatement(t *testing.T) {
	t.Parallel()
	tests := []struct {
		system, text string
		want         Statement
	}{
		{SystemPostgreSQL, "SELECT id, name FROM users WHERE id = $1", Statement{"SELECT", "users"}},
		{SystemPostgreSQL, "select * from public.orders o join items i on i.order_id = o.id", Statement{"SELECT", "public.orders"}},
		{SystemPostgreSQL, `SELECT "Id" FROM "Shop"."Orders" WHERE note = 'FROM x'`, Statement{"SELECT", `"Shop"."Orders"`}},
		{SystemPostgreSQL, "SELECT EXTRACT(YEAR FROM created) AS y FROM invoices", Statement{"SELECT", "invoices"}},
		{SystemPostgreSQL, "SELECT (SELECT max(id) FROM a) FROM b", Statement{"SELECT", "b"}},
		{SystemPostgreSQL, "SELECT * FROM (SELECT * FROM t) sub", Statement{"SELECT", ""}},
		{SystemPostgreSQL, "SELECT * FROM generate_series(1, 10)", Statement{"SELECT", ""}},
		{SystemPostgreSQL, "SELECT 1", Statement{"SELECT", ""}},
		{SystemPostgreSQL, "  -- the order lookup\n  /* by id */ SELECT total\n  FROM\n    orders\n  WHERE id IN (1, 2, 3)", Statement{"SELECT", "orders"}},
		{SystemPostgreSQL, "(SELECT a FROM t1) UNION (SELECT a FROM t2)", Statement{"SELECT", "t1"}},
		{SystemPostgreSQL, "WITH recent AS (SELECT * FROM orders WHERE ts > now() - interval '1 day'), big AS MATERIALIZED (SELECT 1) SELECT count(*) FROM recent", Statement{"SELECT", "recent"}},
		{SystemPostgreSQL, "WITH RECURSIVE t(n) AS (VALUES (1) UNION ALL SELECT n+1 FROM t) DELETE FROM audit", Statement{"DELETE", "audit"}},
		{SystemPostgreSQL, "INSERT INTO orders (id, total) VALUES ($1, $2) RETURNING id", Statement{"INSERT", "orders"}},
		{SystemPostgreSQL, "update ONLY stock set qty = qty - 1 where sku = 'a'", Statement{"UPDATE", "stock"}},
		{SystemPostgreSQL, "DELETE FROM sessions WHERE expires < now()", Statement{"DELETE", "sessions"}},
		{SystemPostgreSQL, "MERGE INTO stock s USING incoming i ON s.sku = i.sku WHEN MATCHED THEN UPDATE SET qty = i.qty", Statement{"MERGE", "stock"}},
		{SystemPostgreSQL, "CREATE TABLE IF NOT EXISTS orders (id serial PRIMARY KEY)", Statement{"CREATE", "orders"}},
		{SystemPostgreSQL, "CREATE UNLOGGED TABLE cache (k text)", Statement{"CREATE", "cache"}},
		{SystemPostgreSQL, "DROP TABLE IF EXISTS tmp_orders", Statement{"DROP", "tmp_orders"}},
		{SystemPostgreSQL, "CREATE INDEX ON orders (id)", Statement{"CREATE", ""}},
		{SystemPostgreSQL, "TRUNCATE TABLE audit", Statement{"TRUNCATE", "audit"}},
		{SystemPostgreSQL, "SET search_path TO shop", Statement{"SET", ""}},
		{SystemPostgreSQL, "SELECT 1; SELECT 2", Statement{}},
		{SystemPostgreSQL, "SELECT 1;", Statement{"SELECT", ""}},
		{SystemPostgreSQL, "", Statement{}},
		{SystemPostgreSQL, "'not a statement'", Statement{}},
		{SystemMySQL, "INSERT IGNORE INTO `order` (`id`) VALUES (?)", Statement{"INSERT", "`order`"}},
		{SystemMySQL, "REPLACE INTO kv VALUES ('a', 'b')", Statement{"REPLACE", "kv"}},
		{SystemMySQL, "SELECT * FROM shop.orders # comment FROM other\nWHERE id = 1", Statement{"SELECT", "shop.orders"}},
		{SystemMySQL, `SELECT * FROM t WHERE name = 'it\'s FROM x'`, Statement{"SELECT", "t"}},
		{SystemMySQL, "DELETE LOW_PRIORITY QUICK FROM logs WHERE ts < ?", Statement{"DELETE", "logs"}},
		{SystemSQLite, "INSERT OR REPLACE INTO [kv store] VALUES (1)", Statement{"INSERT", "[kv store]"}},
		{SystemOther, "select * from T1", Statement{"SELECT", "T1"}},
		// Cut off by the 512-byte copy: what is there still parses.
		{SystemPostgreSQL, "SELECT a, b FROM wide WHERE note = 'unterminated", Statement{"SELECT", "wide"}},
	}
	for _, tt := range tests {
		if got := ParseStatement(tt.text, tt.system); got != tt.want {
			t.Errorf("ParseStatement(%q, %s) = %+v, want %+v", tt.text, tt.system, got, tt.want)
		}
	}
}

func TestSanitize(t *testing.T) {
	t.Parallel()
	tests := []struct {
		system, text, want string
	}{
		{SystemPostgreSQL, "SELECT * FROM users WHERE email = 'a@b.c' AND age > 42", "SELECT * FROM users WHERE email = ? AND age > ?"},
		{SystemPostgreSQL, "SELECT * FROM t WHERE id IN (1, 2, 3) AND x = $1", "SELECT * FROM t WHERE id IN (?, ?, ?) AND x = $1"},
		{SystemPostgreSQL, "SELECT 'it''s', 3.14, 1e-3, .5, 0xFF, -7", "SELECT ?, ?, ?, ?, ?, -?"},
		// Standard strings: a backslash is an ordinary character; E'' strings escape.
		{SystemPostgreSQL, `SELECT 'C:\', 'secret'`, "SELECT ?, ?"},
		{SystemPostgreSQL, `SELECT E'a\'b', 'secret'`, "SELECT ?, ?"},
		{SystemPostgreSQL, "SELECT $$body with 'quotes'$$, $fn$ x $fn$, $2", "SELECT ?, ?, $2"},
		{SystemPostgreSQL, `SELECT "Password" FROM "Users"`, `SELECT "Password" FROM "Users"`},
		{SystemPostgreSQL, "SELECT a::text, ts AT TIME ZONE 'UTC' FROM t", "SELECT a::text, ts AT TIME ZONE ? FROM t"},
		{SystemPostgreSQL, "SELECT x -- token=abc\nFROM t /* user: bob */ WHERE y = :name", "SELECT x FROM t WHERE y = :name"},
		{SystemPostgreSQL, "INSERT INTO t\n  (a, b)\nVALUES\n  ('x', 1),\n  ('y', 2)", "INSERT INTO t (a, b) VALUES (?, ?), (?, ?)"},
		{SystemPostgreSQL, "SELECT t1.c2 FROM t1", "SELECT t1.c2 FROM t1"},
		// A statement cut off inside a literal keeps nothing of it.
		{SystemPostgreSQL, "UPDATE users SET token = 'abcdef", "UPDATE users SET token = ?"},
		{SystemPostgreSQL, "SELECT $$never closed", "SELECT ?"},
		// MySQL: backslash escapes, "..." strings, # comments.
		{SystemMySQL, `SELECT * FROM t WHERE a = 'it\'s' AND b = "x\"y" AND c = ?`, "SELECT * FROM t WHERE a = ? AND b = ? AND c = ?"},
		{SystemMySQL, "SELECT `password` FROM `users` # where pw = 'x'\nLIMIT 10", "SELECT `password` FROM `users` LIMIT ?"},
		{SystemMySQL, `SELECT 'a\\', 'secret'`, "SELECT ?, ?"},
		{SystemSQLite, "SELECT * FROM [t] WHERE x = 'v'", "SELECT * FROM [t] WHERE x = ?"},
	}
	for _, tt := range tests {
		got := Sanitize(tt.text, tt.system)
		if got != tt.want {
			t.Errorf("Sanitize(%q, %s)\n got %q\nwant %q", tt.text, tt.system, got, tt.want)
		}
	}
}

// No literal survives sanitizing: texts valid in each dialect, and every
// text read as the unknown dialect (other_sql), which must be safe under
// either reading of a backslash or a double quote.
func TestSanitizeKeepsNoLiteral(t *testing.T) {
	t.Parallel()
	byDialect := map[string][]string{
		SystemPostgreSQL: {`SELECT * FROM t WHERE a = 'SECRET1'`, `SELECT 'x\', 'SECRET3'`, `SELECT $$SECRET4$$`, `SELECT E'\'SECRET6'`, `SELECT $t$it's SECRET7$t$`},
		SystemMySQL:      {`SELECT * FROM t WHERE a = 'SECRET1' AND b = "SECRET2"`, `SELECT 'it\'s SECRET3'`, `SELECT 'x\\', 'SECRET8'`},
		SystemSQLite:     {`SELECT 'SECRET1', 'it''s SECRET2', x'5345'`},
	}
	var all []string
	for sys, texts := range byDialect {
		all = append(all, texts...)
		for _, text := range texts {
			if got := Sanitize(text, sys); strings.Contains(got, "SECRET") {
				t.Errorf("Sanitize(%q, %s) = %q keeps a literal", text, sys, got)
			}
		}
	}
	all = append(all, `INSERT INTO t VALUES ('SECRET5`)
	for _, text := range all {
		got := Sanitize(text, SystemOther)
		if strings.Contains(got, "SECRET") {
			t.Errorf("Sanitize(%q, other_sql) = %q keeps a literal", text, got)
		}
	}
}

func FuzzSanitize(f *testing.F) {
	f.Add("SELECT * FROM t WHERE a = 'x' AND b = 2", SystemPostgreSQL)
	f.Add(`SELECT "a\"b" FROM t`, SystemMySQL)
	f.Fuzz(func(t *testing.T, text, system string) {
		_ = ParseStatement(text, system)
		s := Sanitize(text, system)
		if len(s) > len(text) {
			t.Errorf("sanitized %q is longer than the text %q", s, text)
		}
	})
}
