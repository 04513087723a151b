package drift

import "math"

// oddsGrid is the set of alternatives the e-process mixes over: the factor by
// which the canary's odds of producing an event (an error, or a span slower
// than a baseline quantile) exceed its traffic share's. Equal weights; log
// spaced so that both subtle latency shifts (≈1.2-2) and error-ratio jumps
// (≈5-30) have a close alternative.
var oddsGrid = [...]float64{1.15, 1.3, 1.5, 1.75, 2, 3, 5, 8, 13, 25}

var logOddsGrid = func() (l [len(oddsGrid)]float64) {
	for i, r := range oddsGrid {
		l[i] = math.Log(r)
	}
	return l
}()

// maxGroups is the number of event definitions one e-process can average
// over (the latency signal uses three baseline quantiles).
const maxGroups = 3

// shareEProcess is a one-sided sequential test that the canary's share of
// events exceeds its share of traffic.
//
// In each evaluation interval, let n_c and n_b be the canary's and the
// baseline's spans, π = n_c/(n_c+n_b), E the events among those spans and x
// the canary's. If the two cohorts behave alike (H0) the spans of the
// interval are exchangeable between cohorts, so given the counts x follows a
// hypergeometric law, which is dominated in convex order by Binomial(E, π)
// (Hoeffding 1963). For any odds ratio ρ ≥ 1 the factor
//
//	ρ^x / (1 + π(ρ-1))^E
//
// has expectation at most 1 under H0, so the running product over intervals
// is a nonnegative supermartingale; so is any average of such products over a
// grid of ρ and over event definitions chosen before the interval starts.
// Ville's inequality bounds the chance that the average ever reaches 1/α by
// α: the test may be checked after every interval, forever.
//
// The state is kept in logarithms (one per group and ρ), so long runs neither
// overflow nor underflow.
type shareEProcess struct {
	groups int
	logM   [maxGroups][len(oddsGrid)]float64
}

func newShareEProcess(groups int) shareEProcess {
	return shareEProcess{groups: groups}
}

// update folds one interval of group g: x canary events out of total events,
// with the canary's traffic share in that interval.
func (e *shareEProcess) update(g int, x, total uint64, share float64) {
	if total == 0 || g < 0 || g >= e.groups {
		return
	}
	if x > total {
		x = total
	}
	share = min(max(share, 0), 1)
	fx, ft := float64(x), float64(total)
	for j, r := range oddsGrid {
		e.logM[g][j] += fx*logOddsGrid[j] - ft*math.Log1p(share*(r-1))
	}
}

// logValue returns the natural logarithm of the mixture e-value: the
// equal-weight average over groups and odds ratios.
func (e *shareEProcess) logValue() float64 {
	if e.groups == 0 {
		return 0
	}
	peak := math.Inf(-1)
	for g := 0; g < e.groups; g++ {
		for _, v := range e.logM[g] {
			peak = max(peak, v)
		}
	}
	var sum float64
	for g := 0; g < e.groups; g++ {
		for _, v := range e.logM[g] {
			sum += math.Exp(v - peak)
		}
	}
	return peak + math.Log(sum) - math.Log(float64(e.groups*len(oddsGrid)))
}

func (e *shareEProcess) reset() {
	e.logM = [maxGroups][len(oddsGrid)]float64{}
}

// epochThreshold returns log(1/α_k) for the k-th epoch (k ≥ 1) of a test,
// with α_k = α/(k(k+1)). The α_k sum to α, so restarting the e-process at
// every epoch keeps the overall false-alarm probability at most α.
func epochThreshold(alpha float64, k int) float64 {
	kk := float64(max(k, 1))
	return -math.Log(alpha) + math.Log(kk) + math.Log(kk+1)
}
