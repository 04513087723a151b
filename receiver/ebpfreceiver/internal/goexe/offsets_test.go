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
