// Command httpapp is the target program that goexe's tests and cmd/offsetgen
// build with each supported Go toolchain. It links the net/http server and
// client so that their functions and types (net/http.response, conn,
// bufio.Reader, net/url.URL, runtime.g) are in the binary and its DWARF.
// It must compile with every toolchain from Go 1.19 on.
package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
)

var leaked = make(chan int)

func handle(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/leak" {
		go func() { <-leaked }()
	}
	w.WriteHeader(http.StatusOK)
	fmt.Fprintf(w, "%s %s %s\n", r.Method, r.URL.Path, r.Proto)
}

func main() {
	if len(os.Args) < 2 {
		fmt.Println(runtime.Version())
		return
	}
	switch os.Args[1] {
	case "serve":
		http.HandleFunc("/", handle)
		if err := http.ListenAndServe(os.Args[2], nil); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	case "get":
		resp, err := http.Get(os.Args[2])
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		defer resp.Body.Close()
		_, _ = io.Copy(os.Stdout, resp.Body)
	}
}
