// Command frontback is the pair of services of the stitching tests, one
// binary run twice: "front" serves /work and calls back's /api over
// HTTP/1.1 (keep-alive, a pool of at most two connections) from the
// handler and from a goroutine the handler starts; "back" serves /api,
// which calls back's own /leaf, and /leaf. Every call's body is read and
// checked, so a request counts only when the whole chain answered. With a
// second address, back also serves HTTPS there (self-signed certificate,
// HTTP/1.1 only), and front, given an https URL, calls it over TLS.
//
// /work?req=<tag> passes req=<tag> on in the query of every call (back's
// /api passes its query on to /leaf), and /work?deep=1 also calls /api from
// a goroutine 8 go statements below the handler.
//
// front also serves /deep, whose call to back's /leaf is made from a
// goroutine 8 go statements below the handler, and /outlive, whose handler
// returns at once, leaving a goroutine that calls back's /leaf only when
// the next /release request (on any connection) lets it, while /release is
// being served.
//
//	frontback front <addr> <back base URL>
//	frontback back <addr> [<tls addr>]
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
	"net/url"
	"os"
	"time"
)

// client: keep-alive, at most two connections to a host; TLS without
// verification (back's certificate is self-signed) and, since a TLS config
// is set, HTTP/1.1 only.
var client = &http.Client{
	Timeout: 30 * time.Second,
	Transport: &http.Transport{
		MaxConnsPerHost: 2, MaxIdleConnsPerHost: 2,
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true},
	},
}

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

func get(url string) error {
	resp, err := client.Get(url)
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

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: frontback front <addr> <back URL> | back <addr>")
		os.Exit(2)
	}
	mux := http.NewServeMux()
	switch os.Args[1] {
	case "front":
		back := os.Args[3]
		mux.HandleFunc("/work", func(w http.ResponseWriter, r *http.Request) {
			// ?req=<tag> is passed on to back (and by back to /leaf), so
			// every span of the request says which request it serves.
			// ?deep=1 adds a call from a goroutine 8 go statements below
			// the handler, which the handler waits for.
			tag := ""
			if v := r.URL.Query().Get("req"); v != "" {
				tag = "req=" + url.QueryEscape(v) + "&"
			}
			calls := 1
			errc := make(chan error, 2)
			go func() { errc <- get(back + "/api?" + tag + "from=goroutine") }()
			if r.URL.Query().Get("deep") == "1" {
				calls++
				goBelow(8, func() { errc <- get(back + "/api?" + tag + "from=deep") })
			}
			err := get(back + "/api?" + tag + "from=handler")
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
		mux.HandleFunc("/deep", func(w http.ResponseWriter, r *http.Request) {
			errc := make(chan error, 1)
			goBelow(8, func() { errc <- get(back + "/leaf?from=deep") })
			if err := <-errc; err != nil {
				http.Error(w, err.Error(), http.StatusBadGateway)
				return
			}
			fmt.Fprintln(w, "ok")
		})
		release, released := make(chan struct{}), make(chan error)
		mux.HandleFunc("/outlive", func(w http.ResponseWriter, r *http.Request) {
			go func() {
				<-release
				released <- get(back + "/leaf?from=straggler")
			}()
			fmt.Fprintln(w, "ok")
		})
		mux.HandleFunc("/release", func(w http.ResponseWriter, r *http.Request) {
			release <- struct{}{}
			if err := <-released; err != nil {
				http.Error(w, err.Error(), http.StatusBadGateway)
				return
			}
			fmt.Fprintln(w, "ok")
		})
	case "back":
		self := "http://" + os.Args[2]
		mux.HandleFunc("/api", func(w http.ResponseWriter, r *http.Request) {
			// /api's query is passed on: /leaf's spans name the call.
			leaf := self + "/leaf"
			if r.URL.RawQuery != "" {
				leaf += "?" + r.URL.RawQuery
			}
			if err := get(leaf); err != nil {
				http.Error(w, err.Error(), http.StatusBadGateway)
				return
			}
			fmt.Fprintln(w, "api")
		})
		mux.HandleFunc("/leaf", func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintln(w, "leaf")
		})
		if len(os.Args) > 3 {
			srv := &http.Server{
				Addr: os.Args[3], Handler: mux,
				TLSConfig: &tls.Config{Certificates: []tls.Certificate{selfSigned()}},
				// HTTP/1.1 only.
				TLSNextProto: map[string]func(*http.Server, *tls.Conn, http.Handler){},
			}
			go func() {
				if err := srv.ListenAndServeTLS("", ""); err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(1)
				}
			}()
		}
	}
	if err := http.ListenAndServe(os.Args[2], mux); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
