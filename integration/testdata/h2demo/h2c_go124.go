//go:build go1.24

package main

import "net/http"

// enableH2C lets the plain listener take HTTP/2 with prior knowledge
// (net/http's own h2c, Go >= 1.24), besides HTTP/1.1.
func enableH2C(srv *http.Server) bool {
	srv.Protocols = new(http.Protocols)
	srv.Protocols.SetHTTP1(true)
	srv.Protocols.SetUnencryptedHTTP2(true)
	return true
}
