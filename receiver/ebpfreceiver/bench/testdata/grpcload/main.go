// Command grpcload is the closed-loop load generator of the gRPC unary
// throughput benchmark: -workers goroutines, spread over -conns client
// connections to -target, each calling grpc.health.v1.Health/Check (the
// no-op handler of integration/testdata/grpcdemo) again as soon as its last
// call returned. It stays up between rounds, so its connections do too: each
// line "run <milliseconds>" on stdin starts a round of that length (no call
// starts after it; calls in flight finish) and is answered on stdout with
// "<calls> <errors> <elapsed nanoseconds>". -metadata-bytes > 0 sends with
// every call about that much metadata of the kind a service forwards (user
// agent, bearer token, cookie, request id), a traceparent included.
//
//	grpcload -target 127.0.0.1:9000 -conns 4 -workers 8 [-metadata-bytes 1024]
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
)

// forwarded returns metadata of about size bytes (keys and values): a
// traceparent, the usual headers of a request that came through an edge
// proxy, and a cookie padded to the size.
func forwarded(size int) metadata.MD {
	md := metadata.Pairs(
		"traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
		"x-original-user-agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
		"accept-language", "en-GB,en;q=0.9,fr;q=0.8",
		"authorization", "Bearer "+strings.Repeat("eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9", 8),
		"x-request-id", "5f0c6d1e-8a7b-4c3d-9e2f-1a0b9c8d7e6f",
		"x-forwarded-for", "203.0.113.7, 10.0.0.12",
	)
	n := 0
	for k, vs := range md {
		for _, v := range vs {
			n += len(k) + len(v)
		}
	}
	if pad := size - n - len("cookie") - len("session=; theme=dark"); pad > 0 {
		md.Append("cookie", "session="+strings.Repeat("a1b2c3d4e5f6", pad/12+1)[:pad]+"; theme=dark")
	}
	return md
}

func main() {
	target := flag.String("target", "", "server address")
	conns := flag.Int("conns", 1, "client connections")
	workers := flag.Int("workers", 8, "concurrent callers, spread over the connections")
	mdBytes := flag.Int("metadata-bytes", 0, "metadata sent with each call (0: none)")
	flag.Parse()
	if *target == "" || *conns < 1 || *workers < *conns {
		log.Fatal("want -target, -conns >= 1 and -workers >= -conns")
	}
	ctx := context.Background()
	if *mdBytes > 0 {
		ctx = metadata.NewOutgoingContext(ctx, forwarded(*mdBytes))
	}
	clients := make([]grpc_health_v1.HealthClient, *conns)
	for i := range clients {
		cc, err := grpc.NewClient(*target, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			log.Fatal(err)
		}
		defer cc.Close()
		clients[i] = grpc_health_v1.NewHealthClient(cc)
	}
	req := &grpc_health_v1.HealthCheckRequest{}
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		ms, ok := strings.CutPrefix(in.Text(), "run ")
		d, err := strconv.Atoi(ms)
		if !ok || err != nil || d <= 0 {
			log.Fatalf("want \"run <milliseconds>\", got %q", in.Text())
		}
		var calls, errs atomic.Int64
		var wg sync.WaitGroup
		start := time.Now()
		deadline := start.Add(time.Duration(d) * time.Millisecond)
		for w := range *workers {
			c := clients[w%len(clients)]
			wg.Add(1)
			go func() {
				defer wg.Done()
				for time.Now().Before(deadline) {
					if _, err := c.Check(ctx, req); err != nil {
						errs.Add(1)
						continue
					}
					calls.Add(1)
				}
			}()
		}
		wg.Wait()
		fmt.Printf("%d %d %d\n", calls.Load(), errs.Load(), time.Since(start).Nanoseconds())
	}
}
