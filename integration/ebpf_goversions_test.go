package integration

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-goebpf/otelcol-goebpf/internal/testutil/prereq"
)

// compatToolchains build testdata/httpcompat: Debian's Go 1.19 and the
// toolchains fetched through the module proxy, plus the local one.
var compatToolchains = []string{"debian-1.19", "go1.20.14", "go1.21.13", "go1.22.12", "go1.23.12", "go1.24.13", "go1.25.14", "local"}

// goCommand returns the go command and environment that build with tc.
func goCommand(t *testing.T, tc string) (string, []string) {
	t.Helper()
	env := append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=-mod=mod")
	switch tc {
	case "local":
		return "go", env
	case "debian-1.19":
		const p = "/usr/lib/go-1.19/bin/go"
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("Debian's golang-1.19-go is required: %v", err)
		}
		return p, append(env, "GOTOOLCHAIN=local")
	}
	out, err := exec.Command("go", "env", "GOMODCACHE").Output()
	if err != nil {
		t.Fatal(err)
	}
	cached := filepath.Join(strings.TrimSpace(string(out)), "golang.org", "toolchain@v0.0.1-"+tc+".linux-amd64", "bin", "go")
	if _, err := os.Stat(cached); err == nil {
		return cached, append(env, "GOTOOLCHAIN=local")
	}
	return "go", append(env, "GOTOOLCHAIN="+tc)
}

func buildCompat(t *testing.T, tc, out string, stripped bool) string {
	t.Helper()
	return buildWith(t, "testdata/httpcompat", tc, out, stripped)
}

// buildWith builds the program whose Go files are in dir (a module of its
// own, without dependencies) with toolchain tc, and returns its Go version.
func buildWith(t *testing.T, dir, tc, out string, stripped bool) string {
	t.Helper()
	src := t.TempDir()
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no Go files in %s: %v", dir, err)
	}
	for _, f := range files {
		code, err := os.ReadFile(f)
		must(err)
		must(os.WriteFile(filepath.Join(src, filepath.Base(f)), code, 0o644))
	}
	goCmd, env := goCommand(t, tc)
	// The go line selects GODEBUG defaults: with "go 1.19" a Go 1.23 binary
	// keeps the pre-1.22 ServeMux (httpmuxgo121=1), which sets no Pattern.
	// Declare the toolchain's own version, as a project built with it would.
	verCmd := exec.Command(goCmd, "env", "GOVERSION")
	verCmd.Env = env
	gv, err := verCmd.Output()
	if err != nil {
		t.Fatalf("%s env GOVERSION: %v", goCmd, err)
	}
	must(os.WriteFile(filepath.Join(src, "go.mod"), []byte(fmt.Sprintf("module %s\n\ngo 1.%d\n", filepath.Base(dir), goMinor(strings.TrimSpace(string(gv))))), 0o644))
	args := []string{"build", "-o", out}
	if stripped {
		args = append(args, "-ldflags=-s -w")
	}
	cmd := exec.Command(goCmd, append(args, ".")...)
	cmd.Dir, cmd.Env = src, env
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build with %s: %v\n%s", tc, err, b)
	}
	v, err := exec.Command("go", "version", out).Output()
	if err != nil {
		t.Fatal(err)
	}
	// "path: go1.22.12"
	return strings.TrimSpace(string(v[strings.LastIndex(string(v), " ")+1:]))
}

func goMinor(version string) int {
	parts := strings.Split(strings.TrimPrefix(version, "go"), ".")
	if len(parts) < 2 {
		return 0
	}
	m, _ := strconv.Atoi(parts[1])
	return m
}

// tableMinors lists the Go minors goexe's offsets table covers: stripped
// binaries (no DWARF) are supported for those.
func tableMinors(t *testing.T) map[int]bool {
	t.Helper()
	raw, err := os.ReadFile("../receiver/ebpfreceiver/internal/goexe/offsets.json")
	if err != nil {
		t.Fatal(err)
	}
	var table struct {
		Toolchains map[string][]string `json:"toolchains"`
	}
	if err := json.Unmarshal(raw, &table); err != nil {
		t.Fatal(err)
	}
	out := map[int]bool{}
	for k := range table.Toolchains {
		m, _ := strconv.Atoi(k)
		out[m] = true
	}
	return out
}

// TestEBPFHTTPGoVersions traces binaries built by every supported Go
// toolchain: unstripped (DWARF offsets) always, stripped where the offsets
// table covers the version.
func TestEBPFHTTPGoVersions(t *testing.T) {
	prereq.RequireRoot(t, "eBPF tests")
	dir := t.TempDir()
	covered := tableMinors(t)
	type build struct{ name, exe, version string }
	var builds []build
	toolchains := compatToolchains
	if v := os.Getenv("GOEBPF_TOOLCHAINS"); v != "" { // e.g. "local,go1.22.12" to reproduce one case
		toolchains = strings.Split(v, ",")
	}
	for _, tc := range toolchains {
		exe := filepath.Join(dir, "compat-"+tc)
		v := buildCompat(t, tc, exe, false)
		builds = append(builds, build{tc, exe, v})
		if covered[goMinor(v)] {
			builds = append(builds, build{tc + "-stripped", exe + "-stripped", buildCompat(t, tc, exe+"-stripped", true)})
		} else {
			t.Logf("%s: offsets table has no entry for %s; stripped build not tested", tc, v)
		}
	}
	sink, _, stop := startReceiver(t, filepath.Join(dir, "compat-*"))
	defer stop()
	for _, b := range builds {
		t.Run(b.name, func(t *testing.T) {
			tg := startTarget(t, b.exe, "compat", freePort(t))
			defer tg.stop()
			warmUp(t, sink, tg)
			const hello, fail, chain = 8, 2, 2
			for range hello {
				get(t, tg.base+"/hello", nil)
			}
			for range fail {
				get(t, tg.base+"/fail", nil)
			}
			for range chain {
				get(t, tg.base+"/chain", nil)
			}
			// Panicking handlers: no response, one connection each (a client
			// resends a GET once on a reused connection closed without one).
			noReuse := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
			for _, p := range []string{"/panic", "/abort"} {
				if resp, err := noReuse.Get(tg.base + p); err == nil {
					resp.Body.Close()
					t.Errorf("%s answered %d", p, resp.StatusCode)
				}
			}
			spans := waitSpans(t, sink, hello+fail+2*chain+chain+2)
			servers := map[string]int{}
			byID := map[string]span{}
			for _, s := range spans {
				if s.Kind() == ptrace.SpanKindServer {
					servers[strAttr(s, "url.path")]++
					byID[s.SpanID().String()] = s
				}
				if got, _ := s.resource.Get("process.runtime.version"); got.AsString() != b.version {
					t.Errorf("process.runtime.version %q, want %q", got.AsString(), b.version)
				}
			}
			// Stitching (on by default): each /hello that /chain calls is the
			// child of the client span that called it, in its trace.
			clients := map[string]span{}
			for _, s := range spans {
				if s.Kind() == ptrace.SpanKindClient {
					clients[s.SpanID().String()] = s
				}
			}
			stitched := 0
			for _, s := range spans {
				if p, ok := clients[s.ParentSpanID().String()]; ok && s.Kind() == ptrace.SpanKindServer && strAttr(s, "url.path") == "/hello" && p.TraceID() == s.TraceID() {
					stitched++
				}
			}
			if stitched != chain {
				t.Errorf("%d of the %d /hello requests /chain made are stitched to its client span", stitched, chain)
			}
			want := map[string]int{"/hello": hello + chain, "/fail": fail, "/chain": chain, "/panic": 1, "/abort": 1}
			if fmt.Sprint(servers) != fmt.Sprint(want) {
				t.Errorf("server spans by path %v, want %v", servers, want)
			}
			for _, s := range spans {
				switch {
				case s.Kind() == ptrace.SpanKindClient:
					parent, ok := byID[s.ParentSpanID().String()]
					if !ok || strAttr(parent, "url.path") != "/chain" {
						t.Errorf("client span parent is not the /chain server span")
					}
					if intAttr(s, "http.response.status_code") != 200 {
						t.Errorf("client status %d", intAttr(s, "http.response.status_code"))
					}
				case strAttr(s, "url.path") == "/panic" || strAttr(s, "url.path") == "/abort":
					wantType := map[string]string{"/panic": "string", "/abort": "http.ErrAbortHandler"}[strAttr(s, "url.path")]
					if s.Status().Code() != ptrace.StatusCodeError || strAttr(s, "error.type") != wantType || intAttr(s, "http.response.status_code") != -1 {
						t.Errorf("%s span: status %v error.type %q code %d", strAttr(s, "url.path"), s.Status().Code(), strAttr(s, "error.type"), intAttr(s, "http.response.status_code"))
					}
				case strAttr(s, "url.path") == "/fail":
					if s.Status().Code() != ptrace.StatusCodeError || intAttr(s, "http.response.status_code") != 500 {
						t.Errorf("/fail span status %v code %d", s.Status().Code(), intAttr(s, "http.response.status_code"))
					}
				}
				// Request.Pattern exists from Go 1.23: http.route only then.
				if s.Kind() == ptrace.SpanKindServer {
					route := strAttr(s, "http.route")
					if goMinor(b.version) >= 23 && route != strAttr(s, "url.path") {
						t.Errorf("go%d: http.route %q for path %q", goMinor(b.version), route, strAttr(s, "url.path"))
					}
					if goMinor(b.version) < 23 && route != "" {
						t.Errorf("go%d has no patterns but http.route = %q", goMinor(b.version), route)
					}
				}
			}
		})
	}
}
