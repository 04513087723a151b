// Command tracediff compares two OTLP trace exports, as the collector's file
// exporter writes them (JSON lines or length-prefixed proto, zstd-compressed
// per message or as a whole, or gzip), trace by trace and span by span:
//
//	tracediff [-ignore pattern,...] [-memory 256MiB] [-details 50] expected.jsonl actual.jsonl
//
// It prints the differences (traces and spans missing from or extra in the
// second file, spans written more than once, spans whose fields differ) and a
// summary line, and exits 0 when the files hold the same spans, 1 when they
// differ, 2 on error. Files larger than memory are partitioned on disk by
// trace ID first.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/otelcol-goebpf/otelcol-goebpf/internal/tracediff"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("tracediff", flag.ContinueOnError)
	fs.SetOutput(stderr)
	ignore := fs.String("ignore", "", "comma-separated field names or patterns to leave out, e.g. 'attributes.tailsampling.*,resource.host.name'")
	memory := fs.String("memory", "256MiB", "memory for span records of one bucket (KiB, MiB, GiB suffixes)")
	details := fs.Int("details", 50, "difference lines to print at most")
	tmp := fs.String("tmpdir", "", "directory for the bucket files (default: the system's temp dir)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: tracediff [flags] expected actual\nexit status: 0 same spans, 1 different, 2 error")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 2 {
		fs.Usage()
		return 2
	}
	budget, err := parseSize(*memory)
	if err != nil {
		fmt.Fprintf(stderr, "tracediff: -memory %q: %v\n", *memory, err)
		return 2
	}
	opts := tracediff.Options{MemoryBudget: budget, MaxDetails: *details, TempDir: *tmp}
	if *ignore != "" {
		opts.Ignore = strings.Split(*ignore, ",")
	}
	rep, err := tracediff.Compare(fs.Arg(0), fs.Arg(1), opts)
	if err != nil {
		fmt.Fprintf(stderr, "tracediff: %v\n", err)
		return 2
	}
	for _, d := range rep.Details {
		fmt.Fprintln(stdout, d)
	}
	if rep.Truncated > 0 {
		fmt.Fprintf(stdout, "... and %d more differences\n", rep.Truncated)
	}
	fmt.Fprintln(stdout, rep.Summary())
	if !rep.Equal() {
		return 1
	}
	return 0
}

func parseSize(s string) (int64, error) {
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		m      int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}} {
		if v, ok := strings.CutSuffix(s, u.suffix); ok {
			s, mult = v, u.m
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("not a positive size")
	}
	return n * mult, nil
}
