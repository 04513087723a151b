// Command h2xnet serves HTTP/1.1 and h2c (prior knowledge and Upgrade)
// with golang.org/x/net/http2's own server, through its h2c package: the
// streams' handlers are run by x/net, not by net/http.
package main

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/h2c"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "listen address")
	tlsAddr := flag.String("tls-addr", "", "TLS listen address: x/net's server behind net/http's (http2.ConfigureServer)")
	cert := flag.String("cert", "", "TLS certificate (PEM)")
	key := flag.String("key", "", "TLS key (PEM)")
	flag.Parse()
	client := &http.Client{Timeout: 5 * time.Second}
	mux := http.NewServeMux()
	mux.HandleFunc("/hello", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "hello")
	})
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
	// x/net's server recovers the panic and resets the stream.
	mux.HandleFunc("/panic", func(w http.ResponseWriter, r *http.Request) {
		panic("boom")
	})
	// A panic the handler recovers itself: an ordinary 200 response.
	mux.HandleFunc("/recovered", func(w http.ResponseWriter, r *http.Request) {
		func() {
			defer func() { _ = recover() }()
			panic("handled")
		}()
		fmt.Fprintln(w, "recovered")
	})
	// A client call (HTTP/1.1) made by the handler.
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
	// A client call over h2c with x/net's own Transport (not net/http's)
	// to the path given in ?to=.
	xnet := &http2.Transport{
		AllowHTTP: true,
		DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
	}
	mux.HandleFunc("/chainxnet", func(w http.ResponseWriter, r *http.Request) {
		req, err := http.NewRequestWithContext(r.Context(), http.MethodGet, "http://"+*addr+r.URL.Query().Get("to"), nil)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		resp, err := xnet.RoundTrip(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		fmt.Fprintf(w, "downstream said %d over HTTP/%d\n", resp.StatusCode, resp.ProtoMajor)
	})
	if *tlsAddr != "" {
		srv := &http.Server{Addr: *tlsAddr, Handler: mux}
		if err := http2.ConfigureServer(srv, &http2.Server{}); err != nil {
			log.Fatal(err)
		}
		go func() { log.Fatal(srv.ListenAndServeTLS(*cert, *key)) }()
	}
	log.Fatal(http.ListenAndServe(*addr, h2c.NewHandler(mux, &http2.Server{})))
}
