// Package alertmanager starts a real Prometheus Alertmanager for tests and reads
// its alerts back through Alertmanager's own v2 API.
//
// The binary is found in $ALERTMANAGER_BIN, then as prometheus-alertmanager (the
// Debian package) or alertmanager on $PATH. When it is missing, Start fails the
// test under CI=true and skips it otherwise, with a message naming the package.
package alertmanager

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/otelcol-goebpf/otelcol-goebpf/internal/testutil/prereq"
)

// DefaultConfig routes every alert to a receiver without integrations, which is
// all a test needs to see alerts through the API.
const DefaultConfig = `route:
  receiver: blackhole
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: blackhole
`

// Options change how Start runs Alertmanager; the zero value is usable.
type Options struct {
	// Config is the alertmanager.yml content; DefaultConfig when empty.
	Config string
	// StartTimeout bounds the wait for /-/ready; 30s when zero.
	StartTimeout time.Duration
}

// Instance is one running Alertmanager process, stopped at test cleanup.
type Instance struct {
	// URL is the base URL, e.g. http://127.0.0.1:40123 (no trailing slash).
	URL string
	// Dir holds alertmanager.yml and the data directory.
	Dir string

	cmd    *exec.Cmd
	output *lockedBuffer
	exited chan struct{}
	once   sync.Once
}

// Alert is the subset of Alertmanager's gettableAlert that tests inspect.
type Alert struct {
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	StartsAt    time.Time         `json:"startsAt"`
	EndsAt      time.Time         `json:"endsAt"`
	UpdatedAt   time.Time         `json:"updatedAt"`
	Fingerprint string            `json:"fingerprint"`
	Status      struct {
		State string `json:"state"`
	} `json:"status"`
}

// Binary returns the path of the Alertmanager executable.
func Binary() (string, error) {
	if p := os.Getenv("ALERTMANAGER_BIN"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("ALERTMANAGER_BIN=%s: %w", p, err)
		}
		return p, nil
	}
	for _, name := range []string{"prometheus-alertmanager", "alertmanager"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", errors.New("no alertmanager binary: install the Debian package prometheus-alertmanager or set ALERTMANAGER_BIN")
}

// Start runs Alertmanager on 127.0.0.1 with a free port, a temporary config and
// storage directory and clustering disabled, waits until it is ready and
// registers its shutdown with t.Cleanup.
func Start(t testing.TB, opts Options) *Instance {
	t.Helper()
	bin, err := Binary()
	if err != nil {
		prereq.Missing(t, "%v", err)
	}
	if opts.Config == "" {
		opts.Config = DefaultConfig
	}
	if opts.StartTimeout == 0 {
		opts.StartTimeout = 30 * time.Second
	}
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "alertmanager.yml")
	if err := os.WriteFile(cfgPath, []byte(opts.Config), 0o600); err != nil {
		t.Fatalf("write alertmanager config: %v", err)
	}

	// The port is chosen by the kernel and released just before Alertmanager
	// binds it; another process may take it in between, so retry a few times.
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		inst, err := start(bin, dir, cfgPath, opts.StartTimeout)
		if err == nil {
			t.Cleanup(func() {
				if err := inst.Stop(); err != nil {
					t.Errorf("stop alertmanager: %v", err)
				}
				if t.Failed() {
					t.Logf("alertmanager output:\n%s", inst.Output())
				}
			})
			return inst
		}
		lastErr = err
	}
	t.Fatalf("start alertmanager: %v", lastErr)
	return nil
}

func start(bin, dir, cfgPath string, timeout time.Duration) (*Instance, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	dataDir := filepath.Join(dir, "data-"+strconv.Itoa(port))
	inst := &Instance{
		URL:    "http://" + addr,
		Dir:    dir,
		output: &lockedBuffer{},
		exited: make(chan struct{}),
	}
	inst.cmd = exec.Command(bin,
		"--config.file="+cfgPath,
		"--storage.path="+dataDir,
		"--web.listen-address="+addr,
		"--cluster.listen-address=",
		"--log.level=debug",
	)
	inst.cmd.Stdout = inst.output
	inst.cmd.Stderr = inst.output
	if err := inst.cmd.Start(); err != nil {
		return nil, fmt.Errorf("run %s: %w", bin, err)
	}
	go func() {
		_ = inst.cmd.Wait()
		close(inst.exited)
	}()

	deadline := time.Now().Add(timeout)
	for {
		select {
		case <-inst.exited:
			return nil, fmt.Errorf("alertmanager exited before it was ready: %s\n%s", inst.cmd.ProcessState, inst.Output())
		default:
		}
		if ready(inst.URL) {
			return inst, nil
		}
		if time.Now().After(deadline) {
			_ = inst.Stop()
			return nil, fmt.Errorf("alertmanager at %s not ready after %s:\n%s", inst.URL, timeout, inst.Output())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func ready(base string) bool {
	client := http.Client{Timeout: time.Second}
	resp, err := client.Get(base + "/-/ready")
	if err != nil {
		return false
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Stop terminates Alertmanager (SIGTERM, then SIGKILL after 5s) and waits for
// it to exit. It is safe to call more than once.
func (i *Instance) Stop() error {
	var err error
	i.once.Do(func() {
		select {
		case <-i.exited:
			return
		default:
		}
		if sigErr := i.cmd.Process.Signal(syscall.SIGTERM); sigErr != nil {
			err = fmt.Errorf("signal alertmanager: %w", sigErr)
		}
		select {
		case <-i.exited:
		case <-time.After(5 * time.Second):
			_ = i.cmd.Process.Kill()
			<-i.exited
		}
	})
	return err
}

// Output returns what Alertmanager has written to stdout and stderr so far.
func (i *Instance) Output() string { return i.output.String() }

// Alerts returns the alerts Alertmanager currently holds as active (GET
// /api/v2/alerts with its default filters: resolved alerts are not listed).
func (i *Instance) Alerts(ctx context.Context) ([]Alert, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, i.URL+"/api/v2/alerts", http.NoBody)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("GET %s/api/v2/alerts: %w", i.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, fmt.Errorf("read alerts: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s/api/v2/alerts: %s: %s", i.URL, resp.Status, body)
	}
	var alerts []Alert
	if err := json.Unmarshal(body, &alerts); err != nil {
		return nil, fmt.Errorf("decode alerts: %w", err)
	}
	return alerts, nil
}

// WaitForAlerts polls Alerts until match returns true or timeout passes, and
// returns the last list seen. It fails the test on timeout.
func (i *Instance) WaitForAlerts(t testing.TB, timeout time.Duration, match func([]Alert) bool) []Alert {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last []Alert
	var lastErr error
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		last, lastErr = i.Alerts(ctx)
		cancel()
		if lastErr == nil && match(last) {
			return last
		}
		if time.Now().After(deadline) {
			t.Fatalf("alertmanager %s: condition not met after %s; last alerts %+v, last error %v", i.URL, timeout, last, lastErr)
			return last
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Find returns the first alert whose labels include all of want.
func Find(alerts []Alert, want map[string]string) (Alert, bool) {
	for _, a := range alerts {
		matched := true
		for k, v := range want {
			if a.Labels[k] != v {
				matched = false
				break
			}
		}
		if matched {
			return a, true
		}
	}
	return Alert{}, false
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	// Bound what a chatty process can make the test hold.
	if b.buf.Len() > 4<<20 {
		return len(p), nil
	}
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
