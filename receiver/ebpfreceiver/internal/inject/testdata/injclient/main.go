// injclient is the instrumented application of the inject package's tests.
// It is run inside a cgroup the test made and takes its orders on stdin, one
// line each, so the test can offer a trace context for the exact connection
// before each write:
//
//	injclient raw <addr> <spec.json>  writes the spec's chunks, one write each
//	injclient http <addr> <n>         n GETs through net/http on one keep-alive connection
//	injclient bench-heads <addr> <n>  n writes of a ~1 KiB request head each
//	injclient bench-body <addr> <n>   one head declaring a large body, then n 1 KiB body writes
//	injclient bench-stepped <addr> <n> as bench-heads, waiting for "go" before each write
//	injclient bench-pair <addr> <n>   two connections, made before and after the test moves
//	                                  the process to another cgroup; n head writes on each,
//	                                  interleaved in blocks of 100, each block starting with the
//	                                  other one; "result-pair <ns A> <ns B> <n>" in thread CPU time
//
// INJCLIENT_POST_BYTES=n makes the http mode POST n-byte bodies instead.
// INJCLIENT_SNDBUF=n sets the raw mode's socket send buffer (SO_SNDBUF).
// The bench modes time each write call and end with "result <ns> <writes>".
//
// It waits for "go" before connecting (so the test can track it), prints
// "conn <local> <remote>" once connected, waits for "go" before each step,
// answers "ok", and ends with "done <responses> <status 2xx>".
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// spec is what the raw mode sends: each write is one Write call; methods
// lists the requests in order, so their responses can be read.
type spec struct {
	Writes  [][]byte `json:"writes"`
	Methods []string `json:"methods"`
	// Sendfile marks writes sent from a file with io.Copy, which Go turns
	// into sendfile(2) on a TCP connection.
	Sendfile []bool `json:"sendfile"`
	// Hold makes it wait for one more "go" before closing the connection,
	// so the test can act on a connection that is still open.
	Hold bool `json:"hold"`
}

var stdin = bufio.NewScanner(os.Stdin)

func await() {
	if !stdin.Scan() || stdin.Text() != "go" {
		fmt.Fprintln(os.Stderr, "injclient: no go from the test")
		os.Exit(3)
	}
}

func main() {
	if len(os.Args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: injclient raw|http <addr> <spec|n>")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "raw":
		err = raw(os.Args[2], os.Args[3])
	case "http":
		err = viaHTTP(os.Args[2], os.Args[3])
	case "bench-heads", "bench-body", "bench-stepped":
		err = bench(os.Args[1], os.Args[2], os.Args[3])
	case "bench-pair":
		err = benchPair(os.Args[2], os.Args[3])
	default:
		err = fmt.Errorf("unknown mode %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "injclient:", err)
		os.Exit(1)
	}
}

func raw(addr, specPath string) error {
	b, err := os.ReadFile(specPath)
	if err != nil {
		return err
	}
	var s spec
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	await()                         // the test tracks this process first
	c, err := net.Dial("tcp", addr) // IPv4 or IPv6, as the address is
	if err != nil {
		return err
	}
	defer c.Close()
	if v := os.Getenv("INJCLIENT_SNDBUF"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return err
		}
		if err := c.(*net.TCPConn).SetWriteBuffer(n); err != nil {
			return err
		}
	}
	fmt.Printf("conn %s %s\n", c.LocalAddr(), c.RemoteAddr())

	var wg sync.WaitGroup
	var responses, ok int
	var readErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		br := bufio.NewReader(c)
		for _, m := range s.Methods {
			resp, err := http.ReadResponse(br, &http.Request{Method: m})
			if err != nil {
				readErr = fmt.Errorf("response %d: %w", responses, err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			responses++
			if resp.StatusCode/100 == 2 {
				ok++
			}
		}
	}()
	for i, w := range s.Writes {
		await()
		if i < len(s.Sendfile) && s.Sendfile[i] {
			if err := sendFile(c, w); err != nil {
				return fmt.Errorf("sendfile %d: %w", i, err)
			}
		} else if _, err := c.Write(w); err != nil {
			return fmt.Errorf("write %d: %w", i, err)
		}
		fmt.Println("ok")
	}
	wg.Wait()
	if readErr != nil {
		return readErr
	}
	if s.Hold {
		await()
	}
	fmt.Printf("done %d %d\n", responses, ok)
	return nil
}

func viaHTTP(addr, count string) error {
	n, err := strconv.Atoi(count)
	if err != nil {
		return err
	}
	tr := &http.Transport{
		MaxConnsPerHost: 1,
		DialContext: func(ctx context.Context, network, a string) (net.Conn, error) {
			c, err := (&net.Dialer{}).DialContext(ctx, "tcp4", a)
			if err != nil {
				return nil, err
			}
			// The test offers the first request's context for this
			// 4-tuple before anything is written.
			fmt.Printf("conn %s %s\n", c.LocalAddr(), c.RemoteAddr())
			await()
			return c, nil
		},
	}
	client := &http.Client{Transport: tr}
	postBytes := 0
	if v := os.Getenv("INJCLIENT_POST_BYTES"); v != "" {
		if postBytes, err = strconv.Atoi(v); err != nil {
			return err
		}
	}
	await() // the test tracks this process first
	var ok int
	for i := 0; i < n; i++ {
		if i > 0 {
			await() // the test offers (or not) this request's context
		}
		url := "http://" + addr + "/req/" + strconv.Itoa(i)
		var resp *http.Response
		if postBytes > 0 {
			body := bytes.Repeat([]byte("\r\n\r\nGET / HTTP/1.1\r\n"), postBytes/20+1)[:postBytes]
			resp, err = client.Post(url, "application/octet-stream", bytes.NewReader(body))
		} else {
			resp, err = client.Get(url)
		}
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode/100 == 2 {
			ok++
		}
		fmt.Println("ok")
	}
	fmt.Printf("done %d %d\n", n, ok)
	return nil
}

// benchHead is a realistic ~1 KiB request head.
func benchHead(i int) []byte {
	h := fmt.Sprintf("GET /api/v1/orders/%d?expand=items HTTP/1.1\r\nHost: orders.internal:8080\r\n"+
		"User-Agent: Go-http-client/1.1\r\nAccept: application/json\r\nAccept-Encoding: gzip\r\n", i)
	for j := 0; len(h) < 1000; j++ {
		h += fmt.Sprintf("X-Header-%d: %064d\r\n", j, j)
	}
	return []byte(h + "\r\n")
}

func bench(mode, addr, count string) error {
	n, err := strconv.Atoi(count)
	if err != nil {
		return err
	}
	await()
	c, err := net.Dial("tcp4", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	fmt.Printf("conn %s %s\n", c.LocalAddr(), c.RemoteAddr())
	body := make([]byte, 1024)
	for i := range body {
		body[i] = byte('a' + i%26)
	}
	var total time.Duration
	if mode == "bench-body" {
		await()
		if _, err := fmt.Fprintf(c, "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", n*len(body)); err != nil {
			return err
		}
	} else if mode == "bench-heads" {
		await()
	}
	for i := 0; i < n; i++ {
		w := body
		if mode != "bench-body" {
			w = benchHead(i)
		}
		if mode == "bench-stepped" {
			await()
		}
		start := time.Now()
		if _, err := c.Write(w); err != nil {
			return fmt.Errorf("write %d: %w", i, err)
		}
		total += time.Since(start)
		if mode == "bench-stepped" {
			fmt.Println("ok")
		}
	}
	fmt.Printf("result %d %d\n", total.Nanoseconds(), n)
	return nil
}

// sendFile sends b through a temporary file: io.Copy from an *os.File to a
// *net.TCPConn uses sendfile(2).
func sendFile(c net.Conn, b []byte) error {
	f, err := os.CreateTemp("", "injclient-")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	if _, err := f.Write(b); err != nil {
		return err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	n, err := io.Copy(c, f)
	if err == nil && n != int64(len(b)) {
		err = fmt.Errorf("sent %d of %d bytes", n, len(b))
	}
	return err
}

// benchPair times head writes on two connections of one process, created in
// two cgroups (the test moves the process between the dials): the same
// process, caches and scheduling, one socket seen by the cgroup's sockops
// program and one not.
func benchPair(addr, count string) error {
	n, err := strconv.Atoi(count)
	if err != nil {
		return err
	}
	var conns [2]net.Conn
	for i := range conns {
		await()
		if conns[i], err = net.Dial("tcp4", addr); err != nil {
			return err
		}
		defer conns[i].Close()
		fmt.Printf("conn %s %s\n", conns[i].LocalAddr(), conns[i].RemoteAddr())
	}
	await()
	// CPU time of this thread, not wall time: a write the scheduler
	// preempts would otherwise carry the other processes' time.
	runtime.LockOSThread()
	cpu := func() time.Duration {
		var ts unix.Timespec
		if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
			panic(err)
		}
		return time.Duration(ts.Nano())
	}
	var total [2]time.Duration
	const block = 100
	for done := 0; done < n; done += block {
		for k := range conns {
			i := (k + done/block) % 2 // each block, the other connection first
			c := conns[i]
			for j := done; j < min(n, done+block); j++ {
				w := benchHead(j)
				start := cpu()
				if _, err := c.Write(w); err != nil {
					return fmt.Errorf("write %d on connection %d: %w", j, i, err)
				}
				total[i] += cpu() - start
			}
		}
	}
	fmt.Printf("result-pair %d %d %d\n", total[0].Nanoseconds(), total[1].Nanoseconds(), n)
	return nil
}
