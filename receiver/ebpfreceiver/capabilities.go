package ebpfreceiver

import (
	"fmt"
	"strings"

	"golang.org/x/sys/unix"
)

// Linux capability numbers (include/uapi/linux/capability.h).
const (
	capDACReadSearch = 2
	capSysPtrace     = 19
	capSysAdmin      = 21
	capPerfmon       = 38
	capBPF           = 39
)

// requiredCapability is one capability the receiver needs, and why.
type requiredCapability struct {
	name string
	bit  uint
	// coveredBySysAdmin: CAP_SYS_ADMIN grants it too (the kernel's
	// bpf_capable and perfmon_capable accept either).
	coveredBySysAdmin bool
	why               string
}

// requiredCapabilities is the least privilege of the receiver, measured on
// Linux 6.18 (see the README's Privileges section): with any one missing,
// some instrumentation fails for processes of other users.
var requiredCapabilities = []requiredCapability{
	{"CAP_BPF", capBPF, true, "load BPF programs and maps"},
	{"CAP_PERFMON", capPerfmon, true, "load tracing programs and attach uprobe_multi links and sched tracepoints"},
	{"CAP_SYS_PTRACE", capSysPtrace, false, "open /proc/<pid>/exe and read /proc/<pid>/mem of processes of other users"},
	{"CAP_DAC_READ_SEARCH", capDACReadSearch, false, "list /proc/<pid>/fd (open_ports discovery) and open executables the collector's user cannot read"},
}

// checkCapabilities names the capabilities the calling thread lacks.
func checkCapabilities() error {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return fmt.Errorf("read process capabilities: %w", err)
	}
	missing := missingCapabilities(uint64(data[1].Effective)<<32 | uint64(data[0].Effective))
	if len(missing) == 0 {
		return nil
	}
	var names, whys []string
	for _, c := range missing {
		names = append(names, c.name)
		whys = append(whys, c.name+" to "+c.why)
	}
	return fmt.Errorf("ebpf receiver lacks %s: it needs %s; run as root or grant exactly cap_bpf,cap_perfmon,cap_sys_ptrace,cap_dac_read_search (file capabilities, ambient capabilities, or a container's capabilities.add)",
		strings.Join(names, " and "), strings.Join(whys, ", "))
}

// missingCapabilities lists what an effective capability set lacks.
func missingCapabilities(effective uint64) []requiredCapability {
	has := func(c uint) bool { return effective&(1<<c) != 0 }
	var missing []requiredCapability
	for _, c := range requiredCapabilities {
		if !has(c.bit) && !(c.coveredBySysAdmin && has(capSysAdmin)) {
			missing = append(missing, c)
		}
	}
	return missing
}
