package discovery

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Process is a running process seen by a scan.
type Process struct {
	PID int
	// StartTime is the process start time in clock ticks since boot
	// (/proc/<pid>/stat field 22); with PID it identifies a process even
	// when pids are reused.
	StartTime uint64
	// ExePath is the target of /proc/<pid>/exe (may end in " (deleted)").
	ExePath     string
	ListenPorts []uint16
}

// Key identifies a process across scans. The executable path is part of it
// because execve keeps the pid and start time but changes the program.
type Key struct {
	PID       int
	StartTime uint64
	ExePath   string
}

// Key returns the process's identity.
func (p *Process) Key() Key { return Key{PID: p.PID, StartTime: p.StartTime, ExePath: p.ExePath} }

// Scanner lists processes under a proc file system.
type Scanner struct {
	// Root is the proc mount, "/proc" unless testing.
	Root string
	// Self is never reported (the collector must not instrument itself).
	Self int
}

// Scan returns the processes that m selects.
func (s *Scanner) Scan(m Matcher) ([]*Process, error) {
	entries, err := os.ReadDir(s.Root)
	if err != nil {
		return nil, fmt.Errorf("scan %s: %w", s.Root, err)
	}
	withPorts := m.needsPorts()
	listeners := map[string]map[uint64]uint16{} // netns -> socket inode -> port
	var out []*Process
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid <= 0 || pid == s.Self {
			continue
		}
		p, err := s.process(pid)
		if err != nil {
			continue // exited meanwhile, kernel thread, or not ours to read
		}
		if withPorts {
			p.ListenPorts = s.listenPorts(pid, listeners)
		}
		if m.Match(p) {
			out = append(out, p)
		}
	}
	return out, nil
}

func (s *Scanner) process(pid int) (*Process, error) {
	dir := filepath.Join(s.Root, strconv.Itoa(pid))
	exe, err := os.Readlink(filepath.Join(dir, "exe"))
	if err != nil {
		return nil, err
	}
	stat, err := os.ReadFile(filepath.Join(dir, "stat"))
	if err != nil {
		return nil, err
	}
	start, err := parseStartTime(stat)
	if err != nil {
		return nil, fmt.Errorf("pid %d: %w", pid, err)
	}
	return &Process{PID: pid, StartTime: start, ExePath: exe}, nil
}

// parseStartTime reads field 22 of /proc/<pid>/stat. The command name
// (field 2) may contain spaces and parentheses, so fields are counted from
// the last ')'.
func parseStartTime(stat []byte) (uint64, error) {
	i := strings.LastIndexByte(string(stat), ')')
	if i < 0 {
		return 0, errors.New("malformed stat: no ')'")
	}
	fields := strings.Fields(string(stat[i+1:]))
	// fields[0] is field 3 (state); field 22 is fields[19].
	if len(fields) < 20 {
		return 0, fmt.Errorf("malformed stat: %d fields after comm", len(fields))
	}
	return strconv.ParseUint(fields[19], 10, 64)
}

func (s *Scanner) listenPorts(pid int, cache map[string]map[uint64]uint16) []uint16 {
	dir := filepath.Join(s.Root, strconv.Itoa(pid))
	ns, err := os.Readlink(filepath.Join(dir, "ns", "net"))
	if err != nil {
		ns = "pid:" + strconv.Itoa(pid)
	}
	inodes, ok := cache[ns]
	if !ok {
		inodes = map[uint64]uint16{}
		for _, name := range []string{"tcp", "tcp6"} {
			f, err := os.Open(filepath.Join(dir, "net", name))
			if err != nil {
				continue
			}
			_ = ParseListeners(f, inodes)
			f.Close()
		}
		cache[ns] = inodes
	}
	if len(inodes) == 0 {
		return nil
	}
	fds, err := os.ReadDir(filepath.Join(dir, "fd"))
	if err != nil {
		return nil
	}
	var ports []uint16
	seen := map[uint16]bool{}
	for _, fd := range fds {
		target, err := os.Readlink(filepath.Join(dir, "fd", fd.Name()))
		if err != nil || !strings.HasPrefix(target, "socket:[") {
			continue
		}
		ino, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(target, "socket:["), "]"), 10, 64)
		if err != nil {
			continue
		}
		if port, ok := inodes[ino]; ok && !seen[port] {
			seen[port] = true
			ports = append(ports, port)
		}
	}
	return ports
}

// ParseListeners reads a /proc/net/tcp or tcp6 table and records the local
// port of every socket in LISTEN state by its inode.
func ParseListeners(r io.Reader, into map[uint64]uint16) error {
	sc := bufio.NewScanner(r)
	first := true
	for sc.Scan() {
		if first { // header line
			first = false
			continue
		}
		f := strings.Fields(sc.Text())
		if len(f) < 10 || f[3] != "0A" { // 0A = TCP_LISTEN
			continue
		}
		_, portHex, ok := strings.Cut(f[1], ":")
		if !ok {
			continue
		}
		port, err := strconv.ParseUint(portHex, 16, 16)
		if err != nil {
			continue
		}
		ino, err := strconv.ParseUint(f[9], 10, 64)
		if err != nil || ino == 0 {
			continue
		}
		into[ino] = uint16(port)
	}
	return sc.Err()
}

// Changes is the difference between two scans.
type Changes struct {
	Started []*Process
	Exited  []Key
}

// Tracker remembers the selected processes between scans.
type Tracker struct {
	known map[Key]*Process
}

// NewTracker returns an empty tracker.
func NewTracker() *Tracker { return &Tracker{known: map[Key]*Process{}} }

// Update records the latest scan and returns what changed. A restarted
// service shows up as one exited and one started process.
func (t *Tracker) Update(current []*Process) Changes {
	var ch Changes
	seen := make(map[Key]bool, len(current))
	for _, p := range current {
		k := p.Key()
		seen[k] = true
		if _, ok := t.known[k]; !ok {
			t.known[k] = p
			ch.Started = append(ch.Started, p)
		}
	}
	for k := range t.known {
		if !seen[k] {
			delete(t.known, k)
			ch.Exited = append(ch.Exited, k)
		}
	}
	return ch
}
