package ebpfreceiver

import (
	"strings"
	"testing"

	"github.com/otelcol-goebpf/otelcol-goebpf/internal/testutil/saramademo"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/goexe"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/saramaconsumer"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/saramaproducer"
)

// A sarama program whose layout cannot be determined (stripped, built
// against a release the probes' rule does not know) is named with the
// reason (the instrumenter logs it once per binary) and gets neither sarama
// probe; one with a known release, a program without sarama, or Kafka
// switched off, is not named.
func TestSaramaLayoutUnknown(t *testing.T) {
	t.Parallel()
	gi := goexeInspector{cache: goexe.NewCache()}
	on := TracesConfig{Kafka: KafkaConfig{Producer: true, Consumer: true}}
	dir := t.TempDir()
	unlisted := saramademo.Build(t, saramademo.Unlisted, true, dir, "unlisted")
	for _, tc := range []struct {
		name     string
		path     func(t *testing.T) string
		cfg      TracesConfig
		want     string // "" for no error
		attached bool
	}{
		{"stripped, release unknown", func(*testing.T) string { return unlisted }, on, "github.com/IBM/sarama.ConsumerMessage", false},
		{"stripped, release unknown, Kafka off", func(*testing.T) string { return unlisted }, TracesConfig{}, "", false},
		{"stripped, newest release", func(t *testing.T) string { return saramademo.Build(t, saramademo.Newest, true, t.TempDir(), "newest") }, on, "", true},
		{"no sarama", func(t *testing.T) string { return buildProgram(t, "../../integration/testdata/httpdemo", "-s -w") }, on, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := tc.path(t)
			info, err := gi.inspect(path)
			if err != nil {
				t.Fatal(err)
			}
			err = tc.cfg.saramaLayoutUnknown(info)
			if err != nil {
				t.Log(err)
			}
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("unexpected: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), path)):
				t.Errorf("got %v, want an error naming %s and %s", err, path, tc.want)
			}
			for _, name := range []string{saramaproducer.Name, saramaconsumer.Name} {
				if _, ok := info.Probe.Sites[name]; ok != tc.attached {
					t.Errorf("%s resolved: %t, want %t", name, ok, tc.attached)
				}
			}
		})
	}
}
