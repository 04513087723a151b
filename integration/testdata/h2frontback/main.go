// Command h2frontback is the pair of services of the HTTP/2 stitching
// tests, one binary run twice. "front" serves /work over HTTP/1.1 and calls
// back's /api over HTTP/2 twice per request, at the same time: once from
// the handler and once from a goroutine the handler starts. Every
// call goes through one Transport allowed one connection to back, so
// concurrent requests are concurrent streams of one kept-alive connection.
// /work?ms=<d> makes back answer each call after d ms. "back" serves /api
// and /leaf over HTTP/2: with TLS (ALPN h2, net/http's bundled server) or
// h2c with prior knowledge (Go >= 1.24); /api calls back's own /leaf over
// HTTP/2 (the same way front calls back). Every call's body is read and
// checked, so a request counts only when the whole chain answered over
// HTTP/2. /work?req=<tag> passes req=<tag> on in the query of every call,
// /work?deep=1 also calls /api from a goroutine 8 go statements below the
// handler. Both serve /dials: how many connections their client opened.
// It must compile with Go 1.19 (TLS only).
//
//	h2frontback front <addr> <back base URL: https://... or http://... for h2c>
//	h2frontback back <addr> tls|h2c
package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

func selfSigned() tls.Certificate {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		panic(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// newClient returns the one client of front: HTTP/2 over TLS for https
// URLs (certificate not verified: back's is self-signed), h2c with prior
// knowledge for http URLs; one connection to back.
func newClient(h2c bool) *http.Client {
	tr := &http.Transport{
		MaxConnsPerHost:   1,
		ForceAttemptHTTP2: true,
		TLSClientConfig:   &tls.Config{InsecureSkipVerify: true},
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			dials.Add(1)
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		},
	}
	if h2c && !enableH2CClient(tr) {
		fmt.Fprintln(os.Stderr, "h2c needs Go >= 1.24")
		os.Exit(2)
	}
	return &http.Client{Timeout: 30 * time.Second, Transport: tr}
}

// dials counts the connections the process's client opened (served at
// /dials): a test checks that its calls went over a connection opened
// before it started tracing.
var dials atomic.Int64

// goBelow runs f in a goroutine depth go statements below the caller.
func goBelow(depth int, f func()) {
	go func() {
		if depth == 1 {
			f()
			return
		}
		goBelow(depth-1, f)
	}()
}

func get(c *http.Client, url, want string) error {
	resp, err := c.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK || resp.ProtoMajor != 2 || strings.TrimSpace(string(body)) != want {
		return fmt.Errorf("%s: %s over HTTP/%d: %q", url, resp.Status, resp.ProtoMajor, body)
	}
	return nil
}

func main() {
	if len(os.Args) < 4 {
		fmt.Fprintln(os.Stderr, "usage: h2frontback front <addr> <back URL> | back <addr> tls|h2c")
		os.Exit(2)
	}
	mux := http.NewServeMux()
	srv := &http.Server{Addr: os.Args[2], Handler: mux}
	mux.HandleFunc("/dials", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, dials.Load())
	})
	switch os.Args[1] {
	case "front":
		back := os.Args[3]
		client := newClient(strings.HasPrefix(back, "http://"))
		mux.HandleFunc("/work", func(w http.ResponseWriter, r *http.Request) {
			// ?ms=<d> is passed on: back answers after d ms. ?req=<tag>
			// is passed on too (and by back to /leaf): every span of the
			// request says which request it serves. ?deep=1 adds a call
			// from a goroutine 8 go statements below the handler.
			ms, tag := "", ""
			if v := r.URL.Query().Get("ms"); v != "" {
				ms = "&ms=" + v
			}
			if v := r.URL.Query().Get("req"); v != "" {
				tag = "req=" + url.QueryEscape(v) + "&"
			}
			calls := 1
			errc := make(chan error, 2)
			go func() { errc <- get(client, back+"/api?"+tag+"from=goroutine"+ms, "api") }()
			if r.URL.Query().Get("deep") == "1" {
				calls++
				goBelow(8, func() { errc <- get(client, back+"/api?"+tag+"from=deep"+ms, "api") })
			}
			err := get(client, back+"/api?"+tag+"from=handler"+ms, "api")
			for i := 0; i < calls; i++ {
				if gerr := <-errc; err == nil {
					err = gerr
				}
			}
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadGateway)
				return
			}
			fmt.Fprintln(w, "ok")
		})
		if err := srv.ListenAndServe(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	case "back":
		self := "https://" + os.Args[2]
		if os.Args[3] == "h2c" {
			self = "http://" + os.Args[2]
		}
		client := newClient(os.Args[3] == "h2c")
		mux.HandleFunc("/api", func(w http.ResponseWriter, r *http.Request) {
			// ?ms=<d>: long enough for the streams of concurrent requests
			// to overlap.
			if ms, err := strconv.Atoi(r.URL.Query().Get("ms")); err == nil {
				time.Sleep(time.Duration(ms) * time.Millisecond)
			}
			tag := ""
			if v := r.URL.Query().Get("req"); v != "" {
				tag = "req=" + url.QueryEscape(v) + "&"
			}
			if err := get(client, self+"/leaf?"+tag+"from="+r.URL.Query().Get("from"), "leaf"); err != nil {
				http.Error(w, err.Error(), http.StatusBadGateway)
				return
			}
			fmt.Fprintln(w, "api")
		})
		mux.HandleFunc("/leaf", func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintln(w, "leaf")
		})
		var err error
		switch os.Args[3] {
		case "tls":
			srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{selfSigned()}}
			err = srv.ListenAndServeTLS("", "")
		case "h2c":
			if !enableH2CServer(srv) {
				fmt.Fprintln(os.Stderr, "h2c needs Go >= 1.24")
				os.Exit(2)
			}
			err = srv.ListenAndServe()
		default:
			fmt.Fprintf(os.Stderr, "unknown mode %q\n", os.Args[3])
			os.Exit(2)
		}
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
