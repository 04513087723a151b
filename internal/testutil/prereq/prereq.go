// Package prereq is the project's one rule for a test whose prerequisite (root, BPF, a
// built binary, a peer program such as Alertmanager) is missing: under CI=true the test
// fails, because CI must exercise the feature; elsewhere it skips with the reason.
package prereq

import (
	"fmt"
	"os"
	"testing"
)

// InCI reports whether this is CI's run (CI=true).
func InCI() bool { return os.Getenv("CI") == "true" }

// Missing fails tb under CI and skips it elsewhere, saying what is missing.
func Missing(tb testing.TB, format string, args ...any) {
	tb.Helper()
	msg := fmt.Sprintf(format, args...)
	if InCI() {
		tb.Fatalf("CI=true and a prerequisite is missing: %s", msg)
		return
	}
	tb.Skipf("skipping, prerequisite missing (fails under CI=true): %s", msg)
}

// RequireRoot calls Missing unless the test runs as root; why says what needs it.
func RequireRoot(tb testing.TB, why string) {
	tb.Helper()
	if euid := os.Geteuid(); euid != 0 {
		Missing(tb, "%s needs root (euid %d)", why, euid)
	}
}
