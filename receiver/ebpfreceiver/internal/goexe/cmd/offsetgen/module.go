package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/goexe"
)

// moduleOptions drive the module mode: the fields of one library module
// (grpc-go), recorded per minor version of that module. The program is
// built against the newest patch release of every minor from -from on (or
// the -versions given) with the host toolchain; -check-first also builds
// the first patch release of each minor and, where they differ (grpc-go
// v1.83.1 moved ServerStream.st), every patch release of it, recording
// each change point under the patch's own key ("v1.83.1": from there on);
// -check-toolchains builds each version again with other toolchains and
// fails when they disagree (the premise that layouts depend on the
// library version alone).
type moduleOptions struct {
	module      string
	program     string
	from        string
	versions    []string
	checkFirst  bool
	toolchains  []string
	fields      []string
	out         string
	parallelism int
}

func runModule(o moduleOptions) error {
	tab, err := readTable(o.out)
	if err != nil {
		return err
	}
	versions := o.versions
	var patches map[string][]string // minor -> its patch releases, in order
	if len(versions) == 0 || o.checkFirst {
		all, p, err := moduleMinors(o.module, o.from)
		if err != nil {
			return err
		}
		patches = p
		if len(versions) == 0 {
			versions = all
		}
	}
	src, err := os.ReadFile(filepath.Join(o.program, "main.go"))
	if err != nil {
		return err
	}
	type result struct {
		version string
		offsets map[string]*uint64
		gens    map[string]string
	}
	var versionFields []string // keyed by the module's version
	for _, f := range o.fields {
		if !byGeneration[f] {
			versionFields = append(versionFields, f)
		}
	}
	// byMinor holds, per minor, the builds that make its entries, sorted by
	// patch: the first one's offsets are the minor's, a later patch whose
	// offsets change gets a key of its own. extra holds the toolchain
	// checks' builds (generations only).
	byMinor := map[string][]result{}
	var extra []result
	build := func(v, tc string) (result, string, error) {
		offs, gens, gov, err := moduleBuild(o, src, v, tc)
		if err != nil {
			return result{}, "", fmt.Errorf("%s %s: %w", o.module, v, err)
		}
		log.Printf("%s %s (%s): %d fields", o.module, v, gov, len(offs))
		return result{v, offs, gens}, gov, nil
	}
	for _, v := range versions {
		m := minorOf(v)
		r, gov, err := build(v, "local")
		if err != nil {
			return err
		}
		builds := []result{r}
		ps := patches[m]
		if o.checkFirst && len(ps) > 1 && ps[0] != v {
			first, _, err := build(ps[0], "local")
			if err != nil {
				return err
			}
			builds = append([]result{first}, builds...)
			if d := differingMaps(versionFields, first.offsets, r.offsets); len(d) > 0 {
				// A layout change inside the minor: every patch release is
				// built, so that each change point is exact.
				log.Printf("  %s %s and %s differ in %v: building every patch release of %s", o.module, ps[0], v, d, m)
				builds = builds[:1]
				for _, p := range ps[1:] {
					if p == v {
						builds = append(builds, r)
						continue
					}
					pr, _, err := build(p, "local")
					if err != nil {
						return err
					}
					builds = append(builds, pr)
				}
			}
		}
		for _, tc := range o.toolchains {
			tr, gov2, err := build(v, tc)
			if err != nil {
				if strings.Contains(err.Error(), "requires go >=") || strings.Contains(err.Error(), "go.mod requires go") {
					log.Printf("  %s %s: toolchain %s too old for it, not checked", o.module, v, tc)
					continue
				}
				return err
			}
			if d := differingMaps(versionFields, r.offsets, tr.offsets); len(d) > 0 {
				return fmt.Errorf("%s %s built with %s and with %s differ in %v: the table cannot key these fields by the module's version alone", o.module, v, gov, gov2, d)
			}
			log.Printf("  %s %s (%s) agrees", o.module, v, gov2)
			extra = append(extra, tr)
		}
		byMinor[m] = append(byMinor[m], builds...)
		sort.Slice(byMinor[m], func(i, j int) bool { return semverLess(byMinor[m][i].version, byMinor[m][j].version) })
	}
	if tab.Modules == nil {
		tab.Modules = map[string][]string{}
	}
	if len(o.versions) == 0 {
		tab.Modules[o.module] = nil
	}
	for _, f := range o.fields {
		mod := o.module
		if byGeneration[f] {
			mod = goexe.ProtocGenGo
		}
		fo, ok := tab.Fields[f]
		if !ok || fo.Module != mod || len(o.versions) == 0 {
			fo = goexe.FieldOffsets{Module: mod, Offsets: map[string]*uint64{}}
		}
		for m, builds := range byMinor {
			if byGeneration[f] {
				break
			}
			for k := range fo.Offsets {
				if k == m || minorOf(k) == m {
					delete(fo.Offsets, k) // rebuilt now
				}
			}
			fo.Offsets[m] = builds[0].offsets[f]
			for i := 1; i < len(builds); i++ {
				if !sameOffset(builds[i].offsets[f], builds[i-1].offsets[f]) {
					fo.Offsets[builds[i].version] = builds[i].offsets[f]
				}
			}
		}
		if byGeneration[f] {
			all := append([]result{}, extra...)
			for _, builds := range byMinor {
				all = append(all, builds...)
			}
			for _, r := range all {
				g := r.gens[f]
				if g == "" {
					return fmt.Errorf("%s %s: %s: no protoc-gen-go generation (neither ProtoReflect nor XXX_Unmarshal)", o.module, r.version, f)
				}
				if prev, ok := fo.Offsets[g]; ok && !sameOffset(prev, r.offsets[f]) {
					return fmt.Errorf("%s: two %s-generated builds disagree (%s %s)", f, g, o.module, r.version)
				}
				fo.Offsets[g] = r.offsets[f]
			}
		}
		tab.Fields[f] = fo
	}
	seen := map[string]bool{}
	for _, v := range tab.Modules[o.module] {
		seen[v] = true
	}
	for _, builds := range byMinor {
		for _, r := range builds {
			if !seen[r.version] {
				seen[r.version] = true
				tab.Modules[o.module] = append(tab.Modules[o.module], r.version)
			}
		}
	}
	sort.Slice(tab.Modules[o.module], func(i, j int) bool {
		return semverLess(tab.Modules[o.module][i], tab.Modules[o.module][j])
	})
	return writeTable(o.out, tab)
}

// moduleBuild builds the program against module version v with toolchain
// tc ("local": the host's) and reads the fields from its DWARF; a struct the
// version does not have makes its fields absent.
func moduleBuild(o moduleOptions, src []byte, v, tc string) (offs map[string]*uint64, gens map[string]string, gov string, err error) {
	dir, err := os.MkdirTemp("", "offsetgen-mod")
	if err != nil {
		return nil, nil, "", err
	}
	defer os.RemoveAll(dir)
	gomod := fmt.Sprintf("module example.com/modapp\n\ngo 1.22\n\nrequire %s %s\n", o.module, v)
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte(gomod), 0o644); err != nil {
		return nil, nil, "", err
	}
	if err := os.WriteFile(filepath.Join(dir, "main.go"), src, 0o644); err != nil {
		return nil, nil, "", err
	}
	bin := filepath.Join(dir, "target")
	for _, args := range [][]string{{"mod", "tidy"}, {"build", "-o", bin, "."}} {
		cmd := exec.Command("go", args...)
		cmd.Dir = dir
		cmd.Env = append(cleanEnv(), "GOTOOLCHAIN="+tc, "CGO_ENABLED=0", "GOWORK=off", "GOFLAGS=-mod=mod -buildvcs=false", "GO111MODULE=on")
		var buf bytes.Buffer
		cmd.Stdout, cmd.Stderr = &buf, &buf
		if err := cmd.Run(); err != nil {
			return nil, nil, "", fmt.Errorf("go %s: %v\n%s", args[0], err, buf.String())
		}
	}
	exe, err := goexe.Inspect(bin)
	if err != nil {
		return nil, nil, "", err
	}
	if got := exe.Modules[o.module]; got != v {
		return nil, nil, "", fmt.Errorf("the build used %s %q, want %s", o.module, got, v)
	}
	offs, gens = map[string]*uint64{}, map[string]string{}
	for _, f := range o.fields {
		i := strings.LastIndexByte(f, '.')
		if byGeneration[f] {
			typ := f[:i]
			j := strings.LastIndexByte(typ, '.')
			gens[f] = exe.ProtoGeneration(typ[:j], typ[j+1:])
		}
		off, err := exe.DWARFFieldOffset(f[:i], f[i+1:])
		switch {
		case errors.Is(err, goexe.ErrFieldAbsent), errors.Is(err, goexe.ErrStructAbsent):
			offs[f] = nil
		case err != nil:
			return nil, nil, "", fmt.Errorf("%s: %w", f, err)
		default:
			offs[f] = &off
		}
	}
	return offs, gens, strings.Fields(exe.GoVersion)[0], nil
}

func differingMaps(fields []string, a, b map[string]*uint64) []string {
	var d []string
	for _, f := range fields {
		if !sameOffset(a[f], b[f]) {
			d = append(d, f)
		}
	}
	return d
}

var releaseRE = regexp.MustCompile(`^v(\d+)\.(\d+)\.(\d+)$`)

// minorOf is "v1.33" for "v1.33.2".
func minorOf(v string) string {
	m := releaseRE.FindStringSubmatch(v)
	if m == nil {
		return v
	}
	return "v" + m[1] + "." + m[2]
}

func semverLess(a, b string) bool {
	ma, mb := releaseRE.FindStringSubmatch(a), releaseRE.FindStringSubmatch(b)
	if ma == nil || mb == nil {
		return a < b
	}
	for i := 1; i <= 3; i++ {
		x, _ := strconv.Atoi(ma[i])
		y, _ := strconv.Atoi(mb[i])
		if x != y {
			return x < y
		}
	}
	return false
}

// moduleMinors lists, per minor from `from` on, the newest patch release the
// module proxy serves (and the first one), releases only.
func moduleMinors(module, from string) (newest []string, patches map[string][]string, err error) {
	dir, err := os.MkdirTemp("", "offsetgen-list")
	if err != nil {
		return nil, nil, err
	}
	defer os.RemoveAll(dir)
	cmd := exec.Command("go", "list", "-m", "-versions", module)
	cmd.Dir = dir
	cmd.Env = append(cleanEnv(), "GOTOOLCHAIN=local", "GOFLAGS=-mod=mod", "GOWORK=off", "GO111MODULE=on")
	out, err := cmd.Output()
	if err != nil {
		return nil, nil, fmt.Errorf("list %s versions: %w", module, err)
	}
	patches = map[string][]string{}
	for _, v := range strings.Fields(string(out))[1:] {
		if !releaseRE.MatchString(v) || semverLess(v, from) {
			continue
		}
		patches[minorOf(v)] = append(patches[minorOf(v)], v)
	}
	for _, ps := range patches {
		sort.Slice(ps, func(i, j int) bool { return semverLess(ps[i], ps[j]) })
		newest = append(newest, ps[len(ps)-1])
	}
	sort.Slice(newest, func(i, j int) bool { return semverLess(newest[i], newest[j]) })
	if len(newest) == 0 {
		return nil, nil, fmt.Errorf("the module proxy lists no %s release from %s on", module, from)
	}
	return newest, patches, nil
}

func readTable(path string) (*goexe.OffsetTable, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return &goexe.OffsetTable{Toolchains: map[string][]string{}, Fields: map[string]goexe.FieldOffsets{}}, nil
	}
	if err != nil {
		return nil, err
	}
	var t goexe.OffsetTable
	if err := json.Unmarshal(b, &t); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if t.Fields == nil {
		t.Fields = map[string]goexe.FieldOffsets{}
	}
	return &t, nil
}

func writeTable(path string, t *goexe.OffsetTable) error {
	b, err := json.MarshalIndent(t, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}
