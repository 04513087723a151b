// Command goebpf-demo is the small, uninstrumented Go service that `make run` watches.
// It serves an orders API that calls an inventory API over HTTP (so server spans get
// client-span children); the inventory API looks the item's stock up in an embedded
// SQLite database through database/sql (so each order's trace ends in a database client
// span). Each order also asks a second process, the pricing service (this program run
// as goebpf-pricing with -pricing), for the item's price over plain HTTP/1.1 and checks
// it is serving over gRPC (the health service that ships with grpc-go, one unary RPC),
// so an order's trace crosses two services. It fails a known share of requests with
// 500, answers unknown paths with 404, and with -load drives traffic against a running
// instance itself.
//
// It is its own module (config/demo/service/go.mod) so that the SQLite driver
// (modernc.org/sqlite, pure Go: `make run` needs no C toolchain or library) stays out of
// the collector's module.
package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

func main() {
	addr := flag.String("listen", "127.0.0.1:18080", "address to serve on")
	load := flag.String("load", "", "drive traffic against this base URL instead of serving")
	requests := flag.Int("n", 200, "with -load: number of /orders requests to send")
	failEvery := flag.Int("fail-every", 10, "every n-th order fails with 500 (0: never)")
	over := flag.Duration("over", 0, "with -load: spread the orders evenly over this long (0: as fast as they complete)")
	pricing := flag.Bool("pricing", false, "serve the pricing API instead: HTTP on -listen, gRPC (health service) on -grpc-listen")
	grpcAddr := flag.String("grpc-listen", "127.0.0.1:18091", "with -pricing: gRPC address to serve on")
	pricingHTTP := flag.String("pricing-http", "", "base URL of the pricing service's HTTP API (empty: orders do not ask for prices)")
	pricingGRPC := flag.String("pricing-grpc", "", "address of the pricing service's gRPC server (empty: orders make no gRPC call)")
	flag.Parse()

	if *pricing {
		if err := servePricing(*addr, *grpcAddr); err != nil {
			log.Fatal(err)
		}
		return
	}

	if *load != "" {
		if err := drive(*load, *requests, *over); err != nil {
			log.Fatal(err)
		}
		return
	}
	if err := serve(*addr, *failEvery, *pricingHTTP, *pricingGRPC); err != nil {
		log.Fatal(err)
	}
}

func serve(addr string, failEvery int, pricingHTTP, pricingGRPC string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	base := "http://" + ln.Addr().String()
	db, err := openInventory()
	if err != nil {
		ln.Close()
		return err
	}
	defer db.Close()
	client := &http.Client{Timeout: 5 * time.Second}
	var health healthpb.HealthClient
	if pricingGRPC != "" {
		conn, err := grpc.NewClient(pricingGRPC, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			ln.Close()
			return fmt.Errorf("pricing gRPC client for %s: %w", pricingGRPC, err)
		}
		defer conn.Close()
		health = healthpb.NewHealthClient(conn)
	}
	var mu sync.Mutex
	orders := 0

	mux := http.NewServeMux()
	mux.HandleFunc("/orders/", func(w http.ResponseWriter, r *http.Request) {
		id := r.URL.Path[len("/orders/"):]
		resp, err := client.Get(base + "/inventory/" + id)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if pricingHTTP != "" {
			resp, err := client.Get(pricingHTTP + "/price/" + id)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadGateway)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		if health != nil {
			// One unary RPC, with a deadline: is the pricing service serving?
			ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
			_, err := health.Check(ctx, &healthpb.HealthCheckRequest{Service: "pricing"})
			cancel()
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadGateway)
				return
			}
		}

		mu.Lock()
		orders++
		n := orders
		mu.Unlock()
		if failEvery > 0 && n%failEvery == 0 {
			http.Error(w, "payment backend unavailable", http.StatusInternalServerError)
			return
		}
		fmt.Fprintf(w, `{"order":%q,"status":"placed"}`, id)
	})
	mux.HandleFunc("/inventory/", func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(2 * time.Millisecond) // a little work, so durations are visible
		item := r.URL.Path[len("/inventory/"):]
		stock, err := lookUpStock(r.Context(), db, item)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		fmt.Fprintf(w, `{"item":%q,"stock":%d}`, item, stock)
	})

	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdownCtx)
	}()
	log.Printf("goebpf-demo serving on %s (pid %d)", base, os.Getpid())
	if err := srv.Serve(ln); err != http.ErrServerClosed {
		return err
	}
	return nil
}

// servePricing is the pricing service: GET /price/{item} over HTTP on httpAddr, and
// grpc-go's health service on grpcAddr, reporting "pricing" as serving.
func servePricing(httpAddr, grpcAddr string) error {
	hl, err := net.Listen("tcp", httpAddr)
	if err != nil {
		return err
	}
	gl, err := net.Listen("tcp", grpcAddr)
	if err != nil {
		hl.Close()
		return err
	}
	gs := grpc.NewServer()
	hs := health.NewServer()
	hs.SetServingStatus("pricing", healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(gs, hs)

	mux := http.NewServeMux()
	mux.HandleFunc("/price/", func(w http.ResponseWriter, r *http.Request) {
		item := r.URL.Path[len("/price/"):]
		n, _ := strconv.Atoi(item)
		fmt.Fprintf(w, `{"item":%q,"cents":%d}`, item, 100+n%50)
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		gs.GracefulStop()
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdownCtx)
	}()
	errc := make(chan error, 1)
	go func() { errc <- gs.Serve(gl) }()
	log.Printf("goebpf-pricing serving HTTP on %s, gRPC on %s (pid %d)", hl.Addr(), gl.Addr(), os.Getpid())
	if err := srv.Serve(hl); err != http.ErrServerClosed {
		return err
	}
	if err := <-errc; err != nil && err != grpc.ErrServerStopped {
		return err
	}
	return nil
}

// openInventory opens an in-memory SQLite database holding a stock table. One
// connection: every connection to ":memory:" is a database of its own.
func openInventory() (*sql.DB, error) {
	db, err := sql.Open("sqlite", ":memory:")
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	if _, err := db.Exec(`CREATE TABLE stock (item TEXT PRIMARY KEY, quantity INTEGER NOT NULL)`); err != nil {
		db.Close()
		return nil, fmt.Errorf("creating the stock table: %w", err)
	}
	if _, err := db.Exec(`WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 999)
		INSERT INTO stock (item, quantity) SELECT i, 7 + i % 5 FROM n`); err != nil {
		db.Close()
		return nil, fmt.Errorf("filling the stock table: %w", err)
	}
	return db, nil
}

// lookUpStock is the inventory API's one query: a database/sql client call made in
// the request's goroutine, so its span is a child of the inventory server span.
// Items the table does not hold have no stock.
func lookUpStock(ctx context.Context, db *sql.DB, item string) (int, error) {
	var n int
	err := db.QueryRowContext(ctx, `SELECT quantity FROM stock WHERE item = ?`, item).Scan(&n)
	if err == sql.ErrNoRows {
		return 0, nil
	}
	return n, err
}

// drive sends n order requests and a few requests for a missing page, one at a time, and
// prints how many of each status it got, so the captured spans can be checked by eye.
// With over > 0 the orders are paced to take about that long, the way steady traffic
// reaches a baseline and its canary at the same time.
func drive(base string, n int, over time.Duration) error {
	client := &http.Client{Timeout: 5 * time.Second}
	statuses := map[int]int{}
	get := func(path string) error {
		req, err := http.NewRequest(http.MethodGet, base+path, nil)
		if err != nil {
			return err
		}
		// A caller's trace context: the server span must become its child.
		// Each request is its own trace, as from a real caller.
		req.Header.Set("traceparent", newTraceparent())
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		statuses[resp.StatusCode]++
		return nil
	}
	start := time.Now()
	for i := 0; i < n; i++ {
		if over > 0 {
			if d := time.Until(start.Add(over * time.Duration(i) / time.Duration(n))); d > 0 {
				time.Sleep(d)
			}
		}
		if err := get("/orders/" + strconv.Itoa(i)); err != nil {
			return err
		}
	}
	for i := 0; i < 5; i++ {
		if err := get("/missing"); err != nil {
			return err
		}
	}
	fmt.Printf("sent %d requests: ", n+5)
	for _, code := range []int{200, 404, 500} {
		fmt.Printf("%d×%d ", statuses[code], code)
	}
	fmt.Println()
	return nil
}

// newTraceparent returns a sampled W3C traceparent with a random trace id and
// parent span id (never all zero: 16 random bytes are zero with probability 2^-128).
func newTraceparent() string {
	var b [24]byte
	_, _ = rand.Read(b[:])
	return "00-" + hex.EncodeToString(b[:16]) + "-" + hex.EncodeToString(b[16:]) + "-01"
}
