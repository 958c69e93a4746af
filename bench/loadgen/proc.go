package loadgen

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// clockTicks is USER_HZ, the unit of the CPU times in /proc/<pid>/stat:
// 100 on every Linux architecture Go supports.
const clockTicks = 100

// procStat is what TreeUsage reads of one process.
type procStat struct {
	ppid       int
	utime      uint64 // clock ticks
	stime      uint64
	rssPages   int64
	majorFault uint64
}

// readStat parses /proc/<pid>/stat. The command name is in parentheses and
// may itself hold spaces and parentheses: fields are counted after the last
// ')'.
func readStat(pid int) (procStat, error) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return procStat{}, err
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procStat{}, fmt.Errorf("loadgen: malformed /proc/%d/stat", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	// After ')': state(3) ppid(4) … majflt(12) … utime(14) stime(15) … rss(24),
	// numbered as in proc(5); f[0] is field 3.
	if len(f) < 22 {
		return procStat{}, fmt.Errorf("loadgen: short /proc/%d/stat", pid)
	}
	var s procStat
	s.ppid, _ = strconv.Atoi(f[1])
	s.majorFault, _ = strconv.ParseUint(f[9], 10, 64)
	s.utime, _ = strconv.ParseUint(f[11], 10, 64)
	s.stime, _ = strconv.ParseUint(f[12], 10, 64)
	s.rssPages, _ = strconv.ParseInt(f[21], 10, 64)
	return s, nil
}

// Usage is the CPU time and resident memory of a process tree at one
// moment.
type Usage struct {
	CPU       time.Duration // user + system time of every live process of the tree
	RSS       int64         // resident set, bytes, summed over the tree
	Processes int
}

// Descendants returns roots and every live process below them.
func Descendants(roots ...int) []int {
	children := map[int][]int{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		s, err := readStat(pid)
		if err != nil {
			continue
		}
		children[s.ppid] = append(children[s.ppid], pid)
	}
	seen := map[int]bool{}
	var out []int
	var walk func(int)
	walk = func(p int) {
		if seen[p] {
			return
		}
		seen[p] = true
		out = append(out, p)
		for _, c := range children[p] {
			walk(c)
		}
	}
	for _, r := range roots {
		walk(r)
	}
	return out
}

// TreeUsage sums the CPU time (utime + stime) and the resident set of the
// processes roots and all their live descendants, from /proc. A process
// that ends between two readings takes its CPU time with it, so measure
// trees whose processes live through the measurement (a server and its
// workers).
func TreeUsage(roots ...int) (Usage, error) {
	var u Usage
	page := int64(os.Getpagesize())
	for _, pid := range Descendants(roots...) {
		s, err := readStat(pid)
		if err != nil {
			continue // ended meanwhile
		}
		u.CPU += time.Duration(s.utime+s.stime) * time.Second / clockTicks
		u.RSS += s.rssPages * page
		u.Processes++
	}
	if u.Processes == 0 {
		return u, fmt.Errorf("loadgen: no live process among %v", roots)
	}
	return u, nil
}

// SelfCPU is the CPU time (user + system) this process has used.
func SelfCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// LoadAverage returns the first three fields of /proc/loadavg, or "?".
func LoadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
