// Command grpcdemo is an ordinary grpc-go program the ebpf receiver's tests
// trace. It serves the standard health service (grpc.health.v1.Health) on
// -addr; Check answers with the status code named by the request's service
// field ("code=5" is NOT_FOUND, "" is OK), and "call=<addr>;<service>"
// makes the handler call Check(<service>) on <addr> and answer OK whatever
// that returned (a client call inside a served RPC); "watch=<addr>" makes
// it open a Watch stream on <addr>, read it to its end and answer OK (a
// streaming client call inside a served RPC). Watch is left unimplemented
// (a streaming RPC that ends UNIMPLEMENTED).
//
// It also serves grpcdemo.Streams, a hand-written service (no generated
// code; its messages are the health service's): Upload, a client stream
// (reads every request, answers once SERVING, ends OK), and Chat, a
// bidirectional stream (answers each request SERVING; a request whose
// service is "code=N" ends the stream with code N; the client's half-close
// ends it OK). Check with "upload=<addr>;<n>;<gap>" makes the handler
// upload n requests to <addr>, <gap> (a time.Duration) apart, and read the
// answer; "chat=<addr>;<n>;<gap>;<end>" makes it send n requests to
// <addr>'s Chat <gap> apart, reading each answer, then end the stream by
// <end>: "ok" (half-close, read to the end), "code=N" (a last request
// asking for code N) or "cancel" (cancel the stream's context). Both answer
// OK whatever the stream ended with (INVALID_ARGUMENT for malformed
// arguments), and log that code on stderr.
//
// With -client it instead calls -target -n times (Check, or Watch with
// -watch) with metadata "traceparent: -traceparent" (when set) and each
// -md key=value, prints each
// code and exits. With
// -servehttp the gRPC server is served by net/http (ServeHTTP, HTTP/2
// without TLS).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
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
	if kind, args, _ := strings.Cut(svc, "="); kind == "upload" || kind == "chat" {
		open := upload
		if kind == "chat" {
			open = chat
		}
		code, err := open(ctx, strings.Split(args, ";"))
		if err != nil {
			return nil, status.Error(codes.InvalidArgument, err.Error())
		}
		log.Printf("%s: %v", kind, code)
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

// grpcdemo.Streams, described by hand the way generated code would
// (grpc.ServiceDesc and grpc.StreamDesc exist in every grpc-go version
// the tests build this program with).
const (
	streamsService = "grpcdemo.Streams"
	uploadMethod   = "/" + streamsService + "/Upload"
	chatMethod     = "/" + streamsService + "/Chat"
)

var (
	uploadDesc   = grpc.StreamDesc{StreamName: "Upload", Handler: serveUpload, ClientStreams: true}
	chatDesc     = grpc.StreamDesc{StreamName: "Chat", Handler: serveChat, ClientStreams: true, ServerStreams: true}
	streamsDesc  = grpc.ServiceDesc{ServiceName: streamsService, HandlerType: (*interface{})(nil), Streams: []grpc.StreamDesc{uploadDesc, chatDesc}, Metadata: "grpcdemo"}
	servingReply = &grpc_health_v1.HealthCheckResponse{Status: grpc_health_v1.HealthCheckResponse_SERVING}
)

// serveUpload reads requests to the client's half-close and answers once.
func serveUpload(_ interface{}, s grpc.ServerStream) error {
	for {
		req := new(grpc_health_v1.HealthCheckRequest)
		err := s.RecvMsg(req)
		if err == io.EOF {
			return s.SendMsg(servingReply)
		}
		if err != nil {
			return err
		}
	}
}

// serveChat answers each request, ends with the code a "code=N" request
// asks for, OK at the client's half-close, and with the error a read
// returns otherwise (the client's cancellation: CANCELLED).
func serveChat(_ interface{}, s grpc.ServerStream) error {
	for {
		req := new(grpc_health_v1.HealthCheckRequest)
		err := s.RecvMsg(req)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if c := strings.TrimPrefix(req.GetService(), "code="); c != req.GetService() {
			n, err := strconv.Atoi(c)
			if err != nil {
				return status.Error(codes.InvalidArgument, err.Error())
			}
			return status.Error(codes.Code(n), "requested")
		}
		if err := s.SendMsg(servingReply); err != nil {
			return err
		}
	}
}

// streamArgs parses "<addr>;<n>;<gap>[;<end>]" split at ';'.
func streamArgs(args []string, want int) (target string, n int, gap time.Duration, err error) {
	if len(args) != want {
		return "", 0, 0, fmt.Errorf("%d arguments %q, want %d", len(args), args, want)
	}
	if n, err = strconv.Atoi(args[1]); err != nil {
		return "", 0, 0, err
	}
	if gap, err = time.ParseDuration(args[2]); err != nil {
		return "", 0, 0, err
	}
	return args[0], n, gap, nil
}

// upload streams n requests, gap apart, to target's Upload, half-closes
// and returns the code the stream ended with.
func upload(ctx context.Context, args []string) (codes.Code, error) {
	target, n, gap, err := streamArgs(args, 3)
	if err != nil {
		return codes.Unknown, err
	}
	cc, err := conn(target)
	if err != nil {
		return codes.Unknown, err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	s, err := cc.NewStream(ctx, &uploadDesc, uploadMethod)
	if err != nil {
		return status.Code(err), nil
	}
	for i := 0; i < n; i++ {
		if i > 0 {
			time.Sleep(gap)
		}
		// A failed send (io.EOF) means the stream ended: RecvMsg says how.
		if err := s.SendMsg(&grpc_health_v1.HealthCheckRequest{Service: "part"}); err != nil {
			break
		}
	}
	if err := s.CloseSend(); err != nil {
		return status.Code(err), nil
	}
	return status.Code(s.RecvMsg(new(grpc_health_v1.HealthCheckResponse))), nil
}

// chat exchanges n requests and answers, gap apart, on target's Chat, then
// ends the stream as args[3] says, and returns the code it ended with.
func chat(ctx context.Context, args []string) (codes.Code, error) {
	target, n, gap, err := streamArgs(args, 4)
	if err != nil {
		return codes.Unknown, err
	}
	end := args[3]
	if end != "ok" && end != "cancel" && !strings.HasPrefix(end, "code=") {
		return codes.Unknown, fmt.Errorf("chat end %q: want ok, cancel or code=N", end)
	}
	cc, err := conn(target)
	if err != nil {
		return codes.Unknown, err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	s, err := cc.NewStream(ctx, &chatDesc, chatMethod)
	if err != nil {
		return status.Code(err), nil
	}
	for i := 0; i < n; i++ {
		if i > 0 {
			time.Sleep(gap)
		}
		if err := s.SendMsg(&grpc_health_v1.HealthCheckRequest{Service: "ping"}); err != nil {
			break
		}
		if err := s.RecvMsg(new(grpc_health_v1.HealthCheckResponse)); err != nil {
			return status.Code(err), nil
		}
	}
	switch {
	case end == "cancel":
		stop()
	case end == "ok":
		if err := s.CloseSend(); err != nil {
			return status.Code(err), nil
		}
	default:
		if err := s.SendMsg(&grpc_health_v1.HealthCheckRequest{Service: end}); err != nil {
			return status.Code(err), nil
		}
	}
	for {
		if err := s.RecvMsg(new(grpc_health_v1.HealthCheckResponse)); err != nil {
			if err == io.EOF {
				return codes.OK, nil
			}
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
	s.RegisterService(&streamsDesc, struct{}{})
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
