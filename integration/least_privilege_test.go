package integration

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/otelcol-goebpf/otelcol-goebpf/internal/testutil/prereq"
)

// The agent's least privilege (README, "Privileges"): exactly these four
// capabilities, as setpriv names them.
var agentCapabilities = []string{"bpf", "perfmon", "sys_ptrace", "dac_read_search"}

const (
	agentUID  = 65534 // nobody
	targetUID = 1     // daemon: another user than the agent's
)

// setprivWrap runs a command as the unprivileged agent user holding exactly
// caps (ambient, so they survive the exec into the collector), nothing else
// in any set, and no way to gain more.
func setprivWrap(t *testing.T, caps []string) []string {
	t.Helper()
	if _, err := exec.LookPath("setpriv"); err != nil {
		prereq.Missing(t, "setpriv (util-linux): %v", err)
	}
	list := "-all"
	for _, c := range caps {
		list += ",+" + c
	}
	return []string{"setpriv",
		"--reuid=" + strconv.Itoa(agentUID), "--regid=" + strconv.Itoa(agentUID), "--clear-groups",
		"--inh-caps=" + list, "--ambient-caps=" + list, "--bounding-set=" + list,
		"--no-new-privs", "--"}
}

// sharedDir is a directory both the agent's user and the target's user can
// enter; the agent may write into it (its file exporter's output).
func sharedDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "leastpriv-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o1777); err != nil {
		t.Fatal(err)
	}
	return dir
}

// capEff reads a process's effective capability mask.
func capEff(t *testing.T, pid int) (uint64, int) {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	var eff uint64
	uid := -1
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "CapEff:\t"); ok {
			eff, _ = strconv.ParseUint(v, 16, 64)
		}
		if v, ok := strings.CutPrefix(line, "Uid:\t"); ok {
			uid, _ = strconv.Atoi(strings.Fields(v)[1]) // effective uid
		}
	}
	return eff, uid
}

// metricsOfPID counts the data points in a file exporter's metrics output
// whose resource has process.pid = pid, by metric name.
func metricsOfPID(path string, pid int) map[string]int {
	out := map[string]int{}
	raw, err := os.ReadFile(path)
	if err != nil {
		return out
	}
	var u pmetric.JSONUnmarshaler
	sc := bufio.NewScanner(bytes.NewReader(raw))
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		md, err := u.UnmarshalMetrics(sc.Bytes())
		if err != nil {
			continue // a line being written
		}
		for i := 0; i < md.ResourceMetrics().Len(); i++ {
			rm := md.ResourceMetrics().At(i)
			if v, ok := rm.Resource().Attributes().Get("process.pid"); !ok || v.Int() != int64(pid) {
				continue
			}
			for j := 0; j < rm.ScopeMetrics().Len(); j++ {
				ms := rm.ScopeMetrics().At(j).Metrics()
				for k := 0; k < ms.Len(); k++ {
					out[ms.At(k).Name()]++
				}
			}
		}
	}
	return out
}

// TestAgentLeastPrivilege runs the distribution as user nobody holding
// exactly CAP_BPF, CAP_PERFMON, CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH and
// checks it produces spans and runtime metrics of a Go service owned by
// another user, whose executable the agent's user cannot read; then, with
// each one of the four dropped, that the collector refuses to start and
// names the missing capability.
func TestAgentLeastPrivilege(t *testing.T) {
	prereq.RequireRoot(t, "eBPF tests and changing users")
	collectorBinary(t)
	dir := sharedDir(t)
	demo := filepath.Join(dir, "leastpriv-demo")
	buildDemo(t, demo, "-s -w")
	// The service's executable: owned by its user, executable but not
	// readable by others, so opening it for inspection needs
	// CAP_DAC_READ_SEARCH.
	if err := os.Chown(demo, targetUID, targetUID); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(demo, 0o711); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	tg := &target{base: fmt.Sprintf("http://127.0.0.1:%d", port), port: port}
	tg.cmd = exec.Command(demo, "-addr", fmt.Sprintf("127.0.0.1:%d", port))
	tg.cmd.Env = append(os.Environ(), "OTEL_SERVICE_NAME=leastpriv")
	tg.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: targetUID, Gid: targetUID}}
	if err := tg.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tg.stop)
	eventually(t, 10*time.Second, "the service listening", func() (bool, string) {
		_, err := client.Get(tg.base + "/hello")
		return err == nil, fmt.Sprint(err)
	})
	pid := tg.cmd.Process.Pid

	config := func(sub string, receiverExtra ...string) (string, string) {
		d := filepath.Join(dir, sub)
		if err := os.Mkdir(d, 0o777); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(d, 0o777); err != nil {
			t.Fatal(err)
		}
		cfg := fmt.Sprintf(`
receivers:
  ebpf:
    discovery:
      instrument:
        - exe_path: %q
      poll_interval: 200ms
%s    metrics:
      collection_interval: 500ms
      runtime: { goroutines: true, scheduler: true, gc: true, allocations: true }
exporters:
  file/traces:
    path: %s/traces.jsonl
    flush_interval: 100ms
  file/metrics:
    path: %s/metrics.jsonl
    flush_interval: 100ms
service:
  telemetry:
    metrics:
      level: none
  pipelines:
    traces: { receivers: [ebpf], exporters: [file/traces] }
    metrics: { receivers: [ebpf], exporters: [file/metrics] }
`, demo, strings.Join(receiverExtra, ""), d, d)
		path := filepath.Join(d, "config.yaml")
		if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
		return d, path
	}

	t.Run("exactly the four", func(t *testing.T) {
		d, cfg := config("four")
		c := launchCollector(t, d, setprivWrap(t, agentCapabilities), []string{"--config", cfg})
		c.WaitForLog(t, "Everything is ready", 60*time.Second)
		eff, uid := capEff(t, c.Cmd.Process.Pid)
		want := uint64(1)<<39 | 1<<38 | 1<<19 | 1<<2
		if eff != want || uid != agentUID {
			t.Fatalf("agent runs as uid %d with CapEff %#x, want uid %d with %#x", uid, eff, agentUID, want)
		}
		eventually(t, 60*time.Second, "server spans of the other user's service", func() (bool, string) {
			get(t, tg.base+"/hello", nil)
			s, _ := fileSpans(t, filepath.Join(d, "traces.jsonl"))
			return len(s) > 0, fmt.Sprintf("%d server spans", len(s))
		})
		s, _ := fileSpans(t, filepath.Join(d, "traces.jsonl"))
		if r, _ := s[0].Attributes().Get("http.route"); r.AsString() != "/hello" {
			t.Errorf("server span route %q, want /hello", r.AsString())
		}
		eventually(t, 60*time.Second, "runtime metrics of the service", func() (bool, string) {
			m := metricsOfPID(filepath.Join(d, "metrics.jsonl"), pid)
			return m["go.goroutine.count"] > 0 && len(m) >= 3, fmt.Sprint(m)
		})
		if strings.Contains(c.Logs.String(), "permission denied") {
			t.Errorf("agent logged a permission error:\n%s", c.Logs.String())
		}
	})

	// Injection asked for, CAP_NET_ADMIN not held: the collector starts,
	// says so once naming the capability, and spans flow as before.
	t.Run("inject without CAP_NET_ADMIN", func(t *testing.T) {
		d, cfg := config("inject", "    traces:\n      propagation: { inject: true }\n")
		c := launchCollector(t, d, setprivWrap(t, agentCapabilities), []string{"--config", cfg})
		c.WaitForLog(t, "Everything is ready", 60*time.Second)
		eventually(t, 60*time.Second, "server spans with injection refused", func() (bool, string) {
			get(t, tg.base+"/hello", nil)
			s, _ := fileSpans(t, filepath.Join(d, "traces.jsonl"))
			return len(s) > 0, fmt.Sprintf("%d server spans", len(s))
		})
		logs := c.Logs.String()
		if n := strings.Count(logs, "lacks CAP_NET_ADMIN"); n != 1 {
			t.Errorf("%d warnings naming CAP_NET_ADMIN, want exactly 1:\n%s", n, logs)
		}
		if strings.Contains(logs, "permission denied") {
			t.Errorf("agent logged a permission error:\n%s", logs)
		}
	})

	// The same with CAP_NET_ADMIN added, the one privilege the README names
	// for injection: no warning, and the service's call from /chain to its
	// own /hello carries the client span's traceparent, inserted at the
	// socket. Stitching is off, so only the inserted header can make the
	// /hello server span the child of the client span.
	t.Run("inject with CAP_NET_ADMIN", func(t *testing.T) {
		d, cfg := config("inject-netadmin", "    traces:\n      propagation: { inject: true, stitch: false }\n")
		caps := append(append([]string{}, agentCapabilities...), "net_admin")
		c := launchCollector(t, d, setprivWrap(t, caps), []string{"--config", cfg})
		c.WaitForLog(t, "Everything is ready", 60*time.Second)
		eff, uid := capEff(t, c.Cmd.Process.Pid)
		if want := uint64(1)<<39 | 1<<38 | 1<<19 | 1<<12 | 1<<2; eff != want || uid != agentUID {
			t.Fatalf("agent runs as uid %d with CapEff %#x, want uid %d with %#x", uid, eff, agentUID, want)
		}
		// The service's client connection must be opened after the process
		// is tracked (one opened before is never injected into, counted as
		// not_tracked): the first /chain comes after its first server span.
		eventually(t, 60*time.Second, "server spans of the service", func() (bool, string) {
			get(t, tg.base+"/hello", nil)
			s, _ := fileSpans(t, filepath.Join(d, "traces.jsonl"))
			return len(s) > 0, fmt.Sprintf("%d server spans", len(s))
		})
		eventually(t, 60*time.Second, "a /hello server span that is the child of /chain's client span", func() (bool, string) {
			get(t, tg.base+"/chain", nil)
			server, client := fileSpans(t, filepath.Join(d, "traces.jsonl"))
			for _, s := range server {
				if r, _ := s.Attributes().Get("http.route"); r.AsString() != "/hello" || s.ParentSpanID().IsEmpty() {
					continue
				}
				for _, cl := range client {
					if cl.SpanID() == s.ParentSpanID() && cl.TraceID() == s.TraceID() {
						return true, ""
					}
				}
			}
			return false, fmt.Sprintf("%d server and %d client spans, no /hello server span under a client span", len(server), len(client))
		})
		logs := c.Logs.String()
		if strings.Contains(logs, "CAP_NET_ADMIN") || strings.Contains(logs, "permission denied") {
			t.Errorf("agent with CAP_NET_ADMIN warned about it or about a permission:\n%s", logs)
		}
	})

	for i, drop := range agentCapabilities {
		name := "CAP_" + strings.ToUpper(drop)
		t.Run("without "+name, func(t *testing.T) {
			rest := append(append([]string{}, agentCapabilities[:i]...), agentCapabilities[i+1:]...)
			d, cfg := config("no-" + drop)
			c := launchCollector(t, d, setprivWrap(t, rest), []string{"--config", cfg})
			if err := c.WaitExit(t, 60*time.Second); err == nil {
				t.Fatalf("collector exited with status 0 without %s", name)
			}
			logs := c.Logs.String()
			if !strings.Contains(logs, "lacks "+name+":") {
				t.Fatalf("collector's error does not name %s alone:\n%s", name, logs)
			}
		})
	}
}
