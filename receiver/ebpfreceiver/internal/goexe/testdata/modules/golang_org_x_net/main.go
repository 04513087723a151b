// Command modapp uses the types of golang.org/x/net/http2 whose field
// offsets cmd/offsetgen records (its own server's response writer, stream
// and connection, the decoded header list of a HEADERS frame, its own
// client's stream and connection), so that they are in its DWARF: it serves
// a connection with http2.Server.ServeConn and sends a request with
// http2.Transport. It is built against every release of the module; it is
// never run.
package main

import (
	"crypto/tls"
	"net"
	"net/http"

	"golang.org/x/net/http2"
)

func main() {
	srv := &http2.Server{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return
	}
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		srv.ServeConn(c, &http2.ServeConnOpts{Handler: http.NotFoundHandler()})
	}()
	tr := &http2.Transport{
		AllowHTTP: true,
		DialTLS: func(network, addr string, _ *tls.Config) (net.Conn, error) {
			return net.Dial(network, addr)
		},
	}
	req, err := http.NewRequest(http.MethodGet, "http://"+ln.Addr().String()+"/", nil)
	if err != nil {
		return
	}
	if resp, err := tr.RoundTrip(req); err == nil {
		resp.Body.Close()
	}
}
