// Package saramademo builds integration/testdata/saramademo (a sarama
// program with a module of its own) against the sarama releases the
// tests use, with or without DWARF.
package saramademo

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// Module paths of sarama: IBM's since v1.40, Shopify's before.
const (
	ModuleIBM     = "github.com/IBM/sarama"
	ModuleShopify = "github.com/Shopify/sarama"
)

// Release is one sarama release the demo is built against: Modfile (in
// the demo's directory, with a .sum next to it) requires it.
type Release struct {
	Module, Version, Modfile string
}

// Releases: the newest and the oldest github.com/IBM/sarama the module
// proxy serves, and github.com/Shopify/sarama's last release.
var (
	Newest  = Release{ModuleIBM, "v1.61.1", "go.mod"}
	Oldest  = Release{ModuleIBM, "v1.40.1", "old.mod"}
	Shopify = Release{ModuleShopify, "v1.38.1", "shopify.mod"}
	// Unlisted is a release the probes' layout rule does not cover
	// (Shopify v1.37): stripped, its layout is unknown.
	Unlisted = Release{ModuleShopify, "v1.37.2", "unlisted.mod"}
)

// Dir is the demo's directory from a package directory of this module.
func Dir(t testing.TB) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("no caller")
	}
	return filepath.Join(filepath.Dir(file), "..", "..", "..", "integration", "testdata", "saramademo")
}

// Build builds the demo against r into dir/name (stripped: -s -w). A
// Shopify release gets a copy of the sources importing its module path
// (the same API), with r's mod and sum files as go.mod and go.sum.
func Build(t testing.TB, r Release, stripped bool, dir, name string) string {
	t.Helper()
	src := Dir(t)
	args := []string{"build", "-o", filepath.Join(dir, name)}
	if stripped {
		args = append(args, "-ldflags=-s -w")
	}
	if r.Module == ModuleIBM {
		args = append(args, "-modfile="+r.Modfile)
	} else {
		src = shopifySource(t, src, r, dir, name)
	}
	cmd := exec.Command("go", append(args, ".")...)
	cmd.Dir = src
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build saramademo against %s %s: %v\n%s", r.Module, r.Version, err, out)
	}
	return filepath.Join(dir, name)
}

func shopifySource(t testing.TB, demo string, r Release, dir, name string) string {
	t.Helper()
	src := filepath.Join(dir, name+"-src")
	if err := os.MkdirAll(src, 0o755); err != nil {
		t.Fatal(err)
	}
	sum := strings.TrimSuffix(r.Modfile, ".mod") + ".sum"
	for from, to := range map[string]string{"main.go": "main.go", r.Modfile: "go.mod", sum: "go.sum"} {
		b, err := os.ReadFile(filepath.Join(demo, from))
		if err != nil {
			t.Fatal(err)
		}
		if from == "main.go" {
			b = []byte(strings.ReplaceAll(string(b), `"`+ModuleIBM+`"`, `"`+r.Module+`"`))
		}
		if err := os.WriteFile(filepath.Join(src, to), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return src
}
