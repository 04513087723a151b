package goexe

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
)

//go:generate go run ./cmd/offsetgen -fields offsets_fields.txt -out offsets.json

//go:embed offsets.json
var offsetsJSON []byte

// OffsetTable is the committed table of struct field offsets that
// FieldOffset falls back to when an executable has no DWARF. It is generated
// by cmd/offsetgen from the DWARF of programs built with each supported
// toolchain.
type OffsetTable struct {
	// Toolchains lists, per Go minor version ("22"), the full toolchain
	// versions whose offsets were generated and found identical.
	Toolchains map[string][]string `json:"toolchains"`
	// Fields maps "importpath.Type.field" to its offsets.
	Fields map[string]FieldOffsets `json:"fields"`
}

// FieldOffsets holds one field's offset per version. For standard-library
// types a key is either a Go minor version ("23"), meaning from go1.23.0 on,
// or a full version ("go1.26.9"), meaning from that patch release on within
// its minor: security fixes do change layouts inside a minor (net/http's
// response grew a field in a go1.26 patch release). For types of other
// modules Module names the module and the keys are its versions. A null
// offset means the field does not exist in that version.
type FieldOffsets struct {
	Module  string             `json:"module,omitempty"`
	Offsets map[string]*uint64 `json:"offsets"`
}

var (
	tableOnce sync.Once
	table     *OffsetTable
	tableErr  error
)

// EmbeddedOffsets returns the committed offsets table.
func EmbeddedOffsets() (*OffsetTable, error) {
	tableOnce.Do(func() {
		var t OffsetTable
		if err := json.Unmarshal(offsetsJSON, &t); err != nil {
			tableErr = fmt.Errorf("embedded offsets.json: %w", err)
			return
		}
		table = &t
	})
	return table, tableErr
}

// FieldOffset returns the byte offset of field in the struct type structName
// ("runtime.g", "net/http.Request"). It reads DWARF when the executable has
// it, else the committed table by Go version (or module version for types
// outside the standard library). The error names what is unknown; it wraps
// ErrFieldAbsent when the field does not exist in this version.
func (e *Executable) FieldOffset(structName, field string) (uint64, error) {
	var dwarfErr error
	if e.HasDWARF {
		if d, err := e.loadDWARF(); err != nil {
			dwarfErr = err
		} else {
			off, found, err := e.dwarfFieldOffset(d, structName, field)
			if found {
				if err != nil {
					return 0, fmt.Errorf("%s: DWARF: %w", e.Path, err)
				}
				return off, nil
			}
			dwarfErr = err
		}
	}
	t, err := EmbeddedOffsets()
	if err != nil {
		return 0, err
	}
	off, err := t.Lookup(structName+"."+field, e.GoVersion, e.Modules)
	if err != nil {
		if dwarfErr != nil {
			return 0, fmt.Errorf("%s: %w (DWARF: %v)", e.Path, err, dwarfErr)
		}
		return 0, fmt.Errorf("%s: %w", e.Path, err)
	}
	return off, nil
}

// Lookup returns the offset of key ("net/http.Request.ctx") for an
// executable built by goVersion with the given module versions.
func (t *OffsetTable) Lookup(key, goVersion string, modules map[string]string) (uint64, error) {
	fo, ok := t.Fields[key]
	if !ok {
		return 0, fmt.Errorf("field %s is not in the offsets table (add it to offsets_fields.txt and run offsetgen)", key)
	}
	if fo.Module != "" {
		v, ok := modules[fo.Module]
		if !ok {
			return 0, fmt.Errorf("field %s: executable does not use module %s", key, fo.Module)
		}
		off, ok := fo.Offsets[v]
		if !ok {
			return 0, fmt.Errorf("field %s: no offset for %s %s in the offsets table (known: %s)", key, fo.Module, v, strings.Join(fo.versions(), ", "))
		}
		if off == nil {
			return 0, fmt.Errorf("field %s in %s %s: %w", key, fo.Module, v, ErrFieldAbsent)
		}
		return *off, nil
	}
	minor, patch, ok := parseGoVersion(goVersion)
	if !ok {
		return 0, fmt.Errorf("field %s: unrecognised Go version %q", key, goVersion)
	}
	// The applicable entry is the latest one of this minor that starts at or
	// before this patch release.
	bestPatch, found := -1, false
	var best *uint64
	for k, off := range fo.Offsets {
		kMinor, kPatch, ok := versionKey(k)
		if ok && kMinor == minor && kPatch <= patch && kPatch > bestPatch {
			bestPatch, best, found = kPatch, off, true
		}
	}
	if !found {
		return 0, fmt.Errorf("field %s: no offset for %s in the offsets table (known: %s)", key, goVersion, strings.Join(fo.versions(), ", "))
	}
	if best == nil {
		return 0, fmt.Errorf("field %s in %s: %w", key, goVersion, ErrFieldAbsent)
	}
	return *best, nil
}

// versionKey parses a table key: "23" is go1.23.0, "go1.26.9" itself.
func versionKey(k string) (minor, patch int, ok bool) {
	if n, err := strconv.Atoi(k); err == nil {
		return n, 0, true
	}
	if strings.Count(k, ".") != 2 {
		return 0, 0, false
	}
	return parseGoVersion(k)
}

func (fo FieldOffsets) versions() []string {
	vs := make([]string, 0, len(fo.Offsets))
	for v := range fo.Offsets {
		vs = append(vs, v)
	}
	sortVersions(vs)
	return vs
}

// sortVersions orders minor-version keys numerically and others after them.
func sortVersions(vs []string) {
	less := func(a, b string) bool {
		ai, aerr := strconv.Atoi(a)
		bi, berr := strconv.Atoi(b)
		switch {
		case aerr == nil && berr == nil:
			return ai < bi
		case aerr == nil:
			return true
		case berr == nil:
			return false
		}
		return a < b
	}
	for i := 1; i < len(vs); i++ {
		for j := i; j > 0 && less(vs[j], vs[j-1]); j-- {
			vs[j], vs[j-1] = vs[j-1], vs[j]
		}
	}
}
