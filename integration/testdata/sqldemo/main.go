// Command sqldemo is an ordinary database/sql program the ebpf receiver's
// tests trace: an HTTP server whose handler /run?db=pg|pgx|pgxdb|mysql
// runs, on PostgreSQL through lib/pq or pgx's stdlib driver (sql.Open, or
// pgxdb: stdlib.OpenDB with a parsed pgx.ConnConfig), or on MariaDB/MySQL
// through go-sql-driver/mysql:
//
//   - a query with an argument (SELECT items),
//   - an exec with a literal (INSERT items),
//   - a transaction that commits (BEGIN, UPDATE items, COMMIT, and the
//     usual deferred Rollback, which then does nothing),
//   - a transaction that rolls back (BEGIN, DELETE items, ROLLBACK),
//   - a query on a table that does not exist (an error),
//   - a prepared statement's query and exec (SELECT items, INSERT items),
//   - a transaction running the prepared exec through Tx.Stmt (BEGIN,
//     INSERT items, COMMIT).
//
// It answers 200 with the error of the last query, or 500 when anything
// else failed. /bench?db=pg|mysql&n=N&long=0|1 runs N one-row queries
// (long=1: a statement of more than 2 KiB; tx=1: each in a transaction;
// prep=1: N execs of one statement prepared before)
// one after the other and answers the time they took in nanoseconds. -pg and -mysql give the data source
// names; the table is created at start.
package main

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"log"
	"net/http"
	"strconv"
	"strings"
	"time"

	_ "github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	_ "github.com/lib/pq"
)

type backend struct {
	db *sql.DB
	// arg is the placeholder syntax: $1 or ?.
	arg string
}

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "listen address")
	pg := flag.String("pg", "", "lib/pq connection URL")
	my := flag.String("mysql", "", "go-sql-driver/mysql DSN")
	flag.Parse()

	backends := map[string]*backend{}
	if *pg != "" {
		backends["pg"] = open("postgres", *pg, "$1", "CREATE TABLE IF NOT EXISTS items (id SERIAL PRIMARY KEY, name TEXT NOT NULL)")
		backends["pgx"] = open("pgx", *pg, "$1", "CREATE TABLE IF NOT EXISTS items (id SERIAL PRIMARY KEY, name TEXT NOT NULL)")
		cfg, err := pgx.ParseConfig(*pg)
		if err != nil {
			log.Fatal(err)
		}
		backends["pgxdb"] = setUp(stdlib.OpenDB(*cfg), "pgxdb", "$1", "CREATE TABLE IF NOT EXISTS items (id SERIAL PRIMARY KEY, name TEXT NOT NULL)")
	}
	if *my != "" {
		backends["mysql"] = open("mysql", *my, "?", "CREATE TABLE IF NOT EXISTS items (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(64) NOT NULL)")
	}
	http.HandleFunc("/run", func(w http.ResponseWriter, r *http.Request) {
		b := backends[r.URL.Query().Get("db")]
		if b == nil {
			http.Error(w, "unknown db", http.StatusBadRequest)
			return
		}
		qerr, err := b.run(r.Context())
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		fmt.Fprintf(w, "ok; unknown table: %v\n", qerr)
	})
	var slow *sql.DB // PostgreSQL, at most 2 connections: /slow exhausts it
	if *pg != "" {
		var err error
		if slow, err = sql.Open("postgres", *pg); err != nil {
			log.Fatal(err)
		}
		slow.SetMaxOpenConns(2)
	}
	http.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		ms, _ := strconv.Atoi(r.URL.Query().Get("ms"))
		if slow == nil || n <= 0 || ms <= 0 {
			http.Error(w, "want -pg, n and ms", http.StatusBadRequest)
			return
		}
		errs := make(chan error, n)
		for i := 0; i < n; i++ {
			go func() {
				_, err := slow.ExecContext(r.Context(), "SELECT pg_sleep($1)", float64(ms)/1000)
				errs <- err
			}()
		}
		for i := 0; i < n; i++ {
			if err := <-errs; err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
		}
		fmt.Fprintln(w, "ok")
	})
	http.HandleFunc("/bench", func(w http.ResponseWriter, r *http.Request) {
		b := backends[r.URL.Query().Get("db")]
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		if b == nil || n <= 0 {
			http.Error(w, "want db and n", http.StatusBadRequest)
			return
		}
		q := "SELECT 1 WHERE 1 = " + b.arg
		if r.URL.Query().Get("long") == "1" {
			// The same query, longer than 2 KiB: a long IN list.
			var sb strings.Builder
			sb.WriteString("SELECT 1 WHERE 1 = " + b.arg + " AND 7 NOT IN (0")
			for i := 100000; sb.Len() < 2200; i++ {
				sb.WriteString(", " + strconv.Itoa(i))
			}
			sb.WriteString(")")
			q = sb.String()
		}
		tx := r.URL.Query().Get("tx") == "1"
		if r.URL.Query().Get("prep") == "1" {
			st, err := b.db.PrepareContext(r.Context(), q)
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			defer st.Close()
			start := time.Now()
			for i := 0; i < n; i++ {
				if _, err := st.ExecContext(r.Context(), 1); err != nil {
					http.Error(w, err.Error(), http.StatusInternalServerError)
					return
				}
			}
			fmt.Fprintf(w, "%d\n", time.Since(start).Nanoseconds())
			return
		}
		start := time.Now()
		for i := 0; i < n; i++ {
			if err := b.benchQuery(r.Context(), q, tx); err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
		}
		fmt.Fprintf(w, "%d\n", time.Since(start).Nanoseconds())
	})
	log.Fatal(http.ListenAndServe(*addr, nil))
}

func open(driver, dsn, arg, create string) *backend {
	db, err := sql.Open(driver, dsn)
	if err != nil {
		log.Fatal(err)
	}
	return setUp(db, driver, arg, create)
}

func setUp(db *sql.DB, driver, arg, create string) *backend {
	db.SetMaxOpenConns(4)
	// Two processes creating the table at once may both try (PostgreSQL
	// then fails one with a unique violation): try again.
	for attempt := 0; ; attempt++ {
		_, err := db.Exec(create)
		if err == nil {
			break
		}
		if attempt == 5 {
			log.Fatalf("%s: %v", driver, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	return &backend{db: db, arg: arg}
}

func (b *backend) run(ctx context.Context) (error, error) {
	rows, err := b.db.QueryContext(ctx, "SELECT id, name FROM items WHERE id > "+b.arg, 0)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
	}
	rows.Close()
	if _, err := b.db.ExecContext(ctx, "INSERT INTO items (name) VALUES ('widget')"); err != nil {
		return nil, err
	}
	if err := b.commit(ctx); err != nil {
		return nil, err
	}
	tx, err := b.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	if _, err := tx.ExecContext(ctx, "DELETE FROM items WHERE name = "+b.arg, "nothing"); err != nil {
		return nil, err
	}
	if err := tx.Rollback(); err != nil {
		return nil, err
	}
	_, qerr := b.db.QueryContext(ctx, "SELECT * FROM no_such_table")
	if qerr == nil {
		return nil, fmt.Errorf("query on an unknown table succeeded")
	}
	return qerr, b.prepared(ctx)
}

// prepared runs a prepared query and exec, then the exec in a
// transaction through Tx.Stmt. Preparing makes no span.
func (b *backend) prepared(ctx context.Context) error {
	q, err := b.db.PrepareContext(ctx, "SELECT name FROM items WHERE id = "+b.arg)
	if err != nil {
		return err
	}
	defer q.Close()
	var name string
	if err := q.QueryRowContext(ctx, 1).Scan(&name); err != nil && err != sql.ErrNoRows {
		return err
	}
	ins, err := b.db.PrepareContext(ctx, "INSERT INTO items (name) VALUES ("+b.arg+")")
	if err != nil {
		return err
	}
	defer ins.Close()
	if _, err := ins.ExecContext(ctx, "prepared"); err != nil {
		return err
	}
	tx, err := b.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.StmtContext(ctx, ins).ExecContext(ctx, "in tx"); err != nil {
		return err
	}
	return tx.Commit()
}

// benchQuery runs q (one row), in a transaction that commits with tx
// (with the usual deferred Rollback).
func (b *backend) benchQuery(ctx context.Context, q string, tx bool) error {
	var one int
	if !tx {
		return b.db.QueryRowContext(ctx, q, 1).Scan(&one)
	}
	t, err := b.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer t.Rollback()
	if err := t.QueryRowContext(ctx, q, 1).Scan(&one); err != nil {
		return err
	}
	return t.Commit()
}

func (b *backend) commit(ctx context.Context) error {
	tx, err := b.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() // does nothing once committed
	if _, err := tx.ExecContext(ctx, "UPDATE items SET name = "+b.arg+" WHERE id = 1", "gadget"); err != nil {
		return err
	}
	return tx.Commit()
}
