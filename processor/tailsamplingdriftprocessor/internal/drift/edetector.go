package drift

import "math"

// The alternatives an e-detector mixes over: by how much the canary's odds of
// an event exceed what its traffic share predicts. Equal weights, log spaced.
//
// errorOdds starts at 2: at a 0.1% baseline error ratio smaller increases
// take hours to tell apart from noise, and a component that grows that slowly
// would also take hours to fall back once the canary recovers (see
// stateCeiling).
//
// latencyOdds is the factor per baseline quantile exceeded (p50, p90, p99):
// a span over all three scores 3, so its odds are latencyOdds³ times the
// baseline's. For a lognormal latency made 30% slower the best value is ≈ 1.35
// at σ = 1 and ≈ 1.8 at σ = 0.5.
//
// errorOdds is a slice so that benchmarks can try other grids (at most
// maxComponents values); nothing changes it at run time.
var (
	errorOdds   = []float64{2, 3, 5, 8, 13, 25}
	latencyOdds = [...]float64{1.1, 1.2, 1.35, 1.5, 1.75, 2, 2.5, 3.5, 5, 8}
)

// maxComponents is the size of the largest grid above.
const maxComponents = len(latencyOdds)

// Natural logarithms of the grids, computed once.
var (
	logErrorOdds   = logsOf(errorOdds[:])
	logLatencyOdds = logsOf(latencyOdds[:])
)

func logsOf(v []float64) (l [maxComponents]float64) {
	for i, x := range v {
		l[i] = math.Log(x)
	}
	return l
}

// stateHeadroom bounds each component's statistic at this many nats above
// the level where that component alone reaches the threshold (see
// stateCeiling).
const stateHeadroom = 2.0

// eDetector is a change detector built from e-values: a Shiryaev–Roberts
// statistic per alternative ρ, averaged over the grid.
//
// Each look t (one Evaluate) brings, for every ρ, an e-value e_t(ρ): a
// nonnegative number whose conditional expectation is at most 1 when the
// canary is no worse than its baseline (intervalFactors). The look also
// carries a weight w_t, the share of the horizon H that its interval covers
// (Δt/H). Per ρ the statistic is
//
//	S_t(ρ) = (S_{t-1}(ρ) + w_t) · e_t(ρ),   S_0 = 0,
//
// the sum over every possible change point j of w_j·e_j·…·e_t: the evidence
// that the canary turned worse at j, for all j at once. The verdict uses the
// average S_t over the grid.
//
// False alarms. If the canary is never worse, E[S_t | past] ≤ S_{t-1} + w_t
// for every ρ and so for the average. Hence, for a horizon of looks 1..T
// with weights summing to W, Z_t = S_t + (w_{t+1} + … + w_T) is a nonnegative
// supermartingale starting at W, and Ville's inequality gives
//
//	P(S_t ≥ 1/α for some t ≤ T) ≤ α·W.
//
// With w = Δt/H, W is the covered time over H: the chance of a false alarm
// within the first H of a test is at most α, within the first k·H at most
// k·α, and the expected time to a false alarm is at least H/α. The weights
// must not depend on the spans; they come from Evaluate's clock, which a
// timer drives. Lowering any S_t(ρ) (the ceiling, a reset to 0 when a drift
// ends or a test restarts) keeps every bound.
//
// Detection. Old evidence is forgotten: a healthy canary keeps S near the
// weights of recent looks, so after hours of healthy traffic a shift starts
// from the same place as after minutes, and must climb about log(H/Δt) +
// log(1/α) + log(grid size) nats (≈ 16.7 for 5 s looks, H = 24 h, α = 0.01,
// 10 alternatives), whenever it begins.
type eDetector struct {
	odds []float64
	// logS holds log S_t(ρ) per component; -Inf is S = 0.
	logS [maxComponents]float64
}

func newEDetector(odds []float64) eDetector {
	e := eDetector{odds: odds}
	e.reset()
	return e
}

// reset forgets all evidence: S = 0 for every alternative.
func (e *eDetector) reset() {
	for i := range e.logS {
		e.logS[i] = math.Inf(-1)
	}
}

// stateCeiling is the largest log S one component may hold: stateHeadroom
// nats above the level at which it alone brings the average to 1/α. Without
// a ceiling a drift lasting an hour would pile up evidence that takes hours
// to drain once the canary recovers; capping only lowers S, so the
// false-alarm bound is unchanged.
func (e *eDetector) stateCeiling(logThreshold float64) float64 {
	return logThreshold + math.Log(float64(len(e.odds))) + stateHeadroom
}

// update folds one look: weight w (> 0) and the log e-value of each
// alternative, logE[i] for e.odds[i].
func (e *eDetector) update(logW float64, logE *[maxComponents]float64, logThreshold float64) {
	ceiling := e.stateCeiling(logThreshold)
	for i := range e.odds {
		s := logAddExp(e.logS[i], logW) + logE[i]
		e.logS[i] = min(s, ceiling)
	}
}

// logValue returns log of the grid average of S.
func (e *eDetector) logValue() float64 {
	n := len(e.odds)
	peak := math.Inf(-1)
	for _, v := range e.logS[:n] {
		peak = max(peak, v)
	}
	if math.IsInf(peak, -1) {
		return peak
	}
	var sum float64
	for _, v := range e.logS[:n] {
		sum += math.Exp(v - peak)
	}
	return peak + math.Log(sum) - math.Log(float64(n))
}

func logAddExp(a, b float64) float64 {
	if a < b {
		a, b = b, a
	}
	if math.IsInf(b, -1) {
		return a
	}
	return a + math.Log1p(math.Exp(b-a))
}

// The e-values of one interval.
//
// In an interval, n spans arrive, n_c of the canary. If the canary is no
// worse than the baseline, the spans of the interval are exchangeable
// between the two cohorts: given everything but the cohort labels, the
// canary's spans are a uniform random subset of size n_c. Each span carries a
// score s (for errors 1 if it failed; for latency the number of baseline
// quantiles p50, p90, p99 it exceeds), and the canary's total X = Σ s over its
// spans is a sum drawn without replacement. By Hoeffding (1963) its moment
// generating function is at most that of n_c draws with replacement:
//
//	E[ρ^X] ≤ (Σ_k p_k ρ^k)^{n_c},   p_k = share of the interval's spans scoring k,
//
// so ρ^X / (Σ_k p_k ρ^k)^{n_c} is an e-value for every ρ ≥ 1. For a binary
// score the roles can also be swapped: the E events (errors) are drawn
// without replacement from the n spans, n_c of them the canary's, so
// E[ρ^X] ≤ (1 + π(ρ−1))^E with π = n_c/n. Both are bounds on the same
// expectation, so the smaller is one too: the first is tight when the canary
// is a small share of traffic, the second when events are rare.

// errorFactors fills logE with the log e-values of the error signal: x of
// the interval's events were the canary's, events in total, canary spans
// nc of n spans.
func errorFactors(logE *[maxComponents]float64, x, events, nc, n uint64) {
	clear(logE[:])
	if events == 0 || n == 0 || nc == 0 {
		return
	}
	x = min(x, events, nc)
	events = min(events, n)
	nc = min(nc, n)
	pi := float64(nc) / float64(n)
	q := float64(events) / float64(n)
	for i, r := range errorOdds {
		byEvents := float64(events) * math.Log1p(pi*(r-1))
		bySpans := float64(nc) * math.Log1p(q*(r-1))
		logE[i] = float64(x)*logErrorOdds[i] - min(byEvents, bySpans)
	}
}

// latencyFactors fills logE with the log e-values of the latency signal: the
// canary's spans scored x in total (x = its spans over p50 + over p90 + over
// p99) out of nc spans; all of the interval's n spans together have counts[k]
// spans scoring k (k = 0..3).
func latencyFactors(logE *[maxComponents]float64, x, nc uint64, counts *[maxGroups + 1]uint64) {
	clear(logE[:])
	var n uint64
	for _, c := range counts {
		n += c
	}
	if n == 0 || nc == 0 {
		return
	}
	nc = min(nc, n)
	x = min(x, nc*maxGroups)
	for i, r := range latencyOdds {
		var mgf, pow float64 = 0, 1
		for _, c := range counts {
			mgf += float64(c) / float64(n) * pow
			pow *= r
		}
		logE[i] = float64(x)*logLatencyOdds[i] - float64(nc)*math.Log(mgf)
	}
}
