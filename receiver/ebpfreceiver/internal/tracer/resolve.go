package tracer

import (
	"errors"
	"fmt"

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

type fieldRef struct {
	structName, field string
	dst               *uint64
}

func resolveOffsets(exe *goexe.Executable, refs []fieldRef) error {
	var errs []error
	for _, r := range refs {
		v, err := exe.FieldOffset(r.structName, r.field)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		*r.dst = v
	}
	return errors.Join(errs...)
}

// ResolveBinary finds the probed functions and the struct offsets in an
// inspected executable. A side (server or client) whose required offsets
// are unknown is left out rather than read at wrong addresses; an error is
// returned only when nothing can be probed.
func ResolveBinary(exe *goexe.Executable) (Binary, error) {
	var off Offsets
	requestErr := resolveOffsets(exe, []fieldRef{
		{"net/http.Request", "Method", &off.RequestMethod},
		{"net/http.Request", "URL", &off.RequestURL},
		{"net/url.URL", "Path", &off.URLPath},
	})
	serverErr := errors.Join(requestErr, resolveOffsets(exe, []fieldRef{
		{"net/http.Request", "ProtoMajor", &off.RequestProtoMajor},
		{"net/http.Request", "ProtoMinor", &off.RequestProtoMinor},
		{"net/http.Request", "Host", &off.RequestHost},
		{"net/http.Request", "RemoteAddr", &off.RequestRemoteAddr},
		{"net/http.response", "status", &off.ResponseStatus},
	}))
	clientOnlyErr := resolveOffsets(exe, []fieldRef{
		{"net/url.URL", "Scheme", &off.URLScheme},
		{"net/url.URL", "Host", &off.URLHost},
		{"net/http.Response", "StatusCode", &off.ClientStatusCode},
	})
	clientErr := errors.Join(requestErr, clientOnlyErr)
	off.HasRawQuery = resolveOffsets(exe, []fieldRef{{"net/url.URL", "RawQuery", &off.URLRawQuery}}) == nil
	off.HasPattern = resolveOffsets(exe, []fieldRef{{"net/http.Request", "Pattern", &off.RequestPattern}}) == nil
	off.HasHeadScan = resolveOffsets(exe, []fieldRef{
		{"net/http.response", "conn", &off.ResponseConn},
		{"net/http.conn", "bufr", &off.ConnBufr},
		{"bufio.Reader", "buf", &off.BufioReaderBuf},
		{"bufio.Reader", "r", &off.BufioReaderR},
	}) == nil
	off.HasGoroutine = resolveOffsets(exe, []fieldRef{
		{"runtime.g", "m", &off.GoroutineM},
		{"runtime.g", "goid", &off.GoroutineID},
		{"runtime.m", "curg", &off.MCurg},
	}) == nil

	off.HasTLS = resolveOffsets(exe, []fieldRef{{"net/http.Request", "TLS", &off.RequestTLS}}) == nil
	off.HasH2 = resolveOffsets(exe, []fieldRef{
		{"net/http.http2responseWriter", "rws", &off.H2WriterState},
		{"net/http.http2responseWriterState", "status", &off.H2StateStatus},
	}) == nil
	off.HasParentGoid = off.HasGoroutine && resolveOffsets(exe, []fieldRef{{"runtime.g", "parentGoid", &off.GoroutineParentID}}) == nil
	// url.URL starts Scheme, Opaque string, User *Userinfo, Host in every Go
	// version: without DWARF (the offsets table does not list User), User
	// is the word before Host.
	if err := resolveOffsets(exe, []fieldRef{{"net/url.URL", "User", &off.URLUser}}); err == nil {
		off.HasURLUser = true
	} else if clientOnlyErr == nil && off.URLHost >= 8 {
		off.URLUser, off.HasURLUser = off.URLHost-8, true
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
	if off.HasGoroutine && !off.HasParentGoid {
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
