package ebpfreceiver

import (
	"context"
	"runtime"
	"slices"
	"strings"
	"testing"

	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"golang.org/x/sys/unix"

	"github.com/otelcol-goebpf/otelcol-goebpf/internal/testutil/prereq"
)

func TestMissingCapabilities(t *testing.T) {
	bit := func(c uint) uint64 { return 1 << c }
	tests := []struct {
		name string
		eff  uint64
		want []string
	}{
		{"none", 0, []string{"CAP_BPF", "CAP_PERFMON"}},
		{"bpf only", bit(capBPF), []string{"CAP_PERFMON"}},
		{"perfmon only", bit(capPerfmon), []string{"CAP_BPF"}},
		{"both", bit(capBPF) | bit(capPerfmon), nil},
		{"sys_admin", bit(capSysAdmin), nil},
	}
	for _, tt := range tests {
		if got := missingCapabilities(tt.eff); !slices.Equal(got, tt.want) {
			t.Errorf("%s: missing %v, want %v", tt.name, got, tt.want)
		}
	}
}

// TestStartFailsWithoutCapabilities drops the capabilities of one OS thread
// (capabilities are per thread) and calls Start on it.
func TestStartFailsWithoutCapabilities(t *testing.T) {
	prereq.RequireRoot(t, "dropping capabilities (TestMissingCapabilities covers the decision)")
	cfg := createDefaultConfig().(*Config)
	cfg.Discovery.Instrument = []ProcessSelector{{PID: 1}}
	r, err := newReceiver(cfg, receivertest.NewNopSettings(typ))
	if err != nil {
		t.Fatal(err)
	}
	r.traces = nil
	errc := make(chan error, 1)
	go func() {
		// Never unlocked: the thread with reduced capabilities exits with
		// this goroutine instead of returning to the scheduler's pool.
		runtime.LockOSThread()
		hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
		var data [2]unix.CapUserData
		if err := unix.Capget(&hdr, &data[0]); err != nil {
			errc <- err
			return
		}
		for _, c := range []uint{capSysAdmin, capBPF, capPerfmon} {
			data[c/32].Effective &^= 1 << (c % 32)
		}
		if err := unix.Capset(&hdr, &data[0]); err != nil {
			errc <- err
			return
		}
		errc <- r.Start(context.Background(), componenttest.NewNopHost())
	}()
	err = <-errc
	if err == nil {
		_ = r.Shutdown(context.Background())
		t.Fatal("Start succeeded without CAP_BPF and CAP_PERFMON")
	}
	for _, want := range []string{"CAP_BPF", "CAP_PERFMON"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
	if err := r.Shutdown(context.Background()); err != nil {
		t.Errorf("Shutdown after failed Start: %v", err)
	}
}
