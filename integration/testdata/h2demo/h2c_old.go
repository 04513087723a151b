//go:build !go1.24

package main

import "net/http"

// enableH2C: net/http has no h2c of its own before Go 1.24.
func enableH2C(*http.Server) bool { return false }
