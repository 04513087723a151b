// Command h2xnet serves HTTP/1.1 and h2c (prior knowledge and Upgrade)
// with golang.org/x/net/http2's own server, through its h2c package: the
// streams' handlers are run by x/net, not by net/http.
package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"strconv"
	"strings"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/h2c"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "listen address")
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
	mux.HandleFunc("/fail", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "boom", http.StatusInternalServerError)
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
	log.Fatal(http.ListenAndServe(*addr, h2c.NewHandler(mux, &http2.Server{})))
}
