// Command grpcmeta is a small grpc-go program that builds with every Go
// toolchain from 1.19 (Debian's) and every grpc-go release from v1.33 (the
// oldest Linux distributions package), for the tests of incoming trace
// context in gRPC metadata. It serves the standard health service
// (grpc.health.v1.Health, every Check answered OK) on -addr. With -client
// it instead calls Check on -target -n times, with the metadata
// "traceparent: -traceparent" and "b3: -b3" (each when set) and -pad more
// entries ("x-pad-<i>: <i>", so that the server's metadata map has more
// than one bucket or group), and prints each call's code.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net"
	"strconv"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

type health struct {
	grpc_health_v1.UnimplementedHealthServer
}

func (health) Check(context.Context, *grpc_health_v1.HealthCheckRequest) (*grpc_health_v1.HealthCheckResponse, error) {
	return &grpc_health_v1.HealthCheckResponse{Status: grpc_health_v1.HealthCheckResponse_SERVING}, nil
}

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	client := flag.Bool("client", false, "call -target instead of serving")
	target := flag.String("target", "", "address to call with -client")
	n := flag.Int("n", 1, "calls to make with -client")
	traceparent := flag.String("traceparent", "", "traceparent metadata of each call")
	b3 := flag.String("b3", "", "b3 metadata of each call")
	pad := flag.Int("pad", 0, "further metadata entries of each call")
	flag.Parse()

	if *client {
		// grpc.Dial and WithInsecure exist in every grpc-go release from
		// v1.33 (NewClient and credentials/insecure came later).
		cc, err := grpc.Dial(*target, grpc.WithInsecure()) //nolint:staticcheck // see above
		if err != nil {
			log.Fatal(err)
		}
		defer cc.Close()
		var kv []string
		if *traceparent != "" {
			kv = append(kv, "traceparent", *traceparent)
		}
		if *b3 != "" {
			kv = append(kv, "b3", *b3)
		}
		for i := 0; i < *pad; i++ {
			kv = append(kv, "x-pad-"+strconv.Itoa(i), strconv.Itoa(i))
		}
		for i := 0; i < *n; i++ {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			ctx = metadata.AppendToOutgoingContext(ctx, kv...)
			_, err := grpc_health_v1.NewHealthClient(cc).Check(ctx, &grpc_health_v1.HealthCheckRequest{})
			cancel()
			fmt.Println(status.Code(err))
		}
		return
	}
	l, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	s := grpc.NewServer()
	grpc_health_v1.RegisterHealthServer(s, health{})
	log.Fatal(s.Serve(l))
}
