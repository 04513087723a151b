package goexe

import (
	"errors"
	"strconv"
	"strings"
	"testing"
)

func u64(v uint64) *uint64 { return &v }

func TestOffsetTableLookup(t *testing.T) {
	t.Parallel()
	tab := &OffsetTable{Fields: map[string]FieldOffsets{
		"net/http.response.status": {Offsets: map[string]*uint64{
			"25": u64(120), "26": u64(120), "go1.26.9": u64(128),
		}},
		"net/http.Request.Pattern": {Offsets: map[string]*uint64{"22": nil, "23": u64(248)}},
		"google.golang.org/grpc/internal/transport.Stream.method": {
			Module:  "google.golang.org/grpc",
			Offsets: map[string]*uint64{"v1.60.0": u64(80), "v1.70.0": nil},
		},
		"google.golang.org/grpc/internal/transport.Stream.ctx": {
			Module:  "google.golang.org/grpc",
			Offsets: map[string]*uint64{"v1.33": u64(32), "v1.77": u64(0), "v1.78.0-dev": u64(8), "v1.83": u64(360), "v1.83.1": u64(368), "v1.83.3": nil},
		},
		"google.golang.org/genproto/googleapis/rpc/status.Status.Code": {
			Module:  ProtocGenGo,
			Offsets: map[string]*uint64{ProtoImpl: u64(40), ProtoLegacy: u64(0)},
		},
	}}
	grpc := func(v string) map[string]string { return map[string]string{"google.golang.org/grpc": v} }
	tests := []struct {
		key, goVersion string
		modules        map[string]string
		want           uint64
		wantErr        string // substring; "absent" means errors.Is ErrFieldAbsent
	}{
		{key: "net/http.response.status", goVersion: "go1.25.3", want: 120},
		{key: "net/http.response.status", goVersion: "go1.26.0", want: 120},
		{key: "net/http.response.status", goVersion: "go1.26.8", want: 120},
		{key: "net/http.response.status", goVersion: "go1.26.9", want: 128},
		{key: "net/http.response.status", goVersion: "go1.26.14", want: 128},
		{key: "net/http.response.status", goVersion: "go1.26rc1", want: 120},
		{key: "net/http.response.status", goVersion: "go1.24.1", wantErr: "no offset for go1.24.1"},
		{key: "net/http.response.status", goVersion: "devel", wantErr: "unrecognised Go version"},
		{key: "net/http.Request.Pattern", goVersion: "go1.22.5", wantErr: "absent"},
		{key: "net/http.Request.Pattern", goVersion: "go1.23.0", want: 248},
		{key: "runtime.g.nosuch", goVersion: "go1.23.0", wantErr: "not in the offsets table"},
		{key: "google.golang.org/grpc/internal/transport.Stream.method", goVersion: "go1.23.0", modules: grpc("v1.60.0"), want: 80},
		{key: "google.golang.org/grpc/internal/transport.Stream.method", goVersion: "go1.23.0", modules: grpc("v1.70.0"), wantErr: "absent"},
		{key: "google.golang.org/grpc/internal/transport.Stream.method", goVersion: "go1.23.0", modules: grpc("v1.61.0"), wantErr: "no offset for google.golang.org/grpc v1.61.0"},
		{key: "google.golang.org/grpc/internal/transport.Stream.method", goVersion: "go1.23.0", wantErr: "does not use module"},
		// Minor keys cover every patch release of the minor, and nothing else.
		{key: "google.golang.org/grpc/internal/transport.Stream.ctx", goVersion: "go1.23.0", modules: grpc("v1.33.0"), want: 32},
		{key: "google.golang.org/grpc/internal/transport.Stream.ctx", goVersion: "go1.23.0", modules: grpc("v1.33.3"), want: 32},
		{key: "google.golang.org/grpc/internal/transport.Stream.ctx", goVersion: "go1.23.0", modules: grpc("v1.77.1"), want: 0},
		{key: "google.golang.org/grpc/internal/transport.Stream.ctx", goVersion: "go1.23.0", modules: grpc("v1.34.0"), wantErr: "no offset for google.golang.org/grpc v1.34.0"},
		{key: "google.golang.org/grpc/internal/transport.Stream.ctx", goVersion: "go1.23.0", modules: grpc("v1.133.0"), wantErr: "no offset"},
		{key: "google.golang.org/grpc/internal/transport.Stream.ctx", goVersion: "go1.23.0", modules: grpc("v1.77.0-pre1"), wantErr: "no offset"},
		{key: "google.golang.org/grpc/internal/transport.Stream.ctx", goVersion: "go1.23.0", modules: grpc("v1.77.1-0.20250101000000-abcdefabcdef"), wantErr: "no offset"},
		{key: "google.golang.org/grpc/internal/transport.Stream.ctx", goVersion: "go1.23.0", modules: grpc("(devel)"), wantErr: "no offset"},
		{key: "google.golang.org/grpc/internal/transport.Stream.ctx", goVersion: "go1.23.0", modules: grpc("v1.78.0-dev"), want: 8},
		{key: "google.golang.org/grpc/internal/transport.Stream.ctx", goVersion: "go1.23.0", modules: grpc(""), wantErr: "does not use module"},
		// A change point inside a minor holds from its patch release on.
		{key: "google.golang.org/grpc/internal/transport.Stream.ctx", goVersion: "go1.23.0", modules: grpc("v1.83.0"), want: 360},
		{key: "google.golang.org/grpc/internal/transport.Stream.ctx", goVersion: "go1.23.0", modules: grpc("v1.83.1"), want: 368},
		{key: "google.golang.org/grpc/internal/transport.Stream.ctx", goVersion: "go1.23.0", modules: grpc("v1.83.2"), want: 368},
		{key: "google.golang.org/grpc/internal/transport.Stream.ctx", goVersion: "go1.23.0", modules: grpc("v1.83.3"), wantErr: "absent"},
		{key: "google.golang.org/grpc/internal/transport.Stream.ctx", goVersion: "go1.23.0", modules: grpc("v1.83.9"), wantErr: "absent"},
		{key: "google.golang.org/genproto/googleapis/rpc/status.Status.Code", goVersion: "go1.23.0", modules: map[string]string{ProtocGenGo: ProtoImpl}, want: 40},
		{key: "google.golang.org/genproto/googleapis/rpc/status.Status.Code", goVersion: "go1.23.0", modules: map[string]string{ProtocGenGo: ProtoLegacy}, want: 0},
		{key: "google.golang.org/genproto/googleapis/rpc/status.Status.Code", goVersion: "go1.23.0", wantErr: "does not use module"},
	}
	for _, tt := range tests {
		got, err := tab.Lookup(tt.key, tt.goVersion, tt.modules)
		switch {
		case tt.wantErr == "absent":
			if !errors.Is(err, ErrFieldAbsent) {
				t.Errorf("Lookup(%s, %s) err = %v, want ErrFieldAbsent", tt.key, tt.goVersion, err)
			}
		case tt.wantErr != "":
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || errors.Is(err, ErrFieldAbsent) {
				t.Errorf("Lookup(%s, %s) err = %v, want one containing %q", tt.key, tt.goVersion, err, tt.wantErr)
			}
		case err != nil || got != tt.want:
			t.Errorf("Lookup(%s, %s) = %d, %v; want %d", tt.key, tt.goVersion, got, err, tt.want)
		}
	}
}

// A "key @module" entry holds change points over the releases the table
// lists as built: a listed release takes the latest key at or before it,
// an unlisted one (newer, a pre-release, a pseudo-version, a patch nobody
// built) none.
func TestOffsetTableLookupChangePoints(t *testing.T) {
	t.Parallel()
	const xnet = "golang.org/x/net"
	tab := &OffsetTable{
		Modules: map[string][]string{xnet: {"v0.1.0", "v0.2.0", "v0.9.0", "v0.10.0", "v0.11.0", "v0.12.0"}},
		Fields: map[string]FieldOffsets{
			"golang.org/x/net/http2.stream.id": {
				Module:  xnet,
				Offsets: map[string]*uint64{"v0.1.0": u64(8), "v0.10.0": u64(16), "v0.12.0": nil},
				Sizes:   map[string]*uint64{"v0.1.0": u64(4)},
			},
		},
	}
	for _, tt := range []struct {
		version string
		want    uint64
		wantErr string
	}{
		{version: "v0.1.0", want: 8},
		{version: "v0.2.0", want: 8},
		{version: "v0.9.0", want: 8}, // numeric order, not v0.10.0's
		{version: "v0.10.0", want: 16},
		{version: "v0.11.0", want: 16},
		{version: "v0.12.0", wantErr: "absent"},
		{version: "v0.3.0", wantErr: "no offset for golang.org/x/net v0.3.0 in the offsets table (generated for its 6 releases v0.1.0 to v0.12.0)"},
		{version: "v0.13.0", wantErr: "no offset"},
		{version: "v0.11.1-0.20251013234738-63d1a5100f82", wantErr: "no offset"},
		{version: "v0.11.0-rc.1", wantErr: "no offset"},
	} {
		got, err := tab.Lookup("golang.org/x/net/http2.stream.id", "go1.26.0", map[string]string{xnet: tt.version})
		switch {
		case tt.wantErr == "absent":
			if !errors.Is(err, ErrFieldAbsent) {
				t.Errorf("%s: %d, %v; want ErrFieldAbsent", tt.version, got, err)
			}
		case tt.wantErr != "":
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%s: %d, %v; want an error containing %q", tt.version, got, err, tt.wantErr)
			}
		case err != nil || got != tt.want:
			t.Errorf("%s: %d, %v; want %d", tt.version, got, err, tt.want)
		}
	}
	if s, err := tab.LookupSize("golang.org/x/net/http2.stream.id", map[string]string{xnet: "v0.11.0"}); err != nil || s != 4 {
		t.Errorf("size for v0.11.0: %d, %v; want 4", s, err)
	}
	if _, err := tab.LookupSize("golang.org/x/net/http2.stream.id", map[string]string{xnet: "v0.13.0"}); err == nil {
		t.Error("size for v0.13.0, which the table does not list: no error")
	}
}

// TestEmbeddedOffsetsComplete checks that the committed table covers every
// listed field for every supported Go minor, and agrees with layout facts
// known independently of the generator.
func TestEmbeddedOffsetsComplete(t *testing.T) {
	t.Parallel()
	tab, err := EmbeddedOffsets()
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range readFieldsFile(t) {
		for minor := 19; minor <= 26; minor++ {
			v := "go1." + strconv.Itoa(minor) + ".0"
			if _, err := tab.Lookup(key, v, nil); err != nil && !errors.Is(err, ErrFieldAbsent) {
				t.Errorf("%s for %s: %v", key, v, err)
			}
		}
	}
	// Fields of other modules: recorded for releases of their module.
	for key, mod := range readModuleFieldsFile(t) {
		fo, ok := tab.Fields[key]
		if !ok || fo.Module != mod || len(fo.Offsets) == 0 {
			t.Errorf("%s: table entry %+v, want offsets by version of %s", key, fo, mod)
		}
	}
	const redis9 = "github.com/redis/go-redis/v9"
	for _, k := range []struct {
		key, version string
		want         uint64
		wantErr      string
	}{
		// go-redis v9.23.0 put a field before baseClient.opt.
		{redis9 + ".baseClient.opt", "v9.0.0", 0, ""},
		{redis9 + ".baseClient.opt", "v9.23.0", 8, ""},
		{redis9 + ".baseCmd.args", "v9.23.0", 16, ""},
		{redis9 + ".baseCmd.args", "v9.0.0-rc.4", 0, "no offset for " + redis9 + " v9.0.0-rc.4"},
		// Recorded per release: an unlisted patch of a listed minor is not
		// covered by its neighbours (unlike grpc-go's per-minor entries).
		{redis9 + ".baseCmd.args", "v9.0.99", 0, "no offset for " + redis9 + " v9.0.99"},
	} {
		got, err := tab.Lookup(k.key, "go1.26.0", map[string]string{redis9: k.version})
		if k.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), k.wantErr) {
				t.Errorf("%s %s: %d, %v; want an error containing %q", k.key, k.version, got, err, k.wantErr)
			}
		} else if err != nil || got != k.want {
			t.Errorf("%s %s: %d, %v; want %d", k.key, k.version, got, err, k.want)
		}
	}
	known := []struct {
		key     string
		version string
		want    uint64 // 0 with absent
		absent  bool
	}{
		{"runtime.g.goid", "go1.19.0", 152, false},
		{"runtime.g.goid", "go1.22.0", 152, false},
		{"runtime.g.goid", "go1.23.0", 160, false},
		{"net/http.Request.ctx", "go1.22.0", 232, false},
		{"net/http.Request.ctx", "go1.23.0", 248, false},
		{"net/http.Request.Pattern", "go1.22.12", 0, true},
		{"net/http.Request.Method", "go1.26.0", 0, false},
	}
	for _, k := range known {
		got, err := tab.Lookup(k.key, k.version, nil)
		if k.absent {
			if !errors.Is(err, ErrFieldAbsent) {
				t.Errorf("%s in %s: %d, %v; want absent", k.key, k.version, got, err)
			}
			continue
		}
		if err != nil || got != k.want {
			t.Errorf("%s in %s = %d, %v; want %d", k.key, k.version, got, err, k.want)
		}
	}
	if got, err := tab.Lookup("net/http.Request.Pattern", "go1.23.0", nil); err != nil || got == 0 {
		t.Errorf("net/http.Request.Pattern in go1.23.0 = %d, %v; want present", got, err)
	}
}

// grpc-go's version string is found among packed string literals, and only
// one release version is accepted.
func TestGRPCVersionString(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		data string
		want []string
		dev  bool
	}{
		{"xxgrpc-go/1.60.0unix-abstract", []string{"1", "60", "0"}, false},
		{"grpc-go/1.33.2", []string{"1", "33", "2"}, false},
		{"grpc-go/1.70.0-devfoo", []string{"1", "70", "0"}, true},
		{"grpc-go/", nil, false},
		{"grpc-go/1.x", nil, false},
	} {
		m := grpcVersionRE.FindSubmatch([]byte(tt.data))
		if tt.want == nil {
			if m != nil {
				t.Errorf("%q matched %q", tt.data, m[0])
			}
			continue
		}
		if m == nil || string(m[1]) != tt.want[0] || string(m[2]) != tt.want[1] || string(m[3]) != tt.want[2] || (len(m[4]) > 0) != tt.dev {
			t.Errorf("%q: match %q, want %v dev %t", tt.data, m, tt.want, tt.dev)
		}
	}
	if moduleMinor("v1.33.2") != "v1.33" || moduleMinor("v1.33.2-pre") != "" || grpcMinor("v1.69.4") != 69 || grpcMinor("v2.1.0") != -1 {
		t.Error("moduleMinor/grpcMinor")
	}
}

// Sizes are recorded for the per-release module fields only: found by the
// exact release, absent where the field is, an error for an unlisted
// release or a field without sizes. The committed table holds go-redis's
// pool counters with the size change v9 made (int to atomic.Int32).
func TestOffsetTableLookupSize(t *testing.T) {
	t.Parallel()
	const m = "github.com/redis/go-redis/v9"
	tab := &OffsetTable{Fields: map[string]FieldOffsets{
		m + "/internal/pool.ConnPool.poolSize": {Module: m,
			Offsets: map[string]*uint64{"v9.0.0": u64(96), "v9.23.0": u64(104)},
			Sizes:   map[string]*uint64{"v9.0.0": u64(8), "v9.23.0": u64(4)}},
		m + "/internal/pool.Stats.PendingRequests": {Module: m,
			Offsets: map[string]*uint64{"v9.0.0": nil}, Sizes: map[string]*uint64{"v9.0.0": nil}},
		"net/http.Request.Method": {Offsets: map[string]*uint64{"26": u64(0)}},
	}}
	mods := func(v string) map[string]string { return map[string]string{m: v} }
	if s, err := tab.LookupSize(m+"/internal/pool.ConnPool.poolSize", mods("v9.23.0")); err != nil || s != 4 {
		t.Errorf("v9.23.0: %d, %v", s, err)
	}
	if s, err := tab.LookupSize(m+"/internal/pool.ConnPool.poolSize", mods("v9.0.0")); err != nil || s != 8 {
		t.Errorf("v9.0.0: %d, %v", s, err)
	}
	if _, err := tab.LookupSize(m+"/internal/pool.Stats.PendingRequests", mods("v9.0.0")); !errors.Is(err, ErrFieldAbsent) {
		t.Errorf("absent field: %v", err)
	}
	for _, tc := range []struct{ key, version string }{
		{m + "/internal/pool.ConnPool.poolSize", "v9.0.0-rc.4"},
		{m + "/internal/pool.ConnPool.poolSize", ""},
		{"net/http.Request.Method", "v9.0.0"},
		{"no.Such.field", "v9.0.0"},
	} {
		if _, err := tab.LookupSize(tc.key, mods(tc.version)); err == nil || errors.Is(err, ErrFieldAbsent) {
			t.Errorf("%s %q: %v, want an error", tc.key, tc.version, err)
		}
	}
	emb, err := EmbeddedOffsets()
	if err != nil {
		t.Fatal(err)
	}
	for v, want := range map[string]uint64{"v9.0.0": 8, "v9.23.0": 4} {
		if s, err := emb.LookupSize(m+"/internal/pool.ConnPool.poolSize", mods(v)); err != nil || s != want {
			t.Errorf("committed table, %s: poolSize size %d (%v), want %d", v, s, err, want)
		}
	}
}
