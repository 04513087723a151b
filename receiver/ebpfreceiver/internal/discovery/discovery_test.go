package discovery

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
)

func TestParsePortRanges(t *testing.T) {
	tests := []struct {
		in      string
		want    []PortRange
		wantErr bool
	}{
		{in: "8080", want: []PortRange{{8080, 8080}}},
		{in: "8080,9000-9100", want: []PortRange{{8080, 8080}, {9000, 9100}}},
		{in: " 80 , 443 ", want: []PortRange{{80, 80}, {443, 443}}},
		{in: "", wantErr: true},
		{in: "8080,", wantErr: true},
		{in: "0", wantErr: true},
		{in: "65536", wantErr: true},
		{in: "9100-9000", wantErr: true},
		{in: "http", wantErr: true},
		{in: "1-2-3", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParsePortRanges(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParsePortRanges(%q) error = %v, wantErr %t", tt.in, err, tt.wantErr)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("ParsePortRanges(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func TestCompileGlob(t *testing.T) {
	tests := []struct {
		glob, path string
		want       bool
	}{
		{"/usr/local/bin/orders*", "/usr/local/bin/orders-v2", true},
		{"/usr/local/bin/orders*", "/usr/bin/orders", false},
		{"*/otelcol*", "/usr/local/bin/otelcol-goebpf", true},
		{"*/otelcol*", "/usr/local/bin/orders", false},
		{"/srv/app?", "/srv/app1", true},
		{"/srv/app[12]", "/srv/app3", false},
		{"/srv/a.b", "/srv/axb", false}, // '.' is literal
	}
	for _, tt := range tests {
		re, err := CompileGlob(tt.glob)
		if err != nil {
			t.Fatalf("CompileGlob(%q): %v", tt.glob, err)
		}
		if got := re.MatchString(tt.path); got != tt.want {
			t.Errorf("glob %q on %q = %t, want %t", tt.glob, tt.path, got, tt.want)
		}
	}
	if _, err := CompileGlob("/srv/[abc"); err == nil {
		t.Error("CompileGlob with unterminated class: want error")
	}
}

func TestParseListeners(t *testing.T) {
	got := map[uint64]uint16{}
	for _, name := range []string{"tcp", "tcp6"} {
		f, err := os.Open(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		if err := ParseListeners(f, got); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	// 1003 is an established connection, the inode-0 listener is skipped.
	want := map[uint64]uint16{1001: 8080, 1002: 9090, 2001: 9100}
	if len(got) != len(want) {
		t.Fatalf("listeners = %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("inode %d: port %d, want %d", k, got[k], v)
		}
	}
}

func TestParseStartTime(t *testing.T) {
	stat, err := os.ReadFile(filepath.Join("testdata", "stat"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := parseStartTime(stat)
	if err != nil || got != 987654 {
		t.Fatalf("parseStartTime = %d, %v; want 987654", got, err)
	}
	if _, err := parseStartTime([]byte("12 (x) S 1")); err == nil {
		t.Error("short stat: want error")
	}
}

// fakeProc builds a proc tree: pid -> exe path, socket inodes, netns.
func fakeProc(t *testing.T, procs map[int]struct {
	exe     string
	sockets []string
}) string {
	t.Helper()
	root := t.TempDir()
	stat, err := os.ReadFile(filepath.Join("testdata", "stat"))
	if err != nil {
		t.Fatal(err)
	}
	for pid, p := range procs {
		dir := filepath.Join(root, strconv.Itoa(pid))
		for _, sub := range []string{"fd", "net", "ns"} {
			if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		must(t, os.Symlink(p.exe, filepath.Join(dir, "exe")))
		must(t, os.WriteFile(filepath.Join(dir, "stat"), stat, 0o644))
		must(t, os.Symlink("net:[4026531840]", filepath.Join(dir, "ns", "net")))
		for _, name := range []string{"tcp", "tcp6"} {
			b, err := os.ReadFile(filepath.Join("testdata", name))
			must(t, err)
			must(t, os.WriteFile(filepath.Join(dir, "net", name), b, 0o644))
		}
		for i, s := range p.sockets {
			must(t, os.Symlink(s, filepath.Join(dir, "fd", strconv.Itoa(i+3))))
		}
	}
	// Non-process entries are ignored.
	must(t, os.WriteFile(filepath.Join(root, "uptime"), []byte("1 1\n"), 0o644))
	return root
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestScanSelectsByExePortPidAndExcludes(t *testing.T) {
	type proc = struct {
		exe     string
		sockets []string
	}
	root := fakeProc(t, map[int]proc{
		100: {exe: "/srv/orders", sockets: []string{"socket:[1001]", "pipe:[5]"}}, // listens 8080
		101: {exe: "/srv/payments", sockets: []string{"socket:[2001]"}},           // listens 9100
		102: {exe: "/usr/bin/otelcol-goebpf", sockets: []string{"socket:[1002]"}}, // excluded
		103: {exe: "/bin/sleep"},                                                  // pid selector
		104: {exe: "/bin/cat", sockets: []string{"socket:[1003]"}},                // established only
		105: {exe: "/srv/self"},                                                   // the scanner itself
	})
	inst := []Selector{mustSel(NewPortSelector("8080,9000-9100")), NewPIDSelector(103)}
	excl := []Selector{mustSel(NewExeSelector("*/otelcol*"))}
	s := &Scanner{Root: root, Self: 105}
	got, err := s.Scan(Matcher{Instrument: inst, Exclude: excl})
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, p := range got {
		pids = append(pids, p.PID)
		if p.StartTime != 987654 {
			t.Errorf("pid %d start time %d", p.PID, p.StartTime)
		}
	}
	slices.Sort(pids)
	if !slices.Equal(pids, []int{100, 101, 103}) {
		t.Errorf("selected pids %v, want [100 101 103]", pids)
	}
	// Selecting ourselves explicitly still yields nothing.
	got, err = s.Scan(Matcher{Instrument: []Selector{NewPIDSelector(105)}})
	if err != nil || len(got) != 0 {
		t.Errorf("self selected: %v, %v", got, err)
	}
}

func TestTrackerReportsStartsAndExits(t *testing.T) {
	tr := NewTracker()
	a := &Process{PID: 1, StartTime: 10}
	b := &Process{PID: 2, StartTime: 20}
	ch := tr.Update([]*Process{a, b})
	if len(ch.Started) != 2 || len(ch.Exited) != 0 {
		t.Fatalf("first update: %+v", ch)
	}
	ch = tr.Update([]*Process{a, b})
	if len(ch.Started) != 0 || len(ch.Exited) != 0 {
		t.Fatalf("unchanged update: %+v", ch)
	}
	// pid 2 reused by a new process (restart with the same pid).
	b2 := &Process{PID: 2, StartTime: 30}
	ch = tr.Update([]*Process{a, b2})
	if len(ch.Started) != 1 || ch.Started[0] != b2 || len(ch.Exited) != 1 || ch.Exited[0] != b.Key() {
		t.Fatalf("restart: %+v", ch)
	}
	ch = tr.Update(nil)
	if len(ch.Exited) != 2 {
		t.Fatalf("all exited: %+v", ch)
	}
}

func mustSel(s Selector, err error) Selector {
	if err != nil {
		panic(err)
	}
	return s
}
