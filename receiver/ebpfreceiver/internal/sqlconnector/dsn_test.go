package sqlconnector

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
)

func TestParseDSN(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		system, dsn string
		want        Server
	}{
		{"postgresql", "postgres://app:s3cret@127.0.0.1:5432/app?sslmode=disable", Server{Address: "127.0.0.1", Port: 5432, Namespace: "app"}},
		{"postgresql", "postgresql://db.example:6432/orders", Server{Address: "db.example", Port: 6432, Namespace: "orders"}},
		{"postgresql", "POSTGRES://u@[::1]:5433/x", Server{Address: "::1", Port: 5433, Namespace: "x"}},
		{"postgresql", "postgres://u:p@h1:5001,h2:5002/db", Server{Address: "h1", Port: 5001, Namespace: "db"}},
		{"postgresql", "postgres://u:p%40ss@host/db%20x", Server{Address: "host", Namespace: "db x"}},
		{"postgresql", "postgres://u:pa@ss@host:1/d", Server{Address: "host", Port: 1, Namespace: "d"}},
		{"postgresql", "postgres:///app?host=/var/run/postgresql&port=5439", Server{Address: "/var/run/postgresql", Port: 5439, Namespace: "app"}},
		{"postgresql", "postgres://u@h:99999/d", Server{Address: "h", Namespace: "d"}},
		{"postgresql", "host=127.0.0.1 port=5432 user=app password=s3cret dbname=app sslmode=disable", Server{Address: "127.0.0.1", Port: 5432, Namespace: "app"}},
		{"postgresql", "host = localhost dbname='my db' password='it\\'s secret'", Server{Address: "localhost", Namespace: "my db"}},
		{"postgresql", "password=a\\ b host=h", Server{Address: "h"}},
		{"postgresql", "not a dsn", Server{}},
		{"mysql", "app:s3cret@tcp(127.0.0.1:3306)/app?parseTime=true", Server{Address: "127.0.0.1", Port: 3306, Namespace: "app"}},
		{"mysql", "app:p@ss/w@tcp(db:3307)/shop", Server{Address: "db", Port: 3307, Namespace: "shop"}},
		{"mysql", "u@unix(/run/mysqld/mysqld.sock)/d", Server{Address: "/run/mysqld/mysqld.sock", Namespace: "d"}},
		{"mysql", "/d", Server{Address: "127.0.0.1", Port: 3306, Namespace: "d"}},
		{"mysql", "u:p@tcp([::1]:3310)/", Server{Address: "::1", Port: 3310}},
		{"mysql", "u:p@tcp(h)/d", Server{Address: "h", Port: 3306, Namespace: "d"}},
		{"mysql", "no slash", Server{}},
		{"sqlite", "file:/var/lib/app/orders.db?cache=shared", Server{Namespace: "orders.db"}},
		{"sqlite", "inventory.db", Server{Namespace: "inventory.db"}},
		{"sqlite", ":memory:", Server{}},
		{"sqlite", "file:shared?mode=memory&cache=shared", Server{}},
		{"sqlite", "", Server{}},
		{"other_sql", "whatever://x", Server{}},
	} {
		got := ParseDSN(tc.system, tc.dsn)
		tc.want.System = tc.system
		if got != tc.want {
			t.Errorf("ParseDSN(%q, %q) = %+v, want %+v", tc.system, tc.dsn, got, tc.want)
		}
	}
}

func TestPoolName(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		s    Server
		want string
	}{
		{Server{System: "postgresql", Address: "127.0.0.1", Port: 5432, Namespace: "app"}, "postgresql 127.0.0.1:5432/app"},
		{Server{Address: "::1", Port: 3306}, "mysql [::1]:3306"},
		{Server{System: "sqlite", Namespace: "orders.db"}, "sqlite orders.db"},
		{Server{Address: "/run/pg"}, "mysql /run/pg"},
		{Server{}, "mysql"},
	} {
		if got := tc.s.PoolName("mysql"); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.s, got, tc.want)
		}
	}
}

// dsnForms writes a DSN of each form with the given parts.
func dsnForms(user, pass, host, db string) map[string][]string {
	return map[string][]string{
		"postgresql": {
			fmt.Sprintf("postgres://%s:%s@%s:5432/%s?sslmode=disable", user, pass, host, db),
			fmt.Sprintf("host=%s user=%s password=%s dbname=%s", host, user, pass, db),
			fmt.Sprintf("host='%s' password='%s' dbname='%s'", host, strings.ReplaceAll(pass, "'", "\\'"), db),
			fmt.Sprintf("password=%s", pass),
		},
		"mysql":  {fmt.Sprintf("%s:%s@tcp(%s:3306)/%s", user, pass, host, db)},
		"sqlite": {fmt.Sprintf("file:%s?_auth_pass=%s", db, pass)},
	}
}

// secret is a password no host, user or database name of the tests holds.
const secret = "Pa55-w0rd-7f3a"

// noSecret fails when the password shows in what was parsed.
func noSecret(t *testing.T, dsn string, s Server, pass string) {
	t.Helper()
	for _, f := range []string{s.Address, s.Namespace, s.System} {
		if strings.Contains(f, pass) {
			t.Fatalf("password %q survives in %+v (DSN %q)", pass, s, dsn)
		}
	}
}

func TestNoPasswordSurvives(t *testing.T) {
	t.Parallel()
	for _, pass := range []string{secret, secret + "@x", secret + "/y", "a b " + secret, secret + "?host=z", secret + ":1", "'" + secret} {
		for system, dsns := range dsnForms("app", pass, "127.0.0.1", "app") {
			for _, dsn := range dsns {
				noSecret(t, dsn, ParseDSN(system, dsn), secret)
			}
		}
	}
}

// safe keeps the characters a host, user or database name of the fuzz
// cases may hold (none is a separator of any form).
func safe(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '_' {
			return r
		}
		return -1
	}, s)
}

// escapedForms writes a DSN of each form, the password escaped as each
// form's driver expects it (percent-encoded in a URL, quoted with \' and
// \\ in key=value, raw in go-sql-driver/mysql's form).
func escapedForms(user, pass, host, db string) map[string][]string {
	u := url.URL{Scheme: "postgres", User: url.UserPassword(user, pass), Host: host + ":5432", Path: "/" + db, RawQuery: "sslmode=disable"}
	quoted := strings.NewReplacer("\\", "\\\\", "'", "\\'").Replace(pass)
	return map[string][]string{
		"postgresql": {
			u.String(),
			fmt.Sprintf("host=%s user=%s password='%s' dbname=%s", host, user, quoted, db),
			fmt.Sprintf("password='%s' host=%s dbname=%s", quoted, host, db),
		},
		"mysql":  {fmt.Sprintf("%s:%s@tcp(%s:3306)/%s", user, pass, host, db)},
		"sqlite": {fmt.Sprintf("file:%s?_auth_pass=%s", db, url.QueryEscape(pass))},
	}
}

// FuzzParseDSN: no text panics the parsers, and a password built into any
// form, escaped as its driver wants, never comes out.
func FuzzParseDSN(f *testing.F) {
	f.Add("app", "s3cret", "127.0.0.1", "app")
	f.Add("u@x", "p/w@d", "[::1]", "d?x=1")
	f.Add("", "'", "h,h2", "")
	f.Add("u", "a\\'b c", "h:1", "file.db")
	f.Fuzz(func(t *testing.T, user, pass, host, db string) {
		for _, system := range []string{"postgresql", "mysql", "sqlite"} {
			_ = ParseDSN(system, pass) // any text: no panic
			_ = ParseDSN(system, user+host+db)
		}
		user, host, db = safe(user), safe(host), safe(db)
		if host == "" {
			host = "h"
		}
		if strings.Contains(pass, "/") && strings.Contains(db, "/") {
			return
		}
		for system, dsns := range escapedForms(user, secret+pass, host, db) {
			for _, dsn := range dsns {
				noSecret(t, dsn, ParseDSN(system, dsn), secret)
			}
		}
	})
}
