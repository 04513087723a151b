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
// HTTP/2. It must compile with Go 1.19 (TLS only).
//
//	h2frontback front <addr> <back base URL: https://... or http://... for h2c>
//	h2frontback back <addr> tls|h2c
package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"os"
	"strconv"
	"strings"
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
	}
	if h2c && !enableH2CClient(tr) {
		fmt.Fprintln(os.Stderr, "h2c needs Go >= 1.24")
		os.Exit(2)
	}
	return &http.Client{Timeout: 30 * time.Second, Transport: tr}
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
	switch os.Args[1] {
	case "front":
		back := os.Args[3]
		client := newClient(strings.HasPrefix(back, "http://"))
		mux.HandleFunc("/work", func(w http.ResponseWriter, r *http.Request) {
			// ?ms=<d> is passed on: back answers after d ms.
			ms := ""
			if v := r.URL.Query().Get("ms"); v != "" {
				ms = "&ms=" + v
			}
			errc := make(chan error, 1)
			go func() { errc <- get(client, back+"/api?from=goroutine"+ms, "api") }()
			err := get(client, back+"/api?from=handler"+ms, "api")
			if gerr := <-errc; err == nil {
				err = gerr
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
			if err := get(client, self+"/leaf?from="+r.URL.Query().Get("from"), "leaf"); err != nil {
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
