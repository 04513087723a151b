// Command offsetgen generates offsets.json, the struct field offsets that
// goexe.FieldOffset uses for executables without DWARF. For each toolchain it
// builds the target program (testdata/httpapp, unstripped), reads every
// field listed in offsets_fields.txt from the binary's DWARF, and checks that
// all patch releases of one Go minor agree; fields that differ within a minor
// are keyed by full version instead.
//
// Toolchains are given as "go1.21.13" (fetched through the module proxy by
// the host go command with GOTOOLCHAIN) or as the path of an installed go
// command (Debian's /usr/lib/go-1.19/bin/go). Run from the goexe directory:
//
//	go run ./cmd/offsetgen -fields offsets_fields.txt -out offsets.json
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/goexe"
)

// defaultToolchains covers Go 1.19 through 1.26 with the first and the
// latest patch release of each minor (and Debian's 1.19), so that a layout
// change inside a minor is caught.
var defaultToolchains = []string{
	"/usr/lib/go-1.19/bin/go", "go1.19.2", "go1.19.13",
	"go1.20.1", "go1.20.14",
	"go1.21.0", "go1.21.13",
	"go1.22.0", "go1.22.12",
	"go1.23.0", "go1.23.12",
	"go1.24.0", "go1.24.13",
	"go1.25.0", "go1.25.14",
	"go1.26.0", "go1.26.11",
}

func main() {
	fieldsPath := flag.String("fields", "offsets_fields.txt", "file listing importpath.Type.field, one per line")
	out := flag.String("out", "offsets.json", "output file")
	program := flag.String("program", filepath.Join("testdata", "httpapp"), "directory of the target program's sources")
	toolchains := flag.String("toolchains", strings.Join(defaultToolchains, ","), "comma-separated toolchains: goX.Y.Z or a go command path")
	flag.Parse()
	log.SetFlags(0)

	fields, err := readFields(*fieldsPath)
	if err != nil {
		log.Fatal(err)
	}
	work, err := os.MkdirTemp("", "offsetgen")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(work)
	if err := copyProgram(*program, work); err != nil {
		log.Fatal(err)
	}

	// results[field][full version] = offset, nil when absent
	results := map[string]map[string]*uint64{}
	versions := map[string][]string{} // minor -> full versions
	for _, tc := range strings.Split(*toolchains, ",") {
		v, offs, err := generate(work, strings.TrimSpace(tc), fields)
		if err != nil {
			log.Fatalf("%s: %v", tc, err)
		}
		minor := minorOf(v)
		if contains(versions[minor], v) {
			continue
		}
		versions[minor] = append(versions[minor], v)
		for f, off := range offs {
			if results[f] == nil {
				results[f] = map[string]*uint64{}
			}
			results[f][v] = off
		}
		log.Printf("%s: %d fields", v, len(offs))
	}

	table := goexe.OffsetTable{Toolchains: versions, Fields: map[string]goexe.FieldOffsets{}}
	for _, f := range fields {
		fo := goexe.FieldOffsets{Offsets: map[string]*uint64{}}
		for minor, vs := range versions {
			if allEqual(results[f], vs) {
				fo.Offsets[minor] = results[f][vs[0]]
				continue
			}
			log.Printf("%s differs between patch releases of go1.%s: keyed by full version", f, minor)
			for _, v := range vs {
				fo.Offsets[v] = results[f][v]
			}
		}
		table.Fields[f] = fo
	}
	for _, vs := range versions {
		sort.Strings(vs)
	}
	b, err := json.MarshalIndent(table, "", "  ")
	if err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(*out, append(b, '\n'), 0o644); err != nil {
		log.Fatal(err)
	}
}

// generate builds the program with one toolchain and reads the fields.
func generate(work, tc string, fields []string) (string, map[string]*uint64, error) {
	goBin, gotoolchain := "go", tc
	if strings.Contains(tc, "/") {
		goBin, gotoolchain = tc, "local"
	}
	bin := filepath.Join(work, "target")
	cmd := exec.Command(goBin, "build", "-o", bin, ".")
	cmd.Dir = work
	cmd.Env = append(cleanEnv(), "GOTOOLCHAIN="+gotoolchain, "CGO_ENABLED=0", "GOWORK=off", "GOFLAGS=-buildvcs=false", "GO111MODULE=on")
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if err := cmd.Run(); err != nil {
		return "", nil, fmt.Errorf("build: %v\n%s", err, buf.String())
	}
	defer os.Remove(bin)
	exe, err := goexe.Inspect(bin)
	if err != nil {
		return "", nil, err
	}
	if !exe.HasDWARF {
		return "", nil, errors.New("target has no DWARF")
	}
	offs := map[string]*uint64{}
	for _, f := range fields {
		i := strings.LastIndexByte(f, '.')
		off, err := exe.DWARFFieldOffset(f[:i], f[i+1:])
		switch {
		case errors.Is(err, goexe.ErrFieldAbsent):
			offs[f] = nil
		case err != nil:
			return "", nil, fmt.Errorf("%s: %w (does the target program use this type?)", f, err)
		default:
			offs[f] = &off
		}
	}
	return strings.Fields(exe.GoVersion)[0], offs, nil
}

var minorRE = regexp.MustCompile(`^go1\.(\d+)`)

func minorOf(v string) string {
	if m := minorRE.FindStringSubmatch(v); m != nil {
		return m[1]
	}
	return v
}

func allEqual(offs map[string]*uint64, versions []string) bool {
	first := offs[versions[0]]
	for _, v := range versions[1:] {
		o := offs[v]
		if (o == nil) != (first == nil) || (o != nil && *o != *first) {
			return false
		}
	}
	return true
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		switch k, _, _ := strings.Cut(kv, "="); k {
		case "GOTOOLCHAIN", "GOFLAGS", "GOWORK", "GOROOT", "CGO_ENABLED", "GOOS", "GOARCH", "GO111MODULE", "GOEXPERIMENT":
			continue
		}
		env = append(env, kv)
	}
	return env
}

func readFields(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var fields []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if i := strings.LastIndexByte(line, '.'); i <= 0 || i == len(line)-1 {
			return nil, fmt.Errorf("%s: malformed line %q (want importpath.Type.field)", path, line)
		}
		fields = append(fields, line)
	}
	return fields, sc.Err()
}

func copyProgram(src, dst string) error {
	sources, err := filepath.Glob(filepath.Join(src, "*.go"))
	if err != nil || len(sources) == 0 {
		return fmt.Errorf("no Go sources in %s", src)
	}
	for _, s := range sources {
		b, err := os.ReadFile(s)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dst, filepath.Base(s)), b, 0o644); err != nil {
			return err
		}
	}
	return os.WriteFile(filepath.Join(dst, "go.mod"), []byte("module example.com/httpapp\n\ngo 1.19\n"), 0o644)
}
