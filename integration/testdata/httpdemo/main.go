// Command httpdemo is an ordinary net/http program the ebpf receiver's
// integration tests and benchmark trace: it serves a few routes, some of
// which call a downstream HTTP server (itself by default).
package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"flag"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"os"
	"runtime"
	"strings"
	"time"

	"golang.org/x/sys/unix"
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

// workUnit is a loop of fixed cost; spin repeats it to burn a fixed amount
// of CPU, whatever else runs on the machine.
func workUnit(x int) int {
	for i := 0; i < 1000; i++ {
		x = x*31 + i
	}
	return x
}

var sink int

// unitsPerMs is calibrated at startup against the thread's CPU clock, so a
// busy machine slows the wall clock of /work but not its amount of work.
var unitsPerMs = calibrate()

func threadCPU() time.Duration {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts)
	return time.Duration(ts.Nano())
}

func calibrate() int {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	const units = 20000
	best := time.Duration(1 << 62)
	for try := 0; try < 5; try++ {
		start := threadCPU()
		for i := 0; i < units; i++ {
			sink = workUnit(sink)
		}
		if d := threadCPU() - start; d < best {
			best = d
		}
	}
	n := int(float64(units) * float64(time.Millisecond) / float64(best))
	if n < 1 {
		n = 1
	}
	return n
}

// spin does about d of CPU work, standing in for real handler work.
func spin(d time.Duration) {
	n := int(float64(unitsPerMs) * float64(d) / float64(time.Millisecond))
	x := 0
	for i := 0; i < n; i++ {
		x = workUnit(x)
	}
	sink = x
}

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "listen address")
	downstream := flag.String("downstream", "", "base URL of the downstream server (default: this server)")
	tlsAddr := flag.String("tls-addr", "", "also serve HTTPS (self-signed certificate) on this address")
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
	// /chain as a service that forwards its caller's headers (auth, request
	// ids, baggage, ...) downstream, all but its trace context: the inner
	// request's head is about as large as the caller's.
	mux.HandleFunc("GET /chainheads", func(w http.ResponseWriter, r *http.Request) {
		req, err := http.NewRequestWithContext(r.Context(), "GET", *downstream+"/hello", nil)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		for k, v := range r.Header {
			if k != "Traceparent" && k != "Tracestate" {
				req.Header[k] = v
			}
		}
		resp, err := client.Do(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		fmt.Fprintf(w, "downstream said %d\n", resp.StatusCode)
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

	// Handlers that panic: net/http recovers, logs (except for
	// ErrAbortHandler) and closes the connection without a response.
	mux.HandleFunc("GET /panic", func(w http.ResponseWriter, r *http.Request) {
		panic("boom")
	})
	mux.HandleFunc("GET /abort", func(w http.ResponseWriter, r *http.Request) {
		panic(http.ErrAbortHandler)
	})
	// A panic the handler recovers itself: an ordinary 200 response.
	mux.HandleFunc("GET /recovered", func(w http.ResponseWriter, r *http.Request) {
		func() {
			defer func() { _ = recover() }()
			panic(fmt.Errorf("handled: %s", r.URL.Path))
		}()
		fmt.Fprintln(w, "recovered")
	})
	// A client call whose URL carries credentials and signed-URL parameters.
	mux.HandleFunc("GET /signed", func(w http.ResponseWriter, r *http.Request) {
		u := strings.Replace(*downstream, "://", "://alice:s3cret@", 1) + "/hello?X-Goog-Signature=deadbeef&keep=1&sig=abc"
		code, err := call(u)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		fmt.Fprintf(w, "downstream said %d\n", code)
	})

	log.SetOutput(os.Stderr)
	if *tlsAddr != "" {
		go func() {
			tlsSrv := &http.Server{Addr: *tlsAddr, Handler: mux, TLSConfig: &tls.Config{Certificates: []tls.Certificate{selfSigned()}}}
			log.Fatal(tlsSrv.ListenAndServeTLS("", ""))
		}()
	}
	srv := &http.Server{Addr: *addr, Handler: mux}
	log.Fatal(srv.ListenAndServe())
}

// selfSigned makes a throwaway certificate for 127.0.0.1.
func selfSigned() tls.Certificate {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		log.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "httpdemo"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		log.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}
