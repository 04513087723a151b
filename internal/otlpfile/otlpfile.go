// Package otlpfile reads what the file exporter writes (one OTLP/JSON export request per
// line), for the demo report and the integration tests.
package otlpfile

import (
	"bufio"
	"bytes"
	"fmt"
	"os"

	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// maxLine bounds one export request; the file exporter writes one request per line.
const maxLine = 64 << 20

// ReadTraces merges every trace export request in the file at path.
func ReadTraces(path string) (ptrace.Traces, error) {
	out := ptrace.NewTraces()
	var u ptrace.JSONUnmarshaler
	err := eachLine(path, func(line []byte) error {
		td, err := u.UnmarshalTraces(line)
		if err != nil {
			return err
		}
		td.ResourceSpans().MoveAndAppendTo(out.ResourceSpans())
		return nil
	})
	return out, err
}

// ReadMetrics merges every metric export request in the file at path.
func ReadMetrics(path string) (pmetric.Metrics, error) {
	out := pmetric.NewMetrics()
	var u pmetric.JSONUnmarshaler
	err := eachLine(path, func(line []byte) error {
		md, err := u.UnmarshalMetrics(line)
		if err != nil {
			return err
		}
		md.ResourceMetrics().MoveAndAppendTo(out.ResourceMetrics())
		return nil
	})
	return out, err
}

// ReadLogs merges every log export request in the file at path.
func ReadLogs(path string) (plog.Logs, error) {
	out := plog.NewLogs()
	var u plog.JSONUnmarshaler
	err := eachLine(path, func(line []byte) error {
		ld, err := u.UnmarshalLogs(line)
		if err != nil {
			return err
		}
		ld.ResourceLogs().MoveAndAppendTo(out.ResourceLogs())
		return nil
	})
	return out, err
}

// eachLine calls fn for each non-empty line. A missing file reads as empty: the file
// exporter creates it only when the first batch arrives.
func eachLine(path string, fn func([]byte) error) error {
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 1<<20), maxLine)
	n := 0
	for sc.Scan() {
		n++
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		if err := fn(line); err != nil {
			return fmt.Errorf("%s line %d: %w", path, n, err)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}
