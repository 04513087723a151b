package main

import (
	"bytes"
	"errors"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"

	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/goexe"
)

// Fields of types outside the standard library are listed in
// offsets_fields.txt with the module that defines them:
//
//	github.com/redis/go-redis/v9.baseClient.opt @github.com/redis/go-redis/v9
//
// Their offsets do not depend on the Go toolchain but on the module's
// version: for every release the module proxy lists (retracted ones
// included, pre-releases left out),
// a program of testdata/modules/<module path with / and . as _> that uses
// the types is built against it with the host toolchain, and the offsets
// and sizes are read from its DWARF. The table records them by module
// version, as change points: a release's key is kept only where an offset
// (or size) differs from the previous release's, and the table's "modules"
// lists every release built, so that OffsetTable.Lookup resolves a listed
// release to the latest key at or before it (proven equal: it was built)
// and an unlisted one to nothing. golang.org/x/net's 13 fields over 63
// releases take 13 keys each this way instead of 63.

// moduleFields maps a module path to its fields' keys.
type moduleFields map[string][]string

// moduleProgram is the directory of the program that uses module's types.
func moduleProgram(module string) string {
	return filepath.Join("testdata", "modules", strings.NewReplacer("/", "_", ".", "_").Replace(module))
}

// generateModules returns the table entries of every module field (of the
// modules in only, when it is not empty) and, by module, the releases
// built.
func generateModules(work string, mods moduleFields, only map[string]bool) (map[string]goexe.FieldOffsets, map[string][]string, error) {
	out := map[string]goexe.FieldOffsets{}
	built := map[string][]string{}
	modules := make([]string, 0, len(mods))
	for m := range mods {
		if len(only) == 0 || only[m] {
			modules = append(modules, m)
		}
	}
	sort.Strings(modules)
	for _, m := range modules {
		versions, err := moduleReleases(work, m)
		if err != nil {
			return nil, nil, err
		}
		for _, f := range mods[m] {
			out[f] = goexe.FieldOffsets{Module: m, Offsets: map[string]*uint64{}, Sizes: map[string]*uint64{}}
		}
		for _, v := range versions {
			offs, sizes, err := generateModule(work, m, v, mods[m])
			if err != nil {
				return nil, nil, fmt.Errorf("%s %s: %w", m, v, err)
			}
			for f, off := range offs {
				out[f].Offsets[v] = off
				out[f].Sizes[v] = sizes[f]
			}
			log.Printf("%s %s: %d fields", m, v, len(offs))
		}
		for _, f := range mods[m] {
			out[f] = goexe.FieldOffsets{Module: m, Offsets: changePoints(out[f].Offsets, versions), Sizes: changePoints(out[f].Sizes, versions)}
		}
		built[m] = versions
	}
	return out, built, nil
}

// changePoints keeps, of a field's value per release, the first release's
// and each one that differs from the release before it (versions in
// order).
func changePoints(byVersion map[string]*uint64, versions []string) map[string]*uint64 {
	out := map[string]*uint64{}
	for i, v := range versions {
		if i == 0 || !sameOffset(byVersion[v], byVersion[versions[i-1]]) {
			out[v] = byVersion[v]
		}
	}
	return out
}

// moduleReleases lists the module's release versions (no pre-releases)
// that the module proxy serves.
func moduleReleases(work, module string) ([]string, error) {
	dir := filepath.Join(work, "list")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module example.com/list\n\ngo 1.19\n"), 0o644); err != nil {
		return nil, err
	}
	// Retracted releases too: programs built with them exist.
	cmd := exec.Command("go", "list", "-m", "-versions", "-retracted", module)
	cmd.Dir = dir
	cmd.Env = append(cleanEnv(), "GOTOOLCHAIN=local", "GOFLAGS=-mod=mod", "GOWORK=off")
	b, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("list versions of %s: %w", module, err)
	}
	var vs []string
	for _, v := range strings.Fields(string(b))[1:] {
		if !strings.Contains(v, "-") {
			vs = append(vs, v)
		}
	}
	sort.Slice(vs, func(i, j int) bool { return semverLess(vs[i], vs[j]) })
	if len(vs) == 0 {
		return nil, fmt.Errorf("the module proxy lists no release of %s", module)
	}
	return vs, nil
}

// generateModule builds the module's program against version and reads the
// fields' offsets and sizes (nil where a field does not exist in that
// version).
func generateModule(work, module, version string, fields []string) (offsets, sizes map[string]*uint64, err error) {
	dir := filepath.Join(work, "mod")
	_ = os.RemoveAll(dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, nil, err
	}
	sources, err := filepath.Glob(filepath.Join(moduleProgram(module), "*.go"))
	if err != nil || len(sources) == 0 {
		return nil, nil, fmt.Errorf("no Go sources in %s", moduleProgram(module))
	}
	for _, s := range sources {
		b, err := os.ReadFile(s)
		if err != nil {
			return nil, nil, err
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(s)), b, 0o644); err != nil {
			return nil, nil, err
		}
	}
	gomod := fmt.Sprintf("module example.com/modapp\n\ngo 1.19\n\nrequire %s %s\n", module, version)
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte(gomod), 0o644); err != nil {
		return nil, nil, err
	}
	bin := filepath.Join(work, "modtarget")
	for _, args := range [][]string{{"mod", "tidy"}, {"build", "-o", bin, "."}} {
		cmd := exec.Command("go", args...)
		cmd.Dir = dir
		cmd.Env = append(cleanEnv(), "GOTOOLCHAIN=local", "CGO_ENABLED=0", "GOWORK=off", "GOFLAGS=-mod=mod -buildvcs=false", "GO111MODULE=on")
		var buf bytes.Buffer
		cmd.Stdout, cmd.Stderr = &buf, &buf
		if err := cmd.Run(); err != nil {
			return nil, nil, fmt.Errorf("go %v: %v\n%s", args, err, buf.String())
		}
	}
	defer os.Remove(bin)
	exe, err := goexe.Inspect(bin)
	if err != nil {
		return nil, nil, err
	}
	if got := exe.Modules[module]; got != version {
		return nil, nil, fmt.Errorf("program built with %s %q, want %s", module, got, version)
	}
	offsets, sizes = map[string]*uint64{}, map[string]*uint64{}
	for _, f := range fields {
		i := strings.LastIndexByte(f, '.')
		off, err := exe.DWARFFieldOffset(f[:i], f[i+1:])
		switch {
		case errors.Is(err, goexe.ErrFieldAbsent):
			offsets[f], sizes[f] = nil, nil
		case err != nil:
			return nil, nil, fmt.Errorf("%s: %w (does %s use this type?)", f, err, moduleProgram(module))
		default:
			size, err := exe.DWARFFieldSize(f[:i], f[i+1:])
			if err != nil {
				return nil, nil, fmt.Errorf("%s: %w", f, err)
			}
			offsets[f], sizes[f] = &off, &size
		}
	}
	return offsets, sizes, nil
}

// mergeModules replaces the entries of the modules in entries with
// entries' (the -modules-only mode: the standard-library entries and those
// of other modules, such as grpc-go's per-minor ones, are kept as they are;
// no toolchain is built).
func mergeModules(path string, entries map[string]goexe.FieldOffsets, built map[string][]string) error {
	table, err := readTable(path)
	if err != nil {
		return err
	}
	if table.Modules == nil {
		table.Modules = map[string][]string{}
	}
	for m, vs := range built {
		table.Modules[m] = vs
	}
	regenerated := map[string]bool{}
	for _, fo := range entries {
		regenerated[fo.Module] = true
	}
	for k, fo := range table.Fields {
		if regenerated[fo.Module] {
			delete(table.Fields, k)
		}
	}
	for k, fo := range entries {
		table.Fields[k] = fo
	}
	return writeTable(path, table)
}
