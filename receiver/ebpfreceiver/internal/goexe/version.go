package goexe

import (
	"regexp"
	"strconv"
)

var goVersionRE = regexp.MustCompile(`^go1\.(\d+)(?:\.(\d+))?`)

// GoMinor returns the minor version of the toolchain that built the
// executable (22 for go1.22.12), or 0 when GoVersion is not a go1.x release.
func (e *Executable) GoMinor() int {
	minor, _, _ := parseGoVersion(e.GoVersion)
	return minor
}

// parseGoVersion splits "go1.22.12" (or "go1.22rc1", "go1.21.0 X:boringcrypto")
// into minor 22 and patch 12.
func parseGoVersion(v string) (minor, patch int, ok bool) {
	m := goVersionRE.FindStringSubmatch(v)
	if m == nil {
		return 0, 0, false
	}
	minor, err := strconv.Atoi(m[1])
	if err != nil {
		return 0, 0, false
	}
	if m[2] != "" {
		patch, _ = strconv.Atoi(m[2])
	}
	return minor, patch, true
}
