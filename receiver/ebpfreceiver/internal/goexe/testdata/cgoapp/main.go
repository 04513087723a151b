// Command cgoapp is httpapp with a C function linked in (external linking).
// It is built only with the host toolchain, in the cgo test case.
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
		fmt.Println(runtime.Version(), cgoAnswer())
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
