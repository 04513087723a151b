// Command redisdemo is an HTTP service whose handlers call Redis through
// go-redis (v9, or v8 built with -tags redisv8): the target of the Redis
// probe's tests and benchmark. A module of its own, so go-redis stays out of
// the distribution's go.mod.
//
//	redisdemo -addr 127.0.0.1:8080 -redis 127.0.0.1:6379 [-db 0]
//
// GET /redis: SET, GET (hit), GET (miss: redis.Nil), INCR of a string (an
// ERR reply), a pipeline of 3 and a MULTI/EXEC transaction of 2; it
// answers one line per call: the command and its error ("ok", "nil" or the
// reply's text).
// GET /cmd?n=N: N GET commands. GET /pipe?size=S: one pipeline of S GETs.
// GET /fresh: a GET through a new client (a new connection, whose
// handshake runs inside the GET), closed after.
// GET /slowpool?n=N&ms=M: N concurrent BLPOPs of M ms on empty lists
// through a client of at most 2 connections that waits at most 1.5 s for
// one: the pool runs dry, requests wait, some time out; it answers how
// many failed ("failed N").
//
// At start it sends a command, a pipeline and a transaction so that the
// connections the handlers use are open (a new connection's handshake, HELLO
// in v9, is a command of its own).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net/http"
	"strconv"
	"strings"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "HTTP listen address")
	redisAddr := flag.String("redis", "127.0.0.1:6379", "Redis server address")
	db := flag.Int("db", 0, "Redis database index")
	flag.Parse()

	rdb := newClient(*redisAddr, *db)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	if err := warm(ctx, rdb); err != nil {
		log.Fatalf("redis %s: %v", *redisAddr, err)
	}
	cancel()

	slow := newPoolClient(*redisAddr, *db, 2, 1500*time.Millisecond)
	mux := http.NewServeMux()
	mux.HandleFunc("/slowpool", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		ms, _ := strconv.Atoi(r.URL.Query().Get("ms"))
		errs := make(chan error, n)
		for i := range n {
			go func() {
				errs <- slow.BLPop(r.Context(), time.Duration(ms)*time.Millisecond, "slowpool-empty-"+strconv.Itoa(i)).Err()
			}()
		}
		failed := 0
		for range n {
			if err := <-errs; err != nil && !errors.Is(err, errNil) {
				failed++
			}
		}
		fmt.Fprintf(w, "failed %d\n", failed)
	})
	mux.HandleFunc("/redis", func(w http.ResponseWriter, r *http.Request) {
		for _, line := range scenario(r.Context(), rdb) {
			fmt.Fprintln(w, line)
		}
	})
	mux.HandleFunc("/cmd", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		for range n {
			if err := rdb.Get(r.Context(), "bench").Err(); err != nil && !errors.Is(err, errNil) {
				http.Error(w, err.Error(), http.StatusBadGateway)
				return
			}
		}
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/pipe", func(w http.ResponseWriter, r *http.Request) {
		size, _ := strconv.Atoi(r.URL.Query().Get("size"))
		pipe := rdb.Pipeline()
		for range size {
			pipe.Get(r.Context(), "bench")
		}
		if _, err := pipe.Exec(r.Context()); err != nil && !errors.Is(err, errNil) {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/fresh", func(w http.ResponseWriter, r *http.Request) {
		c := newClient(*redisAddr, *db)
		defer c.Close()
		if err := c.Get(r.Context(), "bench").Err(); err != nil && !errors.Is(err, errNil) {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	log.Fatal(http.ListenAndServe(*addr, mux))
}

func warm(ctx context.Context, rdb *client) error {
	if err := rdb.Set(ctx, "bench", "value", 0).Err(); err != nil {
		return err
	}
	if _, err := rdb.Pipelined(ctx, func(p pipeliner) error { p.Get(ctx, "bench"); return nil }); err != nil {
		return err
	}
	_, err := rdb.TxPipelined(ctx, func(p pipeliner) error { p.Get(ctx, "bench"); return nil })
	return err
}

// scenario makes the calls of /redis, in order, and reports each result.
func scenario(ctx context.Context, rdb *client) []string {
	var out []string
	report := func(name string, err error) {
		switch {
		case err == nil:
			out = append(out, name+" ok")
		case errors.Is(err, errNil):
			out = append(out, name+" nil")
		default:
			out = append(out, name+" "+strings.ReplaceAll(err.Error(), "\n", " "))
		}
	}
	report("SET", rdb.Set(ctx, "greeting", "hello", 0).Err())
	report("GET", rdb.Get(ctx, "greeting").Err())
	report("GET", rdb.Get(ctx, "absent").Err())
	report("INCR", rdb.Incr(ctx, "greeting").Err())
	_, err := rdb.Pipelined(ctx, func(p pipeliner) error {
		p.Set(ctx, "p1", "one", 0)
		p.Get(ctx, "p1")
		p.Incr(ctx, "pcount")
		return nil
	})
	report("PIPELINE", err)
	_, err = rdb.TxPipelined(ctx, func(p pipeliner) error {
		p.Incr(ctx, "txcount")
		p.Get(ctx, "p1")
		return nil
	})
	report("MULTI", err)
	return out
}
