package goexe

import (
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// copyFile copies src to a new file (a new inode) in dir.
func copyFile(t *testing.T, src, dir, name string) string {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(dir, name)
	if err := os.WriteFile(dst, b, 0o755); err != nil {
		t.Fatal(err)
	}
	return dst
}

func TestCache(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	a := copyFile(t, buildTarget(t, tcHost, variant{tiny: true}), dir, "a")
	c := NewCache()

	first, err := c.Inspect(a)
	if err != nil {
		t.Fatal(err)
	}
	again, err := c.Inspect(a)
	if err != nil || again != first || c.Len() != 1 {
		t.Fatalf("second Inspect = %p, %v, Len %d; want the cached %p, Len 1", again, err, c.Len(), first)
	}

	// A hard link is the same inode: shared.
	link := filepath.Join(dir, "link")
	if err := os.Link(a, link); err != nil {
		t.Fatal(err)
	}
	if viaLink, err := c.Inspect(link); err != nil || viaLink != first || c.Len() != 1 {
		t.Errorf("Inspect(hard link) = %p, %v, Len %d; want the cached %p", viaLink, err, c.Len(), first)
	}

	// A copy is another inode: inspected separately.
	b := copyFile(t, a, dir, "b")
	other, err := c.Inspect(b)
	if err != nil || other == first || c.Len() != 2 {
		t.Errorf("Inspect(copy) = %p, %v, Len %d; want a new inspection, Len 2", other, err, c.Len())
	}

	// Touching the file (a rebuild in place keeps the inode) invalidates it.
	later := time.Now().Add(time.Hour)
	if err := os.Chtimes(a, later, later); err != nil {
		t.Fatal(err)
	}
	touched, err := c.Inspect(a)
	if err != nil || touched == first || c.Len() != 3 {
		t.Errorf("Inspect(touched) = %p, %v, Len %d; want a new inspection, Len 3", touched, err, c.Len())
	}

	// Non-Go executables are cached as failures.
	for i := 0; i < 2; i++ {
		if _, err := c.Inspect("/bin/ls"); !errors.Is(err, ErrNotGo) {
			t.Fatalf("Inspect(/bin/ls) = %v", err)
		}
	}
	if c.Len() != 4 {
		t.Errorf("Len = %d after /bin/ls twice, want 4", c.Len())
	}
	if _, err := c.Inspect(filepath.Join(dir, "missing")); err == nil {
		t.Error("Inspect(missing) succeeded")
	}
}

func TestCacheConcurrent(t *testing.T) {
	t.Parallel()
	path := copyFile(t, buildTarget(t, tcHost, variant{tiny: true}), t.TempDir(), "x")
	c := NewCache()
	const n = 16
	results := make([]*Executable, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			exe, err := c.Inspect(path)
			if err != nil {
				t.Error(err)
			}
			results[i] = exe
		}(i)
	}
	wg.Wait()
	for i, r := range results {
		if r == nil || r != results[0] {
			t.Fatalf("result %d = %p, want the single shared inspection %p", i, r, results[0])
		}
	}
	if c.Len() != 1 {
		t.Errorf("Len = %d, want 1", c.Len())
	}
}

func TestCacheEviction(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	src := buildTarget(t, tcHost, variant{tiny: true})
	c := NewCacheSize(2)
	paths := []string{copyFile(t, src, dir, "1"), copyFile(t, src, dir, "2"), copyFile(t, src, dir, "3")}
	var firsts []*Executable
	for _, p := range paths {
		exe, err := c.Inspect(p)
		if err != nil {
			t.Fatal(err)
		}
		firsts = append(firsts, exe)
	}
	if c.Len() != 2 {
		t.Fatalf("Len = %d, want the bound 2", c.Len())
	}
	if exe, _ := c.Inspect(paths[2]); exe != firsts[2] {
		t.Error("most recent entry was evicted")
	}
	if exe, _ := c.Inspect(paths[0]); exe == firsts[0] {
		t.Error("least recently used entry was not evicted")
	}
}

// TestCacheSurvivesFirstPath checks that an inspection shared by several
// paths (as /proc/<pid>/exe of several processes are) still reads code after
// the path it was first made at disappears.
func TestCacheSurvivesFirstPath(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	first := copyFile(t, buildTarget(t, tcHost, variant{tiny: true}), dir, "first")
	second := filepath.Join(dir, "second")
	if err := os.Link(first, second); err != nil {
		t.Fatal(err)
	}
	c := NewCache()
	exe, err := c.Inspect(first)
	if err != nil {
		t.Fatal(err)
	}
	if again, err := c.Inspect(second); err != nil || again != exe {
		t.Fatalf("Inspect(second) = %p, %v; want the shared %p", again, err, exe)
	}
	if err := os.Remove(first); err != nil {
		t.Fatal(err)
	}
	if _, err := exe.Func("main.main"); err != nil {
		t.Errorf("Func after the first path went away: %v", err)
	}
	if err := os.Remove(second); err != nil {
		t.Fatal(err)
	}
	if _, err := exe.Func("main.main"); err == nil {
		t.Error("Func succeeded with no path left")
	}
}

// TestConcurrentUse runs the read paths of one Executable from several
// goroutines and checks their answers (also meant for -race): the receiver
// resolves PCs for many processes of one binary at once.
func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	exe, err := Inspect(buildTarget(t, tcHost, variant{}))
	if err != nil {
		t.Fatal(err)
	}
	funcs := exe.table.Funcs
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := g; i < len(funcs); i += 3 {
				if name, _, _, ok := exe.FuncForPC(funcs[i].Entry); !ok || name != funcs[i].Name {
					t.Errorf("FuncForPC(%#x) = %q, %v; want %s", funcs[i].Entry, name, ok, funcs[i].Name)
					return
				}
			}
			if _, err := exe.Func(serveHTTP); err != nil {
				t.Error(err)
			}
			if _, err := exe.FieldOffset("runtime.g", "goid"); err != nil {
				t.Error(err)
			}
		}(g)
	}
	wg.Wait()
}
