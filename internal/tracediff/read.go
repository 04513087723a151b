package tracediff

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/klauspost/compress/zstd"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

var (
	zstdMagic = []byte{0x28, 0xb5, 0x2f, 0xfd}
	gzipMagic = []byte{0x1f, 0x8b}
)

// maxMessage bounds one length-prefixed message, so a file that is not in
// the expected format fails instead of allocating gigabytes.
const maxMessage = 1 << 30

// ReadFile calls fn with every batch of spans in an OTLP traces file as the
// collector's file exporter writes it, one batch at a time:
//   - JSON, one ExportTraceServiceRequest per line (the default);
//   - proto, each message preceded by its length (4 bytes, big endian);
//   - either of those with every message zstd-compressed (the exporter's
//     compression: zstd) or the whole file one zstd or gzip stream (native
//     compression, or a file compressed afterwards).
func ReadFile(path string, fn func(ptrace.Traces) error) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := readStream(bufio.NewReaderSize(f, 1<<20), fn, 0); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

func readStream(r *bufio.Reader, fn func(ptrace.Traces) error, depth int) error {
	head, err := r.Peek(4)
	if len(head) == 0 && errors.Is(err, io.EOF) {
		return nil // empty file
	}
	switch {
	case depth < 2 && bytes.HasPrefix(head, zstdMagic):
		dec, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1))
		if err != nil {
			return err
		}
		defer dec.Close()
		return readStream(bufio.NewReaderSize(dec, 1<<20), fn, depth+1)
	case depth < 2 && bytes.HasPrefix(head, gzipMagic):
		dec, err := gzip.NewReader(r)
		if err != nil {
			return err
		}
		defer dec.Close()
		return readStream(bufio.NewReaderSize(dec, 1<<20), fn, depth+1)
	case len(head) > 0 && (head[0] == '{' || head[0] == ' ' || head[0] == '\n' || head[0] == '\r' || head[0] == '\t'):
		return readJSONLines(r, fn)
	default:
		return readMessages(r, fn)
	}
}

func readJSONLines(r *bufio.Reader, fn func(ptrace.Traces) error) error {
	var u ptrace.JSONUnmarshaler
	for line := 1; ; line++ {
		b, err := r.ReadBytes('\n')
		if len(bytes.TrimSpace(b)) > 0 {
			td, uerr := u.UnmarshalTraces(b)
			if uerr != nil {
				return fmt.Errorf("line %d: %w", line, uerr)
			}
			if ferr := fn(td); ferr != nil {
				return ferr
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

func readMessages(r *bufio.Reader, fn func(ptrace.Traces) error) error {
	var (
		pu      ptrace.ProtoUnmarshaler
		ju      ptrace.JSONUnmarshaler
		dec     *zstd.Decoder
		size    [4]byte
		buf     []byte
		scratch []byte
	)
	defer func() {
		if dec != nil {
			dec.Close()
		}
	}()
	for msg := 1; ; msg++ {
		if _, err := io.ReadFull(r, size[:]); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("message %d: length: %w", msg, err)
		}
		n := binary.BigEndian.Uint32(size[:])
		if n > maxMessage {
			return fmt.Errorf("message %d: length %d: not an OTLP file exporter file", msg, n)
		}
		if cap(buf) < int(n) {
			buf = make([]byte, n)
		}
		buf = buf[:n]
		if _, err := io.ReadFull(r, buf); err != nil {
			return fmt.Errorf("message %d: %w", msg, err)
		}
		body := buf
		if bytes.HasPrefix(body, zstdMagic) {
			if dec == nil {
				var err error
				if dec, err = zstd.NewReader(nil, zstd.WithDecoderConcurrency(1)); err != nil {
					return err
				}
			}
			var err error
			if scratch, err = dec.DecodeAll(body, scratch[:0]); err != nil {
				return fmt.Errorf("message %d: zstd: %w", msg, err)
			}
			body = scratch
		}
		var td ptrace.Traces
		var err error
		if len(body) > 0 && body[0] == '{' {
			td, err = ju.UnmarshalTraces(body)
		} else {
			td, err = pu.UnmarshalTraces(body)
		}
		if err != nil {
			return fmt.Errorf("message %d: %w", msg, err)
		}
		if err := fn(td); err != nil {
			return err
		}
	}
}
