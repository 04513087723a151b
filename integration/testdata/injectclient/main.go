// injectclient is an unmodified net/http client driven by its standard
// input, for the socket-level injection tests: each input line is a JSON
// request; requests of one session go out one at a time on that session's
// own Transport (so on one keep-alive connection), sessions run
// concurrently. Each result is one JSON line on standard output.
package main

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"
	"time"
)

type request struct {
	ID      int         `json:"id"`
	Session int         `json:"session"`
	Method  string      `json:"method"`
	URL     string      `json:"url"`
	Headers [][2]string `json:"headers"` // names sent exactly as given
	Body    []byte      `json:"body"`
	// Insecure: the session's transport skips TLS certificate checks (a
	// test server's self-signed certificate); set on its first request.
	Insecure bool `json:"insecure"`
}

type result struct {
	ID     int    `json:"id"`
	Status int    `json:"status"`
	Err    string `json:"err,omitempty"`
	Body   []byte `json:"body"`
}

type session struct {
	client *http.Client
	queue  chan request
}

func main() {
	out := json.NewEncoder(os.Stdout)
	var outMu sync.Mutex
	sessions := map[int]*session{}
	var wg sync.WaitGroup
	sc := bufio.NewScanner(os.Stdin)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var r request
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			fmt.Fprintln(os.Stderr, "bad request line:", err)
			os.Exit(2)
		}
		s := sessions[r.Session]
		if s == nil {
			tr := &http.Transport{MaxConnsPerHost: 1, MaxIdleConnsPerHost: 1, DisableCompression: true}
			if r.Insecure {
				tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: true}
			}
			s = &session{client: &http.Client{Transport: tr, Timeout: 30 * time.Second}, queue: make(chan request, 1024)}
			sessions[r.Session] = s
			wg.Add(1)
			go func() {
				defer wg.Done()
				for r := range s.queue {
					res := do(s.client, r)
					outMu.Lock()
					out.Encode(res)
					outMu.Unlock()
				}
			}()
		}
		s.queue <- r
	}
	for _, s := range sessions {
		close(s.queue)
	}
	wg.Wait()
}

func do(c *http.Client, r request) result {
	req, err := http.NewRequest(r.Method, r.URL, bytes.NewReader(r.Body))
	if err != nil {
		return result{ID: r.ID, Err: err.Error()}
	}
	if len(r.Body) == 0 {
		req.Body, req.ContentLength = nil, 0
	}
	for _, h := range r.Headers {
		req.Header[h[0]] = append(req.Header[h[0]], h[1])
	}
	resp, err := c.Do(req)
	if err != nil {
		return result{ID: r.ID, Err: err.Error()}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return result{ID: r.ID, Status: resp.StatusCode, Err: err.Error()}
	}
	return result{ID: r.ID, Status: resp.StatusCode, Body: b}
}
