// Command httpdemo is an ordinary net/http program the ebpf receiver's
// integration tests and benchmark trace: it serves a few routes, some of
// which call a downstream HTTP server (itself by default).
package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"time"
)

var client = &http.Client{Timeout: 5 * time.Second}

func call(url string) (int, error) {
	resp, err := client.Get(url)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}

// spin burns CPU for about d, standing in for real handler work.
func spin(d time.Duration) {
	end := time.Now().Add(d)
	x := 0
	for time.Now().Before(end) {
		for i := 0; i < 1000; i++ {
			x += i
		}
	}
	_ = x
}

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "listen address")
	downstream := flag.String("downstream", "", "base URL of the downstream server (default: this server)")
	flag.Parse()
	if *downstream == "" {
		*downstream = "http://" + *addr
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /hello", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "hello")
	})
	mux.HandleFunc("GET /items/{id}", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "item %s\n", r.PathValue("id"))
	})
	mux.HandleFunc("GET /fail", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "boom", http.StatusInternalServerError)
	})
	mux.HandleFunc("GET /teapot", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusTeapot)
	})
	mux.HandleFunc("GET /work", func(w http.ResponseWriter, r *http.Request) {
		spin(time.Millisecond)
		fmt.Fprintln(w, "done")
	})
	// A client call made by the handler's own goroutine.
	mux.HandleFunc("GET /chain", func(w http.ResponseWriter, r *http.Request) {
		code, err := call(*downstream + "/hello")
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		fmt.Fprintf(w, "downstream said %d\n", code)
	})
	// A client call made by a goroutine the handler starts.
	mux.HandleFunc("GET /fanout", func(w http.ResponseWriter, r *http.Request) {
		done := make(chan int)
		go func() {
			code, _ := call(*downstream + "/items/7")
			done <- code
		}()
		fmt.Fprintf(w, "downstream said %d\n", <-done)
	})
	// A client call that fails in the transport (nothing listens on port 1).
	mux.HandleFunc("GET /broken", func(w http.ResponseWriter, r *http.Request) {
		_, err := call("http://127.0.0.1:1/nowhere")
		http.Error(w, fmt.Sprint(err), http.StatusBadGateway)
	})

	srv := &http.Server{Addr: *addr, Handler: mux}
	log.SetOutput(os.Stderr)
	log.Fatal(srv.ListenAndServe())
}
