// Command grpcfrontback is two ordinary grpc-go services the ebpf
// receiver's gRPC stitching tests trace on one host:
//
//	grpcfrontback back ADDR [tls] [nested]
//	grpcfrontback front ADDR BACKADDR [tls] [slowheaders]
//
// back serves one service per request tag, "tag.R<n>" (n < 64, and
// "tag.Untagged"), so that a span's rpc.service says which request to
// front it serves and its rpc.method which call of that request: unary
// Handler, Goroutine and Deep answer at once, the server stream Watch
// sends one message and ends OK. With nested, each of the unary methods
// first calls <method>Inner of its service on back itself from the handler,
// over a ClientConn of its own. The messages are the standard health
// check's (grpc.health.v1), the services are registered by hand
// (grpc.ServiceDesc), the way generated code does it.
//
// front is an HTTP server whose /work?req=<n> calls back's tag.R<n> over
// one shared ClientConn: Handler and Watch (a server stream, read to its
// end) from the handler's goroutine, Goroutine from a goroutine the handler
// starts, Deep from a goroutine 8 go statements below the handler; then it
// answers 200. /dials says how many connections the ClientConn opened.
// With tls both sides speak TLS (back with a certificate made at start,
// front without verifying it). With slowheaders front's ClientConn has a
// stats handler that takes 30 ms on each RPC's OutHeader, which grpc-go
// calls inside (*http2Client).NewStream after the stream's HEADERS frame
// was queued for the writer goroutine: back's handleStream then runs before
// NewStream returns (a slow stats handler, or a loaded host, does that to
// any client). Only APIs that exist from grpc-go v1.33 on are used.
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
	"strconv"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/stats"
)

// tags is how many tagged services back serves: tag.R0 to tag.R63.
const tags = 64

// unaryMethods are the unary methods of every tag service; with nested,
// each calls its Inner counterpart first.
var unaryMethods = []string{"Handler", "Goroutine", "Deep"}

// serviceName is the service of request tag req ("" untagged).
func serviceName(req string) string {
	if req == "" {
		return "tag.Untagged"
	}
	return "tag.R" + req
}

// tagService describes service name; nested, when not nil, is the
// ClientConn its unary methods call their Inner counterparts through.
func tagService(name string, nested *grpc.ClientConn) *grpc.ServiceDesc {
	sd := &grpc.ServiceDesc{
		ServiceName: name,
		HandlerType: (*interface{})(nil),
		Streams: []grpc.StreamDesc{{
			StreamName:    "Watch",
			ServerStreams: true,
			Handler: func(_ interface{}, st grpc.ServerStream) error {
				if err := st.RecvMsg(new(grpc_health_v1.HealthCheckRequest)); err != nil {
					return err
				}
				return st.SendMsg(serving())
			},
		}},
	}
	for _, m := range unaryMethods {
		inner := "/" + name + "/" + m + "Inner"
		call := func(ctx context.Context) error {
			if nested == nil {
				return nil
			}
			return nested.Invoke(ctx, inner, &grpc_health_v1.HealthCheckRequest{Service: "inner"}, new(grpc_health_v1.HealthCheckResponse))
		}
		sd.Methods = append(sd.Methods, unaryMethod(m, call), unaryMethod(m+"Inner", nil))
	}
	return sd
}

// unaryMethod answers SERVING, after first (when not nil) succeeded.
func unaryMethod(name string, first func(context.Context) error) grpc.MethodDesc {
	return grpc.MethodDesc{
		MethodName: name,
		Handler: func(_ interface{}, ctx context.Context, dec func(interface{}) error, _ grpc.UnaryServerInterceptor) (interface{}, error) {
			if err := dec(new(grpc_health_v1.HealthCheckRequest)); err != nil {
				return nil, err
			}
			if first != nil {
				if err := first(ctx); err != nil {
					return nil, err
				}
			}
			return serving(), nil
		},
	}
}

func serving() *grpc_health_v1.HealthCheckResponse {
	return &grpc_health_v1.HealthCheckResponse{Status: grpc_health_v1.HealthCheckResponse_SERVING}
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
	var nestedCC *grpc.ClientConn
	if nested {
		nestedCC = dial(addr, useTLS, false)
	}
	s.RegisterService(tagService(serviceName(""), nestedCC), struct{}{})
	for i := 0; i < tags; i++ {
		s.RegisterService(tagService(serviceName(strconv.Itoa(i)), nestedCC), struct{}{})
	}
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

// dials counts the connections the process's ClientConns opened.
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

// dial makes a ClientConn to back.
func dial(backAddr string, useTLS, slow bool) *grpc.ClientConn {
	opts := []grpc.DialOption{grpc.WithInsecure()} //nolint:staticcheck // exists in every grpc-go version used (v1.33 on)
	if useTLS {
		opts[0] = grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{InsecureSkipVerify: true})) //nolint:gosec // a test's own certificate
	}
	if slow {
		opts = append(opts, grpc.WithStatsHandler(slowHeaders{}))
	}
	opts = append(opts, grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
		dials.Add(1)
		return (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	}))
	cc, err := grpc.Dial(backAddr, opts...) //nolint:staticcheck // see above
	if err != nil {
		log.Fatal(err)
	}
	return cc
}

func front(addr, backAddr string, useTLS, slow bool) {
	cc := dial(backAddr, useTLS, slow)
	req := &grpc_health_v1.HealthCheckRequest{Service: "front"}
	unary := func(ctx context.Context, svc, method string) error {
		return cc.Invoke(ctx, "/"+svc+"/"+method, req, new(grpc_health_v1.HealthCheckResponse))
	}
	watch := func(ctx context.Context, svc string) error {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		st, err := cc.NewStream(ctx, &grpc.StreamDesc{StreamName: "Watch", ServerStreams: true}, "/"+svc+"/Watch")
		if err != nil {
			return err
		}
		if err := st.SendMsg(req); err != nil {
			return err
		}
		if err := st.CloseSend(); err != nil {
			return err
		}
		for {
			if err := st.RecvMsg(new(grpc_health_v1.HealthCheckResponse)); err == io.EOF {
				return nil
			} else if err != nil {
				return err
			}
		}
	}
	http.HandleFunc("/work", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
		defer cancel()
		svc := serviceName(r.URL.Query().Get("req"))
		done := make(chan error, 2)
		go func() { done <- unary(ctx, svc, "Goroutine") }()
		goBelow(8, func() { done <- unary(ctx, svc, "Deep") })
		err := unary(ctx, svc, "Handler")
		if err == nil {
			err = watch(ctx, svc)
		}
		for i := 0; i < 2; i++ {
			if err2 := <-done; err == nil {
				err = err2
			}
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	http.HandleFunc("/dials", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, dials.Load())
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
