// Command grpcfrontback is two ordinary grpc-go services the ebpf
// receiver's gRPC stitching tests trace on one host:
//
//	grpcfrontback back ADDR [tls] [nested]
//	grpcfrontback front ADDR BACKADDR [tls] [slowheaders]
//
// back serves the standard health service (grpc.health.v1.Health): Check
// answers SERVING, Watch sends one SERVING message and ends OK; with nested
// Check first calls back's own Check (service "inner") from the handler,
// over a ClientConn of its own. front is an
// HTTP server whose /work calls back over one shared ClientConn: Check from
// the handler's goroutine, Watch (a server stream, read to its end) from
// the handler's goroutine, and Check from a goroutine the handler starts
// (a descendant goroutine), then answers 200. With tls both sides speak
// TLS (back with a certificate made at start, front without verifying it).
// With slowheaders front's ClientConn has a stats handler that takes 30 ms
// on each RPC's OutHeader, which grpc-go calls inside
// (*http2Client).NewStream after the stream's HEADERS frame was queued for
// the writer goroutine: back's handleStream then runs before NewStream
// returns (a slow stats handler, or a loaded host, does that to any
// client). Only APIs that exist from grpc-go v1.33 on are used.
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
	"log"
	"math/big"
	"net"
	"net/http"
	"os"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/stats"
)

type health struct {
	grpc_health_v1.UnimplementedHealthServer
	// nested: Check, unless for service "inner", first calls Check for
	// "inner" on back itself through it (a child of the server span).
	nested grpc_health_v1.HealthClient
}

func (h health) Check(ctx context.Context, req *grpc_health_v1.HealthCheckRequest) (*grpc_health_v1.HealthCheckResponse, error) {
	if h.nested != nil && req.GetService() != "inner" {
		if _, err := h.nested.Check(ctx, &grpc_health_v1.HealthCheckRequest{Service: "inner"}); err != nil {
			return nil, err
		}
	}
	return &grpc_health_v1.HealthCheckResponse{Status: grpc_health_v1.HealthCheckResponse_SERVING}, nil
}

func (health) Watch(_ *grpc_health_v1.HealthCheckRequest, s grpc_health_v1.Health_WatchServer) error {
	return s.Send(&grpc_health_v1.HealthCheckResponse{Status: grpc_health_v1.HealthCheckResponse_SERVING})
}

// selfSigned makes a certificate for 127.0.0.1.
func selfSigned() tls.Certificate {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		log.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "back"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		log.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func back(addr string, useTLS, nested bool) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		log.Fatal(err)
	}
	var opts []grpc.ServerOption
	if useTLS {
		opts = append(opts, grpc.Creds(credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{selfSigned()}})))
	}
	s := grpc.NewServer(opts...)
	var h health
	if nested {
		h.nested = grpc_health_v1.NewHealthClient(dial(addr, useTLS, false))
	}
	grpc_health_v1.RegisterHealthServer(s, h)
	log.Fatal(s.Serve(l))
}

// slowHeaders is a stats handler slow on the client's OutHeader.
type slowHeaders struct{}

func (slowHeaders) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context { return ctx }
func (slowHeaders) HandleRPC(_ context.Context, s stats.RPCStats) {
	if _, ok := s.(*stats.OutHeader); ok {
		time.Sleep(30 * time.Millisecond)
	}
}
func (slowHeaders) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context { return ctx }
func (slowHeaders) HandleConn(context.Context, stats.ConnStats)                       {}

// dial makes a ClientConn to back.
func dial(backAddr string, useTLS, slow bool) *grpc.ClientConn {
	opts := []grpc.DialOption{grpc.WithInsecure()} //nolint:staticcheck // exists in every grpc-go version used (v1.33 on)
	if useTLS {
		opts[0] = grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{InsecureSkipVerify: true})) //nolint:gosec // a test's own certificate
	}
	if slow {
		opts = append(opts, grpc.WithStatsHandler(slowHeaders{}))
	}
	cc, err := grpc.Dial(backAddr, opts...) //nolint:staticcheck // see above
	if err != nil {
		log.Fatal(err)
	}
	return cc
}

func front(addr, backAddr string, useTLS, slow bool) {
	hc := grpc_health_v1.NewHealthClient(dial(backAddr, useTLS, slow))
	check := func(ctx context.Context) error {
		_, err := hc.Check(ctx, &grpc_health_v1.HealthCheckRequest{Service: "front"})
		return err
	}
	watch := func(ctx context.Context) error {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		st, err := hc.Watch(ctx, &grpc_health_v1.HealthCheckRequest{Service: "front"})
		if err != nil {
			return err
		}
		for {
			if _, err := st.Recv(); err == io.EOF {
				return nil
			} else if err != nil {
				return err
			}
		}
	}
	http.HandleFunc("/work", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
		defer cancel()
		done := make(chan error, 1)
		go func() { done <- check(ctx) }()
		err := check(ctx)
		if err == nil {
			err = watch(ctx)
		}
		if err2 := <-done; err == nil {
			err = err2
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	log.Fatal(http.ListenAndServe(addr, nil))
}

func main() {
	if len(os.Args) < 3 {
		log.Fatal("usage: grpcfrontback back ADDR [tls] | front ADDR BACKADDR [tls]")
	}
	opt := map[string]bool{}
	for _, a := range os.Args[3:] {
		opt[a] = true
	}
	switch os.Args[1] {
	case "back":
		back(os.Args[2], opt["tls"], opt["nested"])
	case "front":
		if len(os.Args) < 4 {
			log.Fatal("front needs BACKADDR")
		}
		front(os.Args[2], os.Args[3], opt["tls"], opt["slowheaders"])
	default:
		log.Fatalf("unknown role %q", os.Args[1])
	}
}
