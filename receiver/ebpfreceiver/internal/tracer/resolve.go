package tracer

import (
	"errors"
	"fmt"

	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/fields"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/goexe"
)

// Probed functions.
const (
	FuncServeHTTP = "net/http.serverHandler.ServeHTTP"
	FuncRoundTrip = "net/http.(*Transport).roundTrip"
	FuncNewproc1  = "runtime.newproc1"
	FuncGopanic   = "runtime.gopanic"
	FuncRecovery  = "runtime.recovery"
	funcGogo      = "runtime.gogo"
)

var (
	// ErrOffsetsMissing: the struct offsets both probe sides need are unknown.
	ErrOffsetsMissing = errors.New("struct offsets unknown")
	// ErrFunctionMissing: none of the probed functions is in the binary.
	ErrFunctionMissing = errors.New("no net/http function to probe")
)

// Field groups a probe reads together: each is known entirely or not at all.
var (
	// requestFields: both sides read the request's method and path.
	requestFields = []fields.ID{fields.RequestMethod, fields.RequestURL, fields.URLPath}
	serverFields  = []fields.ID{fields.RequestProtoMajor, fields.RequestProtoMinor, fields.RequestHost, fields.RequestRemoteAddr, fields.ResponseStatus}
	clientFields  = []fields.ID{fields.URLScheme, fields.URLHost, fields.ClientResponseStatusCode}
	// headScanFields lead to the connection's read buffer: incoming trace
	// context can be extracted.
	headScanFields = []fields.ID{fields.ResponseConn, fields.ConnBufr, fields.BufioReaderBuf, fields.BufioReaderR}
	// goroutineFields: span context follows goroutines started by a handler.
	goroutineFields = []fields.ID{fields.RuntimeGM, fields.RuntimeGGoid, fields.RuntimeMCurg}
	// h2Fields: the bundled HTTP/2 server's response writer (status of
	// HTTP/2 requests).
	h2Fields = []fields.ID{fields.H2ResponseWriterRws, fields.H2ResponseWriterStateStatus}
)

// ResolveBinary finds the probed functions and the struct offsets in an
// inspected executable. A side (server or client) whose required offsets
// are unknown is left out rather than read at wrong addresses; an error is
// returned only when nothing can be probed.
func ResolveBinary(exe *goexe.Executable) (Binary, error) {
	off := Offsets{Fields: fields.NewTable()}
	t := &off.Fields
	requestErr := t.Resolve(exe.FieldOffset, requestFields...)
	serverErr := errors.Join(requestErr, t.Resolve(exe.FieldOffset, serverFields...))
	clientOnlyErr := t.Resolve(exe.FieldOffset, clientFields...)
	clientErr := errors.Join(requestErr, clientOnlyErr)
	_ = t.Resolve(exe.FieldOffset, fields.URLRawQuery)
	_ = t.Resolve(exe.FieldOffset, fields.RequestPattern)
	_ = t.ResolveAll(exe.FieldOffset, headScanFields...)
	_ = t.ResolveAll(exe.FieldOffset, goroutineFields...)
	_ = t.Resolve(exe.FieldOffset, fields.RequestTLS)
	_ = t.ResolveAll(exe.FieldOffset, h2Fields...)
	if t.Known(goroutineFields...) {
		// Go >= 1.21: a client call in a goroutine the handler started
		// finds its parent without probing runtime.newproc1.
		_ = t.Resolve(exe.FieldOffset, fields.RuntimeGParentGoid)
	}
	// url.URL starts Scheme, Opaque string, User *Userinfo, Host in every Go
	// version: without DWARF (the offsets table does not list User), User
	// is the word before Host.
	if err := t.Resolve(exe.FieldOffset, fields.URLUser); err != nil && clientOnlyErr == nil && t[fields.URLHost] >= 8 {
		t[fields.URLUser] = t[fields.URLHost] - 8
	}

	bin := Binary{Offsets: off}
	var missing []error
	fn := func(name string) *Function {
		f, err := exe.Func(name)
		if err != nil {
			missing = append(missing, err)
			return nil
		}
		return &Function{Name: f.Name, EntryOffset: f.EntryOffset, ReturnOffsets: f.ReturnOffsets}
	}
	if serverErr == nil {
		bin.ServeHTTP = fn(FuncServeHTTP)
	}
	if clientErr == nil {
		bin.RoundTrip = fn(FuncRoundTrip)
	}
	if t.Known(goroutineFields...) && !t.Known(fields.RuntimeGParentGoid) {
		bin.Newproc1 = fn(FuncNewproc1)
	}
	if bin.ServeHTTP != nil {
		bin.Gopanic, bin.RecoveryResume = panicSites(exe, &bin.Offsets)
	}
	if bin.ServeHTTP == nil && bin.RoundTrip == nil {
		if serverErr != nil && clientErr != nil {
			return Binary{}, fmt.Errorf("%s: %w: %w", exe.Path, ErrOffsetsMissing, errors.Join(requestErr, serverErr, clientOnlyErr))
		}
		return Binary{}, fmt.Errorf("%s: %w: %w", exe.Path, ErrFunctionMissing, errors.Join(missing...))
	}
	return bin, nil
}

// panicSites finds runtime.gopanic's entry and runtime.recovery's call of
// gogo; nil, nil when either is missing (panicking requests then give no
// span, everything else works).
func panicSites(exe *goexe.Executable, off *Offsets) (gopanic, resume *Function) {
	p, err := exe.Func(FuncGopanic)
	if err != nil {
		return nil, nil
	}
	calls, err := exe.CallOffsets(FuncRecovery, funcGogo)
	if err != nil {
		return nil, nil
	}
	off.GopanicVaddr = p.Entry
	return &Function{Name: p.Name, EntryOffset: p.EntryOffset}, &Function{Name: FuncRecovery, ReturnOffsets: calls}
}
