// Command offsetgen generates offsets.json, the struct field offsets that
// goexe.FieldOffset uses for executables without DWARF. For each toolchain it
// builds the target program (testdata/httpapp, unstripped), reads every
// field listed in offsets_fields.txt from the binary's DWARF, and checks that
// patch releases of one Go minor agree. Where they do not, it builds every
// patch release of that minor and records each change point under a
// full-version key ("go1.26.9": from that release on).
//
// Fields of other modules ("importpath.Type.field @module" lines) are read
// from a program of testdata/modules built against every release of the
// module (modules.go); -modules-only regenerates just those entries.
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
	"errors"
	"flag"
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
	onlyModules := flag.String("only-modules", "", "with -modules-only: comma-separated modules to regenerate (default: every module of a \"key @module\" line)")
	modulesOnly := flag.Bool("modules-only", false, "regenerate only the fields of other modules (\"key @module\" lines: one entry per release), keeping the rest of -out")
	module := flag.String("module", "", "module mode: record the fields of this module (google.golang.org/grpc) per minor version of it, merged into -out")
	from := flag.String("from", "v1.33.0", "module mode: the oldest version")
	versions := flag.String("versions", "", "module mode: comma-separated versions to build (default: the newest patch of every minor from -from on); given versions are merged into the table's existing entries")
	checkFirst := flag.Bool("check-first", false, "module mode: also build each minor's first patch release and fail if it differs")
	checkToolchains := flag.String("check-toolchains", "", "module mode: comma-separated toolchains (goX.Y.Z) to build each version with again, failing if they differ")
	flag.Parse()
	log.SetFlags(0)

	fields, mods, err := readFields(*fieldsPath)
	if err != nil {
		log.Fatal(err)
	}
	if *module != "" {
		if len(mods) > 0 {
			log.Fatalf("%s: \"key @module\" lines are for the per-release mode (-modules-only), not -module", *fieldsPath)
		}
		o := moduleOptions{module: *module, program: *program, from: *from, checkFirst: *checkFirst, fields: fields, out: *out}
		if *versions != "" {
			o.versions = strings.Split(*versions, ",")
		}
		if *checkToolchains != "" {
			o.toolchains = strings.Split(*checkToolchains, ",")
		}
		if err := runModule(o); err != nil {
			log.Fatal(err)
		}
		return
	}
	work, err := os.MkdirTemp("", "offsetgen")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(work)
	only := map[string]bool{}
	if *onlyModules != "" {
		for _, m := range strings.Split(*onlyModules, ",") {
			if len(mods[m]) == 0 {
				log.Fatalf("-only-modules: %s has no \"key @%s\" line in %s", m, m, *fieldsPath)
			}
			only[m] = true
		}
	}
	modEntries, built, err := generateModules(work, mods, only)
	if err != nil {
		log.Fatal(err)
	}
	if *modulesOnly {
		if err := mergeModules(*out, modEntries, built); err != nil {
			log.Fatal(err)
		}
		return
	}
	if err := copyProgram(*program, work); err != nil {
		log.Fatal(err)
	}

	builds := map[string]*build{} // by full Go version
	add := func(tc string) {
		b, err := generate(work, tc, fields)
		if err != nil {
			log.Fatalf("%s: %v", tc, err)
		}
		if _, dup := builds[b.version]; !dup {
			builds[b.version] = b
		}
		log.Printf("%s (%s): %d fields", b.version, tc, len(b.offsets))
	}
	for _, tc := range strings.Split(*toolchains, ",") {
		add(strings.TrimSpace(tc))
	}
	// A minor whose patch releases disagree is built at every patch release
	// the module proxy serves, so that each change point is exact.
	for minor, bs := range byMinor(builds) {
		if diff := differing(fields, bs); len(diff) > 0 {
			log.Printf("go1.%d: %v differ between %s and %s: building every patch release", minor, diff, bs[0].version, bs[len(bs)-1].version)
			patches, err := proxyPatchReleases(work, minor)
			if err != nil {
				log.Fatal(err)
			}
			for _, v := range patches {
				if builds[v] == nil {
					add(v)
				}
			}
		}
	}

	table := buildTable(fields, builds)
	// Fields of the per-release modules ("key @module") were generated
	// above; those of the per-minor module mode (grpc-go, protoc-gen-go)
	// come from its own runs and are kept as they are.
	old, err := readTable(*out)
	if err != nil {
		log.Fatal(err)
	}
	for k, fo := range old.Fields {
		if fo.Module != "" {
			table.Fields[k] = fo
		}
	}
	for k, fo := range modEntries {
		table.Fields[k] = fo
	}
	table.Modules = old.Modules
	if table.Modules == nil {
		table.Modules = map[string][]string{}
	}
	for m, vs := range built {
		table.Modules[m] = vs
	}
	if err := writeTable(*out, &table); err != nil {
		log.Fatal(err)
	}
}

// buildTable turns per-version results into the table: per minor, the first
// build's offset stands for the minor from its .0 release on, and a later
// patch release gets its own key where the offset changes.
func buildTable(fields []string, builds map[string]*build) goexe.OffsetTable {
	table := goexe.OffsetTable{Toolchains: map[string][]string{}, Fields: map[string]goexe.FieldOffsets{}}
	groups := byMinor(builds)
	for minor, bs := range groups {
		key := strconv.Itoa(minor)
		for _, b := range bs {
			table.Toolchains[key] = append(table.Toolchains[key], b.version)
		}
	}
	for _, f := range fields {
		fo := goexe.FieldOffsets{Offsets: map[string]*uint64{}}
		for minor, bs := range groups {
			fo.Offsets[strconv.Itoa(minor)] = bs[0].offsets[f]
			for i := 1; i < len(bs); i++ {
				if !sameOffset(bs[i].offsets[f], bs[i-1].offsets[f]) {
					fo.Offsets[bs[i].version] = bs[i].offsets[f]
				}
			}
		}
		table.Fields[f] = fo
	}
	return table
}

// build is what one toolchain's target binary says about the fields.
type build struct {
	version      string // "go1.26.8"
	minor, patch int
	offsets      map[string]*uint64 // nil: the field does not exist
}

// byMinor groups builds by Go minor, each group sorted by patch release.
func byMinor(builds map[string]*build) map[int][]*build {
	m := map[int][]*build{}
	for _, b := range builds {
		m[b.minor] = append(m[b.minor], b)
	}
	for _, bs := range m {
		sort.Slice(bs, func(i, j int) bool { return bs[i].patch < bs[j].patch })
	}
	return m
}

func differing(fields []string, bs []*build) []string {
	var diff []string
	for _, f := range fields {
		for _, b := range bs[1:] {
			if !sameOffset(b.offsets[f], bs[0].offsets[f]) {
				diff = append(diff, f)
				break
			}
		}
	}
	return diff
}

func sameOffset(a, b *uint64) bool {
	return (a == nil) == (b == nil) && (a == nil || *a == *b)
}

// proxyPatchReleases lists the go1.<minor>.N releases for linux/amd64 that
// the module proxy serves as golang.org/toolchain versions.
func proxyPatchReleases(work string, minor int) ([]string, error) {
	cmd := exec.Command("go", "list", "-m", "-versions", "golang.org/toolchain")
	cmd.Dir = work
	cmd.Env = append(cleanEnv(), "GOTOOLCHAIN=local", "GOFLAGS=-mod=mod", "GOWORK=off")
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("list toolchain releases: %w", err)
	}
	re := regexp.MustCompile(fmt.Sprintf(`^v0\.0\.1-(go1\.%d\.\d+)\.linux-amd64$`, minor))
	var vs []string
	for _, f := range strings.Fields(string(out)) {
		if m := re.FindStringSubmatch(f); m != nil {
			vs = append(vs, m[1])
		}
	}
	if len(vs) == 0 {
		return nil, fmt.Errorf("the module proxy lists no go1.%d.N toolchains", minor)
	}
	return vs, nil
}

// generate builds the program with one toolchain and reads the fields.
func generate(work, tc string, fields []string) (*build, error) {
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
		return nil, fmt.Errorf("build: %v\n%s", err, buf.String())
	}
	defer os.Remove(bin)
	exe, err := goexe.Inspect(bin)
	if err != nil {
		return nil, err
	}
	if !exe.HasDWARF {
		return nil, errors.New("target has no DWARF")
	}
	offs := map[string]*uint64{}
	for _, f := range fields {
		i := strings.LastIndexByte(f, '.')
		off, err := exe.DWARFFieldOffset(f[:i], f[i+1:])
		switch {
		case errors.Is(err, goexe.ErrFieldAbsent):
			offs[f] = nil
		case errors.Is(err, goexe.ErrStructAbsent) && mayLackType[f]:
			offs[f] = nil
		case err != nil:
			return nil, fmt.Errorf("%s: %w (does the target program use this type?)", f, err)
		default:
			offs[f] = &off
		}
	}
	v := strings.Fields(exe.GoVersion)[0]
	minor, patch, ok := parseVersion(v)
	if !ok {
		return nil, fmt.Errorf("unrecognised Go version %q", exe.GoVersion)
	}
	return &build{version: v, minor: minor, patch: patch, offsets: offs}, nil
}

var versionRE = regexp.MustCompile(`^go1\.(\d+)(?:\.(\d+))?$`)

func parseVersion(v string) (minor, patch int, ok bool) {
	m := versionRE.FindStringSubmatch(v)
	if m == nil {
		return 0, 0, false
	}
	minor, _ = strconv.Atoi(m[1])
	if m[2] != "" {
		patch, _ = strconv.Atoi(m[2])
	}
	return minor, patch, true
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

// mayLackType lists the fields whose line ends in " ?": a toolchain whose
// DWARF lacks the struct (internal/runtime/maps before Go 1.24) records
// them as absent instead of failing.
var mayLackType = map[string]bool{}

// byGeneration lists the fields whose line ends in " @protoc-gen-go": fields
// of a generated protobuf message, which the module mode records by the
// protoc-gen-go generation of the message's package in each build
// (goexe.ProtoGeneration), not by the module's version.
var byGeneration = map[string]bool{}

// readFields reads the standard-library fields and, by module, the fields
// of other modules ("key @module"). " @protoc-gen-go" (byGeneration) and
// " ?" (mayLackType) mark the fields they end; such fields are returned
// with the standard-library ones.
func readFields(path string) ([]string, moduleFields, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	var fields []string
	mods := moduleFields{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if l, ok := strings.CutSuffix(line, " @"+goexe.ProtocGenGo); ok {
			line = strings.TrimSpace(l)
			byGeneration[line] = true
		}
		if l, ok := strings.CutSuffix(line, " ?"); ok {
			line = strings.TrimSpace(l)
			mayLackType[line] = true
		}
		words := strings.Fields(line)
		key := words[0]
		if i := strings.LastIndexByte(key, '.'); i <= 0 || i == len(key)-1 || len(words) > 2 || len(words) == 2 && (!strings.HasPrefix(words[1], "@") || len(words[1]) == 1) {
			return nil, nil, fmt.Errorf("%s: malformed line %q (want importpath.Type.field, optionally followed by @module, @%s or ?)", path, line, goexe.ProtocGenGo)
		}
		if len(words) == 2 {
			m := words[1][1:]
			mods[m] = append(mods[m], key)
			continue
		}
		fields = append(fields, key)
	}
	return fields, mods, sc.Err()
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
