//go:build go1.24

package main

import "net/http"

// enableH2CServer: HTTP/2 with prior knowledge on a plain listener
// (net/http's own h2c, Go >= 1.24), besides HTTP/1.1.
func enableH2CServer(srv *http.Server) bool {
	srv.Protocols = new(http.Protocols)
	srv.Protocols.SetHTTP1(true)
	srv.Protocols.SetUnencryptedHTTP2(true)
	return true
}

// enableH2CClient: HTTP/2 with prior knowledge for http URLs.
func enableH2CClient(tr *http.Transport) bool {
	tr.Protocols = new(http.Protocols)
	tr.Protocols.SetUnencryptedHTTP2(true)
	return true
}
