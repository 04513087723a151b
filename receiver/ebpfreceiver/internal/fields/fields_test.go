package fields

import (
	"bufio"
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/goexe"
)

// TestHeaderIsGenerated: the committed C enum is what the Go list generates
// (run make generate after editing the list).
func TestHeaderIsGenerated(t *testing.T) {
	t.Parallel()
	got, err := os.ReadFile("../../../../bpf/common/go_fields.h")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, Header()) {
		t.Errorf("bpf/common/go_fields.h is stale: run make generate")
	}
}

func TestListIsComplete(t *testing.T) {
	t.Parallel()
	seen := map[string]ID{}
	cnames := map[string]ID{}
	for id := ID(0); id < Count; id++ {
		k := id.String()
		// importpath.Type.field, or Type.field for a type the linker
		// synthesizes in DWARF (bucket<string,[]string>: no import path).
		if strings.Count(k, ".") < 2 && !(strings.Count(k, ".") == 1 && strings.Contains(k, "<")) {
			t.Errorf("ID %d: key %q is not importpath.Type.field", id, k)
		}
		if prev, dup := seen[k]; dup {
			t.Errorf("ID %d and %d share key %s", prev, id, k)
		}
		seen[k] = id
		if prev, dup := cnames[id.CName()]; dup {
			t.Errorf("ID %d and %d share C name %s", prev, id, id.CName())
		}
		cnames[id.CName()] = id
	}
	if got := ID(Count).String(); !strings.Contains(got, "fields.ID") {
		t.Errorf("out-of-range ID prints as %q", got)
	}
}

// generatedKeys reads goexe's offsets_fields.txt and offsets_grpc_fields.txt:
// what offsetgen generates (a line's " ?", " @protoc-gen-go" or " @module"
// marker off).
func generatedKeys(t *testing.T) map[string]bool {
	t.Helper()
	keys := map[string]bool{}
	for _, name := range []string{"../goexe/offsets_fields.txt", "../goexe/offsets_grpc_fields.txt"} {
		f, err := os.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if l := strings.TrimSpace(sc.Text()); l != "" && !strings.HasPrefix(l, "#") {
				keys[strings.Fields(l)[0]] = true // "key", "key ?" or "key @module"
			}
		}
		f.Close()
	}
	return keys
}

// TestTableMatchesOffsetgen resolves every field ID for every toolchain the
// committed offsets table was generated from, as the loader does for a
// binary without DWARF, and checks each entry against the table's own
// record for that key: the ID list and what offsetgen generates agree for
// every version, and a field absent in a version stays Unknown.
func TestTableMatchesOffsetgen(t *testing.T) {
	t.Parallel()
	gen := generatedKeys(t)
	tab, err := goexe.EmbeddedOffsets()
	if err != nil {
		t.Fatal(err)
	}
	for id := ID(0); id < Count; id++ {
		_, inTable := tab.Fields[id.String()]
		f := All()[id]
		switch {
		case f.NotInTable && (inTable || gen[id.String()]):
			t.Errorf("%s is marked NotInTable but offsetgen generates it", id)
		case !f.NotInTable && !gen[id.String()]:
			t.Errorf("%s is not in offsets_fields.txt: offsetgen does not generate it", id)
		case !f.NotInTable && !inTable:
			t.Errorf("%s is not in offsets.json: run make offsets", id)
		}
	}
	// Fields of other modules (grpc) are recorded by module version: each
	// version in the table is resolved with a binary using it.
	for id := ID(0); id < Count; id++ {
		fo, ok := tab.Fields[id.String()]
		if !ok || fo.Module == "" {
			continue
		}
		for v, off := range fo.Offsets {
			lookup := func(structName, field string) (uint64, error) {
				return tab.Lookup(structName+"."+field, "go1.26.0", map[string]string{fo.Module: v})
			}
			tbl := NewTable()
			_ = tbl.Resolve(lookup, id)
			switch {
			case off == nil && tbl[id] != Unknown:
				t.Errorf("%s %s %s = %d, want Unknown (absent in that version)", fo.Module, v, id, tbl[id])
			case off != nil && tbl[id] != *off:
				t.Errorf("%s %s %s = %d, want %d", fo.Module, v, id, tbl[id], *off)
			}
		}
	}
	versions := 0
	for _, full := range tab.Toolchains {
		for _, v := range full {
			versions++
			lookup := func(structName, field string) (uint64, error) {
				return tab.Lookup(structName+"."+field, v, nil)
			}
			tbl := NewTable()
			_ = tbl.Resolve(lookup, allIDs()...)
			for id := ID(0); id < Count; id++ {
				if All()[id].NotInTable {
					if tbl[id] != Unknown {
						t.Errorf("%s %s = %d from the table, want Unknown", v, id, tbl[id])
					}
					continue
				}
				if tab.Fields[id.String()].Module != "" {
					continue // by module version, above
				}
				want, err := tab.Lookup(id.String(), v, nil)
				switch {
				case errors.Is(err, goexe.ErrFieldAbsent):
					if tbl[id] != Unknown {
						t.Errorf("%s %s = %d, want Unknown (absent in that version)", v, id, tbl[id])
					}
				case err != nil:
					t.Errorf("%s %s: %v", v, id, err)
				case tbl[id] != want:
					t.Errorf("%s %s = %d, want %d", v, id, tbl[id], want)
				}
			}
			// Layout facts known independently of the generator.
			if strings.HasPrefix(v, "go1.19.") || strings.HasPrefix(v, "go1.22.") {
				if tbl[RuntimeGGoid] != 152 {
					t.Errorf("%s runtime.g.goid = %d, want 152", v, tbl[RuntimeGGoid])
				}
			}
			if strings.HasPrefix(v, "go1.23.") && tbl[RuntimeGGoid] != 160 {
				t.Errorf("%s runtime.g.goid = %d, want 160", v, tbl[RuntimeGGoid])
			}
			if hasPattern := tbl.Known(RequestPattern); hasPattern != (v >= "go1.23") {
				t.Errorf("%s: Request.Pattern known = %v", v, hasPattern)
			}
			if hasParent := tbl.Known(RuntimeGParentGoid); hasParent != (v >= "go1.21") {
				t.Errorf("%s: g.parentGoid known = %v", v, hasParent)
			}
		}
	}
	if versions < 16 {
		t.Errorf("only %d toolchains in the offsets table", versions)
	}
}

func allIDs() []ID {
	ids := make([]ID, Count)
	for i := range ids {
		ids[i] = ID(i)
	}
	return ids
}

func TestResolveAllIsAllOrNothing(t *testing.T) {
	t.Parallel()
	lookup := func(structName, field string) (uint64, error) {
		if field == "bufr" {
			return 0, goexe.ErrFieldAbsent
		}
		return uint64(len(structName) + len(field)), nil
	}
	tbl := NewTable()
	if err := tbl.ResolveAll(lookup, ResponseConn, ConnBufr); err == nil {
		t.Fatal("ResolveAll with a missing field returned no error")
	}
	if tbl.Known(ResponseConn) || tbl.Known(ConnBufr) {
		t.Errorf("ResolveAll filled part of a group: %v %v", tbl[ResponseConn], tbl[ConnBufr])
	}
	if err := tbl.Resolve(lookup, ResponseConn, ConnBufr); err == nil {
		t.Fatal("Resolve with a missing field returned no error")
	}
	if !tbl.Known(ResponseConn) || tbl.Known(ConnBufr) {
		t.Errorf("Resolve: conn %v bufr %v, want conn known, bufr Unknown", tbl[ResponseConn], tbl[ConnBufr])
	}
	if got := RequestURL.CName(); got != "GO_FIELD_NET_HTTP_REQUEST_URL" {
		t.Errorf("CName = %s", got)
	}
}
