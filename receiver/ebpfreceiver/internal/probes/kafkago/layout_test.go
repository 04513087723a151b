package kafkago

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/otelcol-goebpf/otelcol-goebpf/internal/testutil/prereq"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/fields"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/goexe"
)

// demoDir is the kafka-go program of the integration tests (its own
// module): go.mod has the newest kafka-go, old.mod the oldest v0.4.
const demoDir = "../../../../../integration/testdata/kafkademo"

// TestLayoutRule: Layout is what DWARF says for the oldest and the newest
// kafka-go v0.4 the module proxy serves, and Complete fills it in for
// their stripped builds.
func TestLayoutRule(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		prereq.Missing(t, "go toolchain: %v", err)
		return
	}
	for _, modfile := range []string{"go.mod", "old.mod"} {
		for _, stripped := range []bool{false, true} {
			bin := filepath.Join(t.TempDir(), "kafkademo")
			args := []string{"build", "-modfile=" + modfile, "-o", bin}
			if stripped {
				args = append(args, "-ldflags=-s -w")
			}
			cmd := exec.Command("go", append(args, ".")...)
			cmd.Dir = demoDir
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("build %s: %v\n%s", modfile, err, out)
			}
			exe, err := goexe.Inspect(bin)
			if err != nil {
				t.Fatal(err)
			}
			if !HasKnownLayout(exe) {
				t.Fatalf("%s: kafka-go %q not recognised", modfile, exe.Modules[Module])
			}
			if !stripped {
				for id, want := range Layout {
					key := id.String()
					dot := strings.LastIndexByte(key, '.')
					got, err := exe.DWARFFieldOffset(key[:dot], key[dot+1:])
					if err != nil {
						t.Fatalf("%s: %s: %v", modfile, key, err)
					}
					if got != want {
						t.Errorf("%s (kafka-go %s): DWARF %s = %d, Layout says %d", modfile, exe.Modules[Module], key, got, want)
					}
				}
				// The BPF programs' stride over a []Message: Time, a
				// time.Time (24 bytes), is the last field.
				got, err := exe.DWARFFieldOffset(Module+".Message", "Time")
				if err != nil || got != MessageTimeOffset || got+24 != MessageSize {
					t.Errorf("%s: Message.Time at %d (%v): MessageSize %d is stale", modfile, got, err, MessageSize)
				}
				// What the offsets programs derive: writeBatch.done (the
				// channel whose closing they check) 16 bytes before err,
				// and Message.Value right after Key (one read of both).
				done, err := exe.DWARFFieldOffset(Module+".writeBatch", "done")
				if err != nil || done+16 != Layout[fields.KafkaWriteBatchErr] {
					t.Errorf("%s: writeBatch.done at %d (%v), err at %d: the offsets programs' rule is stale", modfile, done, err, Layout[fields.KafkaWriteBatchErr])
				}
				if Layout[fields.KafkaMessageValue] != Layout[fields.KafkaMessageKey]+24 {
					t.Errorf("Message.Value at %d, Key at %d: not adjacent", Layout[fields.KafkaMessageValue], Layout[fields.KafkaMessageKey])
				}
				continue
			}
			tab := fields.NewTable()
			Complete(exe, &tab)
			for id, want := range Layout {
				if tab[id] != want {
					t.Errorf("%s stripped: Complete set %s = %d, want %d", modfile, id, tab[id], want)
				}
			}
		}
	}
}

// TestCompleteLeavesOtherVersions: a binary without kafka-go v0.4 gets no
// offsets from the rule.
func TestCompleteLeavesOtherVersions(t *testing.T) {
	for _, mods := range []map[string]string{nil, {Module: "v0.2.0"}, {"github.com/IBM/sarama": "v1.45.0"}} {
		exe := &goexe.Executable{Modules: mods}
		tab := fields.NewTable()
		Complete(exe, &tab)
		for _, id := range Fields {
			if tab.Known(id) {
				t.Errorf("modules %v: %s set to %d", mods, id, tab[id])
			}
		}
	}
}
