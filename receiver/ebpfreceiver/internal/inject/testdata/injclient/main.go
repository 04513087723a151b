// injclient is the instrumented application of the inject package's tests.
// It is run inside a cgroup the test made and takes its orders on stdin, one
// line each, so the test can offer a trace context for the exact connection
// before each write:
//
//	injclient raw <addr> <spec.json>  writes the spec's chunks, one write each
//	injclient http <addr> <n>         n GETs through net/http on one keep-alive connection
//
// It waits for "go" before connecting (so the test can track it), prints
// "conn <local> <remote>" once connected, waits for "go" before each step, answers "ok", and ends with "done <responses> <status 2xx>".
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
)

// spec is what the raw mode sends: each write is one Write call; methods
// lists the requests in order, so their responses can be read.
type spec struct {
	Writes  [][]byte `json:"writes"`
	Methods []string `json:"methods"`
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
	await() // the test tracks this process first
	c, err := net.Dial("tcp4", addr)
	if err != nil {
		return err
	}
	defer c.Close()
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
		if _, err := c.Write(w); err != nil {
			return fmt.Errorf("write %d: %w", i, err)
		}
		fmt.Println("ok")
	}
	wg.Wait()
	if readErr != nil {
		return readErr
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
	await() // the test tracks this process first
	var ok int
	for i := 0; i < n; i++ {
		if i > 0 {
			await() // the test offers (or not) this request's context
		}
		resp, err := client.Get("http://" + addr + "/req/" + strconv.Itoa(i))
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
