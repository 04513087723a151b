// Command fieldgen writes enum go_field, the BPF side of package fields'
// list of field IDs, as a C header. Run by go generate in package fields.
package main

import (
	"flag"
	"log"
	"os"

	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/fields"
)

func main() {
	out := flag.String("out", "go_fields.h", "header to write")
	flag.Parse()
	if err := os.WriteFile(*out, fields.Header(), 0o644); err != nil {
		log.Fatal(err)
	}
}
