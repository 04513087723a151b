// Package cgroup tells which container and which Kubernetes pod a process
// runs in, from its cgroup path (/proc/<pid>/cgroup), the way the container
// runtimes name their cgroups: docker (cgroupfs and systemd drivers),
// containerd and CRI-O under the kubelet (both drivers), podman. The values
// are what the k8sattributes processor associates pods by (container.id,
// k8s.pod.uid).
package cgroup

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// Identity is what a cgroup path says about a process; empty fields are
// unknown (a process outside containers, or a layout not recognised).
type Identity struct {
	ContainerID string // 64 hex digits
	PodUID      string // canonical UUID form, dashes
}

var (
	// A container's own cgroup: the 64-hex id, optionally prefixed by the
	// runtime's scope name (docker-, cri-containerd-, crio-, libpod-) and
	// suffixed by ".scope" (systemd driver).
	containerRe = regexp.MustCompile(`^(?:(docker|cri-containerd|crio|libpod|containerd)-)?([0-9a-f]{64})(?:\.scope)?$`)
	// A pod's cgroup: "pod<uid>" (cgroupfs driver) or
	// "kubepods-<qos>-pod<uid_with_underscores>.slice" (systemd driver).
	podRe = regexp.MustCompile(`pod([0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12})(?:\.slice)?$`)
)

// Parse reads the content of a /proc/<pid>/cgroup file (cgroup v1 or v2).
func Parse(content string) Identity {
	var id Identity
	for _, line := range strings.Split(content, "\n") {
		// hierarchy-ID:controller-list:path
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		got := parsePath(parts[2])
		if id.ContainerID == "" {
			id.ContainerID = got.ContainerID
		}
		if id.PodUID == "" {
			id.PodUID = got.PodUID
		}
	}
	return id
}

func parsePath(path string) Identity {
	var id Identity
	for _, elem := range strings.Split(path, "/") {
		if m := containerRe.FindStringSubmatch(elem); m != nil {
			id.ContainerID = m[2]
		}
		if m := podRe.FindStringSubmatch(elem); m != nil {
			id.PodUID = strings.ReplaceAll(m[1], "_", "-")
		}
	}
	return id
}

// Read parses /proc/<pid>/cgroup under procRoot.
func Read(procRoot string, pid int) (Identity, error) {
	b, err := os.ReadFile(filepath.Join(procRoot, fmt.Sprint(pid), "cgroup"))
	if err != nil {
		return Identity{}, err
	}
	return Parse(string(b)), nil
}
