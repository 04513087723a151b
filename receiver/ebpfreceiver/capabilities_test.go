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
	bit := func(cs ...uint) (m uint64) {
		for _, c := range cs {
			m |= 1 << c
		}
		return m
	}
	four := bit(capBPF, capPerfmon, capSysPtrace, capDACReadSearch)
	tests := []struct {
		name string
		eff  uint64
		want []string
	}{
		{"none", 0, []string{"CAP_BPF", "CAP_PERFMON", "CAP_SYS_PTRACE", "CAP_DAC_READ_SEARCH"}},
		{"the four", four, nil},
		{"no bpf", four &^ bit(capBPF), []string{"CAP_BPF"}},
		{"no perfmon", four &^ bit(capPerfmon), []string{"CAP_PERFMON"}},
		{"no sys_ptrace", four &^ bit(capSysPtrace), []string{"CAP_SYS_PTRACE"}},
		{"no dac_read_search", four &^ bit(capDACReadSearch), []string{"CAP_DAC_READ_SEARCH"}},
		{"sys_admin for bpf and perfmon", bit(capSysAdmin, capSysPtrace, capDACReadSearch), nil},
		// CAP_SYS_ADMIN does not stand for the ptrace and DAC checks.
		{"sys_admin only", bit(capSysAdmin), []string{"CAP_SYS_PTRACE", "CAP_DAC_READ_SEARCH"}},
		{"everything", ^uint64(0), nil},
	}
	for _, tt := range tests {
		var got []string
		for _, c := range missingCapabilities(tt.eff) {
			got = append(got, c.name)
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s: missing %v, want %v", tt.name, got, tt.want)
		}
	}
}

// TestStartFailsWithoutCapabilities drops one required capability at a
// time (and CAP_SYS_ADMIN, which stands for CAP_BPF and CAP_PERFMON) from
// one OS thread (capabilities are per thread) and calls Start on it: the
// error names exactly the dropped one.
func TestStartFailsWithoutCapabilities(t *testing.T) {
	prereq.RequireRoot(t, "dropping capabilities (TestMissingCapabilities covers the decision)")
	for _, drop := range requiredCapabilities {
		t.Run(drop.name, func(t *testing.T) {
			cfg := createDefaultConfig().(*Config)
			cfg.Discovery.Instrument = []ProcessSelector{{PID: 1}}
			r, err := newReceiver(cfg, receivertest.NewNopSettings(typ))
			if err != nil {
				t.Fatal(err)
			}
			r.traces = nil
			errc := make(chan error, 1)
			go func() {
				// Never unlocked: the thread with reduced capabilities exits
				// with this goroutine instead of returning to the pool.
				runtime.LockOSThread()
				hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
				var data [2]unix.CapUserData
				if err := unix.Capget(&hdr, &data[0]); err != nil {
					errc <- err
					return
				}
				for _, c := range []uint{capSysAdmin, drop.bit} {
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
				t.Fatalf("Start succeeded without %s", drop.name)
			}
			if !strings.Contains(err.Error(), "lacks "+drop.name+":") {
				t.Errorf("error %q does not name %s alone as missing", err, drop.name)
			}
			if err := r.Shutdown(context.Background()); err != nil {
				t.Errorf("Shutdown after failed Start: %v", err)
			}
		})
	}
}
