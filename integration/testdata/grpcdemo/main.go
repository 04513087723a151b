// Command grpcdemo is an ordinary grpc-go program the ebpf receiver's tests
// trace. It serves the standard health service (grpc.health.v1.Health) on
// -addr; Check answers with the status code named by the request's service
// field ("code=5" is NOT_FOUND, "" is OK), and "call=<addr>;<service>"
// makes the handler call Check(<service>) on <addr> and answer OK whatever
// that returned (a client call inside a served RPC); "watch=<addr>" makes
// it open a Watch stream on <addr>, read it to its end and answer OK (a
// streaming client call inside a served RPC). Watch is left unimplemented
// (a streaming RPC that ends UNIMPLEMENTED). With -client it
// instead calls -target -n times (Check, or Watch with -watch) with metadata
// "traceparent: -traceparent" (when set) and each -md key=value, prints each
// code and exits. With
// -servehttp the gRPC server is served by net/http (ServeHTTP, HTTP/2
// without TLS).
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

type health struct {
	grpc_health_v1.UnimplementedHealthServer
}

func (health) Check(ctx context.Context, req *grpc_health_v1.HealthCheckRequest) (*grpc_health_v1.HealthCheckResponse, error) {
	svc := req.GetService()
	if call, ok := strings.CutPrefix(svc, "call="); ok {
		target, inner, _ := strings.Cut(call, ";")
		if _, err := check(ctx, target, inner, ""); err != nil {
			return nil, status.Error(codes.Unavailable, err.Error())
		}
		return &grpc_health_v1.HealthCheckResponse{Status: grpc_health_v1.HealthCheckResponse_SERVING}, nil
	}
	if target, ok := strings.CutPrefix(svc, "watch="); ok {
		if _, err := watch(ctx, target, ""); err != nil {
			return nil, status.Error(codes.Unavailable, err.Error())
		}
		return &grpc_health_v1.HealthCheckResponse{Status: grpc_health_v1.HealthCheckResponse_SERVING}, nil
	}
	if c, ok := strings.CutPrefix(svc, "code="); ok {
		n, err := strconv.Atoi(c)
		if err != nil {
			return nil, status.Error(codes.InvalidArgument, err.Error())
		}
		if n != 0 {
			return nil, status.Error(codes.Code(n), "requested")
		}
	}
	return &grpc_health_v1.HealthCheckResponse{Status: grpc_health_v1.HealthCheckResponse_SERVING}, nil
}

// conns keeps one client connection per target.
var (
	connsMu sync.Mutex
	conns   = map[string]*grpc.ClientConn{}
)

func conn(target string) (*grpc.ClientConn, error) {
	connsMu.Lock()
	defer connsMu.Unlock()
	if cc, ok := conns[target]; ok {
		return cc, nil
	}
	// grpc.Dial and WithInsecure exist in every grpc-go version the tests
	// build this program with (v1.33 on); NewClient and credentials/insecure
	// came later.
	cc, err := grpc.Dial(target, grpc.WithInsecure()) //nolint:staticcheck // see above
	if err != nil {
		return nil, err
	}
	conns[target] = cc
	return cc, nil
}

func check(ctx context.Context, target, service, traceparent string) (codes.Code, error) {
	cc, err := conn(target)
	if err != nil {
		return codes.Unknown, err
	}
	if traceparent != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "traceparent", traceparent)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, err = grpc_health_v1.NewHealthClient(cc).Check(ctx, &grpc_health_v1.HealthCheckRequest{Service: service})
	return status.Code(err), nil
}

// watch opens a Watch stream and returns the code it ends with.
func watch(ctx context.Context, target, traceparent string) (codes.Code, error) {
	cc, err := conn(target)
	if err != nil {
		return codes.Unknown, err
	}
	if traceparent != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "traceparent", traceparent)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	stream, err := grpc_health_v1.NewHealthClient(cc).Watch(ctx, &grpc_health_v1.HealthCheckRequest{})
	if err != nil {
		return status.Code(err), nil
	}
	for {
		if _, err := stream.Recv(); err != nil {
			return status.Code(err), nil
		}
	}
}

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	client := flag.Bool("client", false, "call -target instead of serving")
	target := flag.String("target", "", "address to call with -client")
	service := flag.String("service", "", "HealthCheckRequest.service of each call")
	n := flag.Int("n", 1, "calls to make with -client")
	traceparent := flag.String("traceparent", "", "traceparent metadata of each call")
	watchRPC := flag.Bool("watch", false, "call Watch (a server stream) instead of Check")
	serveHTTP := flag.Bool("servehttp", false, "serve through net/http (grpc.Server.ServeHTTP, unencrypted HTTP/2)")
	var md []string
	flag.Func("md", "key=value metadata of each call with -client (repeatable)", func(kv string) error {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return fmt.Errorf("want key=value, got %q", kv)
		}
		md = append(md, k, v)
		return nil
	})
	flag.Parse()

	if *client {
		ctx := context.Background()
		if len(md) > 0 {
			ctx = metadata.AppendToOutgoingContext(ctx, md...)
		}
		for range *n {
			var code codes.Code
			var err error
			if *watchRPC {
				code, err = watch(ctx, *target, *traceparent)
			} else {
				code, err = check(ctx, *target, *service, *traceparent)
			}
			if err != nil {
				log.Fatal(err)
			}
			fmt.Println(code)
		}
		return
	}
	l, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	s := grpc.NewServer()
	grpc_health_v1.RegisterHealthServer(s, health{})
	fmt.Fprintln(os.Stderr, "listening on", l.Addr())
	if *serveHTTP {
		hs := &http.Server{Handler: s, Protocols: new(http.Protocols)}
		hs.Protocols.SetUnencryptedHTTP2(true)
		log.Fatal(hs.Serve(l))
	}
	if err := s.Serve(l); err != nil {
		log.Fatal(err)
	}
}
