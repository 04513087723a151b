package tracer

import (
	"os"
	"testing"
)

// requireBPF skips when BPF cannot be loaded here, except under CI=true,
// where the missing capability is a failure.
func requireBPF(t *testing.T) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("BPF tests need root (CI=true): euid %d", os.Geteuid())
	}
	t.Skip("needs root to load BPF programs")
}

func TestLoadPassesVerifier(t *testing.T) {
	requireBPF(t)
	for _, opts := range []Options{
		{RingBufferSize: 1 << 20},
		{RingBufferSize: 1 << 16, ExtractTraceContext: true, ExtractB3: true},
	} {
		tr, err := New(opts)
		if err != nil {
			t.Fatalf("New(%+v): %v", opts, err)
		}
		if got := tr.objs.Events.MaxEntries(); got != uint32(ringSize(opts.RingBufferSize)) {
			t.Errorf("ring size = %d, want %d", got, ringSize(opts.RingBufferSize))
		}
		drops, err := tr.Drops()
		if err != nil || drops != 0 {
			t.Errorf("Drops() = %d, %v; want 0, nil", drops, err)
		}
		if err := tr.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	}
}
