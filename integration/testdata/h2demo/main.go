// Command h2demo serves the same handlers over HTTP/2 with TLS (ALPN h2,
// net/http's bundled HTTP/2 server) and, on a plain listener, HTTP/1.1 and,
// when the toolchain has it (Go >= 1.24), h2c with prior knowledge. It must
// compile with every toolchain from Go 1.19 on: the test builds it with the
// oldest and the newest, stripped and not.
package main

import (
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"strconv"
	"strings"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "plain listen address (HTTP/1.1, and h2c where supported)")
	tlsAddr := flag.String("tls-addr", "", "TLS listen address (HTTP/2 and HTTP/1.1)")
	cert := flag.String("cert", "", "TLS certificate (PEM)")
	key := flag.String("key", "", "TLS key (PEM)")
	flag.Parse()

	// Downstream calls go over HTTP/1.1 to the plain listener.
	client := &http.Client{Timeout: 5 * time.Second}
	mux := http.NewServeMux()
	mux.HandleFunc("/hello", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "hello")
	})
	// /echo/<n>?ms=<d>: waits d ms, so that requests sent together are in
	// flight together on one connection.
	mux.HandleFunc("/echo/", func(w http.ResponseWriter, r *http.Request) {
		if ms, err := strconv.Atoi(r.URL.Query().Get("ms")); err == nil {
			time.Sleep(time.Duration(ms) * time.Millisecond)
		}
		fmt.Fprintln(w, strings.TrimPrefix(r.URL.Path, "/echo/"))
	})
	fail := func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "boom", http.StatusInternalServerError)
	}
	mux.HandleFunc("/fail", fail)
	mux.HandleFunc("/fail/", fail)
	// net/http's HTTP/2 server recovers the panic and resets the stream.
	mux.HandleFunc("/panic", func(w http.ResponseWriter, r *http.Request) {
		panic("boom")
	})
	// A client call made by the handler: the child of its server span.
	mux.HandleFunc("/chain", func(w http.ResponseWriter, r *http.Request) {
		resp, err := client.Get("http://" + *addr + "/hello")
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		fmt.Fprintf(w, "downstream said %d\n", resp.StatusCode)
	})

	// A client call over HTTP/2 (TLS, net/http's bundled client) to the
	// path given in ?to= on the TLS listener.
	h2client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{InsecureSkipVerify: true}, // the test's self-signed certificate
		ForceAttemptHTTP2: true,
	}}
	mux.HandleFunc("/chainh2", func(w http.ResponseWriter, r *http.Request) {
		resp, err := h2client.Get("https://" + *tlsAddr + r.URL.Query().Get("to"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		fmt.Fprintf(w, "downstream said %d over HTTP/%d\n", resp.StatusCode, resp.ProtoMajor)
	})

	if *tlsAddr != "" {
		go func() {
			srv := &http.Server{Addr: *tlsAddr, Handler: mux}
			log.Fatal(srv.ListenAndServeTLS(*cert, *key))
		}()
	}
	srv := &http.Server{Addr: *addr, Handler: mux}
	if enableH2C(srv) {
		log.Printf("h2c enabled on %s", *addr)
	}
	log.Fatal(srv.ListenAndServe())
}
