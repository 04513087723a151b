package prereq

import (
	"testing"
)

// recorder captures what Missing does instead of ending the test.
type recorder struct {
	testing.TB
	fatal, skip string
}

func (r *recorder) Helper()                        {}
func (r *recorder) Fatalf(format string, a ...any) { r.fatal = format }
func (r *recorder) Skipf(format string, a ...any)  { r.skip = format }

func TestMissingFailsUnderCIAndSkipsElsewhere(t *testing.T) {
	t.Setenv("CI", "true")
	r := &recorder{}
	Missing(r, "no %s", "alertmanager")
	if r.fatal == "" || r.skip != "" {
		t.Fatalf("under CI=true Missing must fail, not skip: fatal=%q skip=%q", r.fatal, r.skip)
	}
	t.Setenv("CI", "")
	r = &recorder{}
	Missing(r, "no %s", "alertmanager")
	if r.skip == "" || r.fatal != "" {
		t.Fatalf("outside CI Missing must skip, not fail: fatal=%q skip=%q", r.fatal, r.skip)
	}
}
