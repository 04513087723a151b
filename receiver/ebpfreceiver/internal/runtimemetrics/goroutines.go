package runtimemetrics

import (
	"fmt"
	"sort"
	"strings"
)

// codeSite is a place in the target's code: the function that ran a `go`
// statement, or the function that allocated.
type codeSite struct {
	Function string
	File     string
	Line     int
}

func (s codeSite) String() string {
	if s.File == "" {
		return s.Function
	}
	return fmt.Sprintf("%s (%s:%d)", s.Function, s.File, s.Line)
}

// otherSite collects everything folded out of a top-K list.
var otherSite = codeSite{Function: "other"}

// goroutineRecord is the part of one runtime.g we look at.
type goroutineRecord struct {
	Goid       uint64
	Status     uint32
	WaitReason uint8
	WaitSince  int64 // runtime nanotime (CLOCK_MONOTONIC); 0 until a GC saw it blocked
	GoPC       uint64
	StartPC    uint64
}

func decodeG(b []byte, l *layout) goroutineRecord {
	r := goroutineRecord{
		Goid:       u64At(b, l.gGoid),
		Status:     u32At(b, l.gStatus),
		WaitReason: u8At(b, l.gWaitReason),
		GoPC:       u64At(b, l.gGopc),
		StartPC:    u64At(b, l.gStartPC),
	}
	if l.gWaitSince != noField {
		r.WaitSince = int64(u64At(b, l.gWaitSince))
	}
	return r
}

// goroutineSite names a group of goroutines: where they were created (the
// `go` statement, g.gopc) and what they run (their start function,
// g.startpc). A worker pool or a helper like errgroup's Go creates every
// goroutine at one generic site; the start function tells them apart.
type goroutineSite struct {
	Creation codeSite
	Start    codeSite // empty for the folded "other" series
}

func (s goroutineSite) String() string {
	if s.Start.Function == "" {
		return s.Creation.String()
	}
	return s.Creation.String() + " -> " + s.Start.String()
}

// siteBlocked is the blocked goroutines created at one site running one start function.
type siteBlocked struct {
	Site       goroutineSite
	Count      int64
	MaxBlocked int64 // nanoseconds, longest known time blocked (0 if unknown)
}

// goroutineSummary aggregates one snapshot of a process's goroutines.
type goroutineSummary struct {
	Total        int64            // user goroutines (like runtime.NumGoroutine)
	ByState      map[string]int64 // runnable, running, syscall, waiting, leaked
	ByWaitReason map[string]int64 // waiting goroutines only
	Blocked      []siteBlocked    // every creation site with waiting goroutines, most first
	Runnable     int64
}

// siteResolver turns a PC into a code site; results are cached per PC.
type siteResolver struct {
	bin   Binary
	bias  uint64 // load bias for PIE binaries: runtime PC - bias = link-time PC
	cache map[uint64]codeSite
	start map[uint64]codeSite // start functions by g.startpc, wrappers seen through
}

// maxResolverCache bounds each cache; a miss only costs a lookup.
const maxResolverCache = 1 << 16

func newSiteResolver(bin Binary, bias uint64) *siteResolver {
	return &siteResolver{bin: bin, bias: bias, cache: map[uint64]codeSite{}, start: map[uint64]codeSite{}}
}

// resolve resolves a return-address-like PC: the instruction that matters is
// the one before it (the call), so pc-1 is looked up, as runtime tracebacks do.
func (r *siteResolver) resolve(pc uint64) codeSite {
	if s, ok := r.cache[pc]; ok {
		return s
	}
	s := codeSite{Function: "unknown"}
	if pc > r.bias {
		if fn, file, line, ok := r.bin.FuncForPC(pc - r.bias - 1); ok {
			s = codeSite{Function: fn, File: file, Line: line}
		}
	}
	if len(r.cache) < maxResolverCache {
		r.cache[pc] = s
	}
	return s
}

// resolveFunc resolves a function entry-like PC (g.startpc).
func (r *siteResolver) resolveFunc(pc uint64) string {
	return r.resolve(pc + 1).Function
}

// resolveStart resolves g.startpc to the goroutine's start function, with
// the file and line of its entry. `go f(x)` makes the compiler start the
// goroutine in a generated wrapper (pkg.caller.gowrapN, Go >= 1.22) that
// calls f(x); the wrapper is seen through to f, so the start function is
// the one the program names (when f is inlined into the wrapper, the
// wrapper is what is left to report).
func (r *siteResolver) resolveStart(pc uint64) codeSite {
	if s, ok := r.start[pc]; ok {
		return s
	}
	s := r.resolve(pc + 1)
	if isGoWrapper(s.Function) {
		if callee, ok := wrappedCall(r.bin, s.Function); ok {
			s = callee
		}
	}
	if len(r.start) < maxResolverCache {
		r.start[pc] = s
	}
	return s
}

// isGoWrapper says whether fn is a compiler-generated `go` statement
// wrapper: main.main.gowrap1, main.(*T).run.gowrap2, ...
func isGoWrapper(fn string) bool {
	i := strings.LastIndex(fn, ".gowrap")
	if i < 0 || i+len(".gowrap") == len(fn) {
		return false
	}
	for _, c := range fn[i+len(".gowrap"):] {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// isSystemGoroutine mirrors runtime.isSystemGoroutine closely enough for
// counting: goroutines started in package runtime (other than runtime.main)
// are the runtime's own and are left out of go.goroutine.count, as
// runtime.NumGoroutine leaves them out.
func isSystemGoroutine(startFn string) bool {
	if !strings.HasPrefix(startFn, "runtime.") {
		return false
	}
	switch startFn {
	case "runtime.main", "runtime.corostart", "runtime.handleAsyncEvent":
		return false
	}
	return true
}

// goroutineAggregator builds a goroutineSummary one goroutine at a time, so
// that a process with a million goroutines is read in bounded chunks.
type goroutineAggregator struct {
	res     *siteResolver
	reasons []string
	nowMono int64
	sum     goroutineSummary
	sites   map[goroutineSite]*siteBlocked
}

// newGoroutineAggregator starts a summary. nowMono is the current
// CLOCK_MONOTONIC time in nanoseconds, the clock of g.waitsince.
func newGoroutineAggregator(res *siteResolver, reasons []string, nowMono int64) *goroutineAggregator {
	return &goroutineAggregator{
		res: res, reasons: reasons, nowMono: nowMono,
		sum:   goroutineSummary{ByState: map[string]int64{}, ByWaitReason: map[string]int64{}},
		sites: map[goroutineSite]*siteBlocked{},
	}
}

func (a *goroutineAggregator) add(g goroutineRecord) {
	state, ok := goroutineState(g.Status)
	if !ok {
		return
	}
	if isSystemGoroutine(a.res.resolveFunc(g.StartPC)) {
		return
	}
	a.sum.Total++
	a.sum.ByState[state]++
	if state == "runnable" {
		a.sum.Runnable++
	}
	if state != "waiting" {
		return
	}
	a.sum.ByWaitReason[waitReasonName(a.reasons, g.WaitReason)]++
	site := goroutineSite{Creation: a.res.resolve(g.GoPC), Start: a.res.resolveStart(g.StartPC)}
	sb := a.sites[site]
	if sb == nil {
		sb = &siteBlocked{Site: site}
		a.sites[site] = sb
	}
	sb.Count++
	if g.WaitSince > 0 && a.nowMono > g.WaitSince {
		sb.MaxBlocked = max(sb.MaxBlocked, a.nowMono-g.WaitSince)
	}
}

// result returns the summary, creation sites sorted by blocked count.
func (a *goroutineAggregator) result() goroutineSummary {
	sum := a.sum
	sum.Blocked = make([]siteBlocked, 0, len(a.sites))
	for _, sb := range a.sites {
		sum.Blocked = append(sum.Blocked, *sb)
	}
	sort.Slice(sum.Blocked, func(i, j int) bool {
		a, b := sum.Blocked[i], sum.Blocked[j]
		if a.Count != b.Count {
			return a.Count > b.Count
		}
		return a.Site.String() < b.Site.String()
	})
	return sum
}

// summarizeGoroutines aggregates decoded goroutines (see goroutineAggregator).
func summarizeGoroutines(gs []goroutineRecord, res *siteResolver, reasons []string, nowMono int64) goroutineSummary {
	a := newGoroutineAggregator(res, reasons, nowMono)
	for _, g := range gs {
		a.add(g)
	}
	return a.result()
}

func waitReasonName(reasons []string, r uint8) string {
	if int(r) < len(reasons) && reasons[r] != "" {
		return reasons[r]
	}
	return fmt.Sprintf("wait reason %d", r)
}

// foldSites keeps the k sites with most blocked goroutines and folds the
// rest into one "other" entry; it returns how many sites were folded.
func foldSites(sites []siteBlocked, k int) (kept []siteBlocked, folded int) {
	if len(sites) <= k {
		return sites, 0
	}
	kept = append([]siteBlocked(nil), sites[:k]...)
	other := siteBlocked{Site: goroutineSite{Creation: otherSite}}
	for _, s := range sites[k:] {
		other.Count += s.Count
		other.MaxBlocked = max(other.MaxBlocked, s.MaxBlocked)
	}
	return append(kept, other), len(sites) - k
}
