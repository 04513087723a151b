// Package discovery finds the processes to instrument by scanning /proc:
// executable paths from /proc/<pid>/exe and listening TCP ports from
// /proc/<pid>/net/tcp{,6} matched to the process's socket file descriptors.
package discovery

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// PortRange is an inclusive range of TCP ports.
type PortRange struct{ Lo, Hi uint16 }

// ParsePortRanges parses "8080,9000-9100".
func ParsePortRanges(s string) ([]PortRange, error) {
	var out []PortRange
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			return nil, fmt.Errorf("empty entry in port list %q", s)
		}
		lo, hi, isRange := strings.Cut(part, "-")
		l, err := parsePort(lo)
		if err != nil {
			return nil, fmt.Errorf("port list %q: %w", s, err)
		}
		h := l
		if isRange {
			if h, err = parsePort(hi); err != nil {
				return nil, fmt.Errorf("port list %q: %w", s, err)
			}
			if h < l {
				return nil, fmt.Errorf("port list %q: range %q is reversed", s, part)
			}
		}
		out = append(out, PortRange{Lo: l, Hi: h})
	}
	return out, nil
}

func parsePort(s string) (uint16, error) {
	n, err := strconv.ParseUint(strings.TrimSpace(s), 10, 16)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("invalid port %q (want 1-65535)", s)
	}
	return uint16(n), nil
}

// CompileGlob turns an exe_path glob into a regular expression: '*' matches
// any characters including '/', '?' one character, [...] a class.
func CompileGlob(glob string) (*regexp.Regexp, error) {
	var b strings.Builder
	b.WriteString("^")
	for i := 0; i < len(glob); i++ {
		switch c := glob[i]; c {
		case '*':
			b.WriteString(".*")
		case '?':
			b.WriteString(".")
		case '[':
			j := strings.IndexByte(glob[i:], ']')
			if j < 0 {
				return nil, fmt.Errorf("glob %q: unterminated [", glob)
			}
			class := glob[i+1 : i+j]
			if strings.HasPrefix(class, "!") {
				class = "^" + class[1:]
			}
			b.WriteString("[" + class + "]")
			i += j
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	b.WriteString("$")
	re, err := regexp.Compile(b.String())
	if err != nil {
		return nil, fmt.Errorf("glob %q: %w", glob, err)
	}
	return re, nil
}

// Selector matches a process by exactly one criterion.
type Selector struct {
	exe   *regexp.Regexp
	ports []PortRange
	pid   int
}

// NewExeSelector matches executable paths against a glob.
func NewExeSelector(glob string) (Selector, error) {
	re, err := CompileGlob(glob)
	return Selector{exe: re}, err
}

// NewPortSelector matches processes listening on one of the ports.
func NewPortSelector(list string) (Selector, error) {
	pr, err := ParsePortRanges(list)
	return Selector{ports: pr}, err
}

// NewPIDSelector matches one pid.
func NewPIDSelector(pid int) Selector { return Selector{pid: pid} }

func (s Selector) needsPorts() bool { return len(s.ports) > 0 }

func (s Selector) matches(p *Process) bool {
	switch {
	case s.exe != nil:
		return s.exe.MatchString(p.ExePath)
	case len(s.ports) > 0:
		for _, port := range p.ListenPorts {
			for _, r := range s.ports {
				if port >= r.Lo && port <= r.Hi {
					return true
				}
			}
		}
		return false
	case s.pid != 0:
		return p.PID == s.pid
	}
	return false
}

// Matcher decides which processes are instrumented.
type Matcher struct {
	Instrument []Selector
	Exclude    []Selector
}

func (m Matcher) needsPorts() bool {
	for _, s := range append(append([]Selector(nil), m.Instrument...), m.Exclude...) {
		if s.needsPorts() {
			return true
		}
	}
	return false
}

// Match reports whether p is selected by Instrument and not by Exclude.
func (m Matcher) Match(p *Process) bool {
	for _, s := range m.Exclude {
		if s.matches(p) {
			return false
		}
	}
	for _, s := range m.Instrument {
		if s.matches(p) {
			return true
		}
	}
	return false
}
