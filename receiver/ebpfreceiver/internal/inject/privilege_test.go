package inject

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/otelcol-goebpf/otelcol-goebpf/internal/testutil/prereq"
)

// openHelperEnv makes the test binary, re-executed under setpriv, try Open
// and report instead of running tests.
const openHelperEnv = "INJECT_OPEN_HELPER"

func TestMain(m *testing.M) {
	if os.Getenv(openHelperEnv) == "1" {
		in, err := Open(Options{})
		if err != nil {
			fmt.Printf("open error (missing privilege: %v): %v\n", errors.Is(err, ErrMissingPrivilege), err)
			os.Exit(0)
		}
		in.Close()
		fmt.Println("open ok")
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestPrivileges: CAP_BPF, CAP_PERFMON and CAP_NET_ADMIN are enough to
// load the injector; without any one of them, Open fails with an error that
// names it and wraps ErrMissingPrivilege (the receiver turns injection off
// with one warning on that error).
func TestPrivileges(t *testing.T) {
	prereq.RequireRoot(t, "dropping capabilities with setpriv")
	if _, err := exec.LookPath("setpriv"); err != nil {
		prereq.Missing(t, "setpriv (util-linux): %v", err)
	}
	run := func(caps string) string {
		cmd := exec.Command("setpriv", "--bounding-set=-all"+caps, "--inh-caps=-all", "--no-new-privs", "--",
			os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), openHelperEnv+"=1")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("setpriv %s: %v\n%s", caps, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	if got := run(",+bpf,+perfmon,+net_admin"); got != "open ok" {
		t.Errorf("with CAP_BPF, CAP_PERFMON, CAP_NET_ADMIN: %s", got)
	}
	for _, drop := range []struct{ caps, name string }{
		{",+bpf,+perfmon", "CAP_NET_ADMIN"},
		{",+perfmon,+net_admin", "CAP_BPF"},
		{",+bpf,+net_admin", "CAP_PERFMON"},
	} {
		got := run(drop.caps)
		if !strings.Contains(got, "missing privilege: true") || !strings.Contains(got, drop.name+" not in the effective set") {
			t.Errorf("without %s: %q, want an ErrMissingPrivilege naming it", drop.name, got)
		}
		t.Logf("without %s: %s", drop.name, got)
	}
}
