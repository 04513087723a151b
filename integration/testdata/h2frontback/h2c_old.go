//go:build !go1.24

package main

import "net/http"

// net/http has no h2c of its own before Go 1.24.
func enableH2CServer(*http.Server) bool    { return false }
func enableH2CClient(*http.Transport) bool { return false }
