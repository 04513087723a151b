package ebpfreceiver

import (
	"strings"
	"testing"

	"github.com/otelcol-goebpf/otelcol-goebpf/internal/testutil/redis"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/goexe"
)

// A go-redis program whose layout cannot be determined (stripped, built
// against a version the offsets table does not list) is named with the
// reason (the instrumenter logs it once per binary); one with DWARF or a
// listed version, a program without go-redis, or Redis switched off, is not.
func TestRedisLayoutUnknown(t *testing.T) {
	t.Parallel()
	gi := goexeInspector{cache: goexe.NewCache()}
	on := TracesConfig{Redis: RedisConfig{Enabled: true}}
	const demo = "../../integration/testdata/redisdemo"
	v9 := redis.Demos[0]
	stripped := v9
	stripped.Stripped = true
	for _, tc := range []struct {
		name string
		path func(t *testing.T) string
		cfg  TracesConfig
		want string // "" for no error
	}{
		{"stripped, version not in the table", func(t *testing.T) string { return redis.BuildDemo(t, demo, redis.Unlisted) }, on, "github.com/redis/go-redis/v9.baseCmd.args"},
		{"stripped, version not in the table, Redis off", func(t *testing.T) string { return redis.BuildDemo(t, demo, redis.Unlisted) }, TracesConfig{}, ""},
		{"stripped, version in the table", func(t *testing.T) string { return redis.BuildDemo(t, demo, stripped) }, on, ""},
		{"go-redis with DWARF", func(t *testing.T) string { return redis.BuildDemo(t, demo, v9) }, on, ""},
		{"no go-redis", func(t *testing.T) string { return buildProgram(t, "../../integration/testdata/httpdemo", "-s -w") }, on, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := tc.path(t)
			info, err := gi.inspect(path)
			if err != nil {
				t.Fatal(err)
			}
			err = tc.cfg.redisLayoutUnknown(info)
			if err != nil {
				t.Log(err)
			}
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("unexpected: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), path)):
				t.Errorf("got %v, want an error naming %s and %s", err, path, tc.want)
			}
		})
	}
}
