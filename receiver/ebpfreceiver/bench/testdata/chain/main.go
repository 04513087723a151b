// Command chain is the pair of services of the collector CPU benchmark, one
// binary run twice: "front" serves /work and calls back's /api twice over
// HTTP/1.1 keep-alive connections, once from the handler and once from a
// goroutine it starts, each with ~1 KiB of request headers of the kind a
// browser-facing service forwards (cookies, a bearer token, user agent,
// request id; no traceparent: the receiver's stitching joins the spans);
// "back" serves /api. One request to front is 5 spans: front's server span,
// its two client spans, back's two server spans.
//
//	chain front <addr> <back base URL>
//	chain back <addr>
package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"
)

var client = &http.Client{
	Timeout:   30 * time.Second,
	Transport: &http.Transport{MaxIdleConnsPerHost: 64},
}

// forwarded are the headers front sends back: about 1 KiB with Go's own.
var forwarded = http.Header{
	"User-Agent":      {"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36"},
	"Accept":          {"application/json, text/plain, */*"},
	"Accept-Language": {"en-GB,en;q=0.9,fr;q=0.8"},
	"Authorization":   {"Bearer " + strings.Repeat("eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9", 8)},
	"Cookie":          {"session=" + strings.Repeat("a1b2c3d4e5f6", 20) + "; theme=dark; consent=1"},
	"X-Request-Id":    {"5f0c6d1e-8a7b-4c3d-9e2f-1a0b9c8d7e6f"},
	"X-Forwarded-For": {"203.0.113.7, 10.0.0.12"},
}

func call(url string) error {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Header = forwarded.Clone()
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	return nil
}

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: chain front <addr> <back URL> | back <addr>")
		os.Exit(2)
	}
	mux := http.NewServeMux()
	switch os.Args[1] {
	case "front":
		back := os.Args[3]
		mux.HandleFunc("GET /work", func(w http.ResponseWriter, r *http.Request) {
			errc := make(chan error, 1)
			go func() { errc <- call(back + "/api/items?from=goroutine") }()
			err := call(back + "/api/items?from=handler")
			if gerr := <-errc; err == nil {
				err = gerr
			}
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadGateway)
				return
			}
			fmt.Fprintln(w, "ok")
		})
	case "back":
		mux.HandleFunc("GET /api/items", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintln(w, `{"items":[1,2,3]}`)
		})
	default:
		fmt.Fprintf(os.Stderr, "unknown role %q\n", os.Args[1])
		os.Exit(2)
	}
	srv := &http.Server{Addr: os.Args[2], Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	if err := srv.ListenAndServe(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
