package cgroup

import (
	"os"
	"path/filepath"
	"testing"
)

const (
	cid  = "3f1c2b9a8e7d6c5b4a3928171615141312111009080706050403020100abcdef"
	puid = "7d2f1c3e-5a4b-4c6d-9e8f-0a1b2c3d4e5f"
	pusc = "7d2f1c3e_5a4b_4c6d_9e8f_0a1b2c3d4e5f"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		content string
		want    Identity
	}{
		{"docker, cgroupfs driver, v2", "0::/docker/" + cid + "\n", Identity{ContainerID: cid}},
		{"docker, systemd driver, v2", "0::/system.slice/docker-" + cid + ".scope\n", Identity{ContainerID: cid}},
		{"docker, cgroup v1", "12:pids:/docker/" + cid + "\n11:memory:/docker/" + cid + "\n1:name=systemd:/docker/" + cid + "\n", Identity{ContainerID: cid}},
		{"containerd under kubelet, cgroupfs", "0::/kubepods/burstable/pod" + puid + "/" + cid + "\n", Identity{cid, puid}},
		{"containerd under kubelet, systemd", "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + pusc + ".slice/cri-containerd-" + cid + ".scope\n", Identity{cid, puid}},
		{"containerd, guaranteed QoS, systemd", "0::/kubepods.slice/kubepods-pod" + pusc + ".slice/cri-containerd-" + cid + ".scope\n", Identity{cid, puid}},
		{"CRI-O, systemd", "0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + pusc + ".slice/crio-" + cid + ".scope\n", Identity{cid, puid}},
		{"CRI-O, cgroupfs", "0::/kubepods/besteffort/pod" + puid + "/crio-" + cid + "\n", Identity{cid, puid}},
		{"CRI-O conmon is not the container", "0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + pusc + ".slice/crio-conmon-" + cid + ".scope\n", Identity{PodUID: puid}},
		{"containerd k8s, cgroup v1", "11:memory:/kubepods/besteffort/pod" + puid + "/" + cid + "\n0::/\n", Identity{cid, puid}},
		{"podman", "0::/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-" + cid + ".scope/container\n", Identity{ContainerID: cid}},
		{"systemd service, no container", "0::/system.slice/nginx.service\n", Identity{}},
		{"user session", "0::/user.slice/user-1000.slice/session-3.scope\n", Identity{}},
		{"root cgroup", "0::/\n", Identity{}},
		{"empty", "", Identity{}},
		{"short hex is not an id", "0::/docker/3f1c2b9a8e7d\n", Identity{}},
		{"upper case is not an id", "0::/docker/3F1C2B9A8E7D6C5B4A3928171615141312111009080706050403020100ABCDEF\n", Identity{}},
	}
	for _, tt := range tests {
		if got := Parse(tt.content); got != tt.want {
			t.Errorf("%s: %+v, want %+v", tt.name, got, tt.want)
		}
	}
}

func TestRead(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "42"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "42", "cgroup"), []byte("0::/kubepods/pod"+puid+"/"+cid+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := Read(root, 42)
	if err != nil || got != (Identity{cid, puid}) {
		t.Fatalf("Read = %+v, %v", got, err)
	}
	if _, err := Read(root, 43); err == nil {
		t.Error("Read of an absent process: no error")
	}
	// This process: readable, whatever it says.
	if _, err := Read("/proc", os.Getpid()); err != nil {
		t.Errorf("Read(/proc, self): %v", err)
	}
}
