package goexe

import (
	"bytes"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// GRPCModule is grpc-go's module path.
const GRPCModule = "google.golang.org/grpc"

// ProtocGenGo is the pseudo-module that keys the fields of generated
// protobuf messages in the offsets table: the versions are the generations
// of protoc-gen-go that generated the message's package, told from the
// methods the package has (ProtoGeneration), since the module that holds
// such a package (genproto) is chosen by the program, not by the library
// that uses it.
const ProtocGenGo = "protoc-gen-go"

// Generations of protoc-gen-go (ProtoGeneration).
const (
	// ProtoImpl: protoc-gen-go v1.20 on (APIv2): state, sizeCache,
	// unknownFields, then the message's fields.
	ProtoImpl = "protoimpl"
	// ProtoLegacy: protoc-gen-go v1.3 and before: the message's fields,
	// then XXX_ bookkeeping.
	ProtoLegacy = "legacy"
)

// ProtoGeneration tells which protoc-gen-go generated the message type
// pkg.typ from its methods in the pclntab (they survive stripping): "" when
// neither generation's method is there.
func (e *Executable) ProtoGeneration(pkg, typ string) string {
	if _, ok := e.funcIndex[pkg+".(*"+typ+").ProtoReflect"]; ok {
		return ProtoImpl
	}
	if _, ok := e.funcIndex[pkg+".(*"+typ+").XXX_Unmarshal"]; ok {
		return ProtoLegacy
	}
	return ""
}

// grpcVersionRE matches grpc-go's user agent, "grpc-go/" + grpc.Version: a
// constant, so the linker stores the literal. Go packs string literals
// back to back, so only the digits are taken.
var grpcVersionRE = regexp.MustCompile(`grpc-go/(\d{1,3})\.(\d{1,4})\.(\d{1,4})(-dev)?`)

// grpcFuncs are functions of grpc-go's package whose presence says that the
// program uses grpc-go (either side).
var grpcFuncs = []string{
	"google.golang.org/grpc.(*Server).handleStream",
	"google.golang.org/grpc.(*ClientConn).Invoke",
}

// inferModules fills InferredModules (or ModuleNotes) for libraries whose
// layouts the offsets table keys by module version when the build info does
// not list them (GOPATH builds, as distributions build): grpc-go.
func (e *Executable) inferModules(r io.ReaderAt) {
	if v, listed := e.Modules[GRPCModule]; listed {
		if v == "" || v == "(devel)" {
			// Replaced by a directory: a fork may have any layout, whatever
			// its version string says.
			e.ModuleNotes[GRPCModule] = "the build info lists it replaced by a local directory, without a version"
		}
		return
	}
	uses := false
	for _, f := range grpcFuncs {
		if _, ok := e.funcIndex[f]; ok {
			uses = true
		}
	}
	if !uses {
		return
	}
	v, err := e.inferGRPCVersion(r)
	if err != nil {
		e.ModuleNotes[GRPCModule] = err.Error()
		return
	}
	e.InferredModules[GRPCModule] = v
}

func (e *Executable) inferGRPCVersion(r io.ReaderAt) (string, error) {
	segs, err := e.dataSegments(r, false)
	if err != nil {
		return "", fmt.Errorf("no module build info, and the data could not be read for grpc-go's version string: %v", err)
	}
	found := map[string]bool{}
	dev := false
	for _, s := range segs {
		if !bytes.Contains(s.data, []byte("grpc-go/")) {
			continue
		}
		for _, m := range grpcVersionRE.FindAllSubmatch(s.data, -1) {
			found["v"+string(m[1])+"."+string(m[2])+"."+string(m[3])] = true
			dev = dev || len(m[4]) > 0
		}
	}
	var vs []string
	for v := range found {
		vs = append(vs, v)
	}
	sort.Strings(vs)
	switch {
	case len(vs) == 0:
		return "", fmt.Errorf("no module build info, and no grpc-go version string (grpc-go/1.N.P) in its data")
	case len(vs) > 1:
		return "", fmt.Errorf("no module build info, and several grpc-go version strings in its data (%s)", strings.Join(vs, ", "))
	case dev:
		return "", fmt.Errorf("no module build info, and grpc-go's version string says a development build (%s-dev), whose layout is not a release's", vs[0])
	}
	v := vs[0]
	if err := e.checkGRPCVersion(v); err != nil {
		return "", fmt.Errorf("no module build info, and grpc-go's version string %s %v", v, err)
	}
	return v, nil
}

// checkGRPCVersion checks a grpc-go version against the functions the
// program has: the transport's WriteStatus was renamed writeStatus in
// v1.69.0 (the server side's layouts change there too).
func (e *Executable) checkGRPCVersion(v string) error {
	minor := grpcMinor(v)
	_, renamed := e.funcIndex["google.golang.org/grpc/internal/transport.(*http2Server).writeStatus"]
	_, legacy := e.funcIndex["google.golang.org/grpc/internal/transport.(*http2Server).WriteStatus"]
	switch {
	case renamed && minor < 69:
		return fmt.Errorf("disagrees with the code: (*http2Server).writeStatus exists, which grpc-go has from v1.69.0 only")
	case legacy && minor >= 69:
		return fmt.Errorf("disagrees with the code: (*http2Server).WriteStatus exists, which grpc-go has before v1.69.0 only")
	}
	return nil
}

// grpcMinor is 69 for "v1.69.2", -1 when v is not a v1 release.
func grpcMinor(v string) int {
	m := releaseRE.FindStringSubmatch(v)
	if m == nil || m[1] != "1" {
		return -1
	}
	n, _ := strconv.Atoi(m[2])
	return n
}

var releaseRE = regexp.MustCompile(`^v(\d+)\.(\d+)\.(\d+)$`)

// moduleMinor is "v1.33" for the release "v1.33.2", "" for anything else
// (a pre-release, a pseudo-version, "(devel)").
func moduleMinor(v string) string {
	m := releaseRE.FindStringSubmatch(v)
	if m == nil {
		return ""
	}
	return "v" + m[1] + "." + m[2]
}

// modulePatch is 2 for the release "v1.83.2", -1 for anything else.
func modulePatch(v string) int {
	m := releaseRE.FindStringSubmatch(v)
	if m == nil {
		return -1
	}
	n, _ := strconv.Atoi(m[3])
	return n
}

// moduleVersions returns the versions the table is looked up with for the
// struct structName: the build info's modules, the inferred ones, and the
// protoc-gen-go generation of the struct's package.
func (e *Executable) moduleVersions(structName string) map[string]string {
	m := make(map[string]string, len(e.Modules)+len(e.InferredModules)+1)
	for k, v := range e.Modules {
		m[k] = v
	}
	for k, v := range e.InferredModules {
		if m[k] == "" {
			m[k] = v
		}
	}
	if i := strings.LastIndexByte(structName, '.'); i > 0 {
		if g := e.ProtoGeneration(structName[:i], structName[i+1:]); g != "" {
			m[ProtocGenGo] = g
		}
	}
	return m
}
