package ebpfreceiver

import (
	"os"
	"path/filepath"
	"testing"
)

func TestCgroup2Mount(t *testing.T) {
	for _, tc := range []struct{ name, mountinfo, want string }{
		{"hybrid", "35 25 0:30 / /sys/fs/cgroup/unified rw,nosuid shared:10 - cgroup2 cgroup2 rw,nsdelegate\n" +
			"36 25 0:31 / /sys/fs/cgroup/memory rw shared:11 - cgroup cgroup rw,memory\n", "/sys/fs/cgroup/unified"},
		{"unified", "30 24 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw\n", "/sys/fs/cgroup"},
		{"none", "36 25 0:31 / /sys/fs/cgroup/memory rw shared:11 - cgroup cgroup rw,memory\n", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "mountinfo")
			if err := os.WriteFile(path, []byte(tc.mountinfo), 0o644); err != nil {
				t.Fatal(err)
			}
			got, err := cgroup2Mount(path)
			if tc.want == "" {
				if err == nil {
					t.Fatalf("got %q, want an error", got)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func TestCgroup2Path(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "42"), 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(content string) {
		if err := os.WriteFile(filepath.Join(root, "42", "cgroup"), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("4:memory:/x\n0::/system.slice/orders.service\n")
	if got, err := cgroup2Path(root, 42); err != nil || got != "/system.slice/orders.service" {
		t.Fatalf("got %q, %v", got, err)
	}
	write("4:memory:/x\n")
	if _, err := cgroup2Path(root, 42); err == nil {
		t.Fatal("no 0:: line: want an error")
	}
}
