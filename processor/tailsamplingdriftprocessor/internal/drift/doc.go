// Package drift tells, while spans stream in, whether a canary cohort of a
// service operation is worse than its baseline cohort: slower, or with more
// errors. It is the statistical core of the tail_sampling_drift processor and
// knows nothing of pdata.
//
// # What is kept
//
// Per Key (service, operation, span kind) and cohort: a fixed-layout
// log-linear histogram of durations (16 buckets per power of two, ≤ 6.25%
// wide, 450 buckets from 1 µs to 275 s) and an error count, updated with
// atomic adds; never raw spans. The number of keys and of cohorts per key is
// bounded; spans beyond the bounds are folded into OverflowKey or dropped,
// and counted (Stats). Idle cohorts expire.
//
// # The test
//
// Evaluate, called on a timer, looks at the spans of each interval between
// two calls. Each span gets a score: for errors 1 if it failed, for latency
// the number of the baseline's p50, p90 and p99 (as estimated before the
// interval began) it exceeds. If the canary behaves like the baseline, its
// spans in the interval are a uniform random subset of all the interval's
// spans, and by Hoeffding's bound for sampling without replacement
// ρ^X / (Σ_k p_k ρ^k)^{n_c} is an e-value (expectation ≤ 1) for the canary's
// total score X, its span count n_c, the share p_k of the interval's spans
// scoring k, and any ρ ≥ 1 (for errors, also with the roles of spans and
// events swapped; the smaller bound is used).
//
// The e-values feed an e-detector (eDetector): per ρ of a grid, the
// Shiryaev–Roberts statistic S_t = (S_{t-1} + w_t)·e_t, the sum over every
// possible change point of the evidence since it, where the look's weight
// w_t is its interval over Config.Horizon (24 h). The canary is declared
// drifting when the grid average reaches 1/α. Under the null, S_t minus the
// summed weights is a supermartingale, so by Ville's inequality a false alarm
// within the first horizon of a test has probability at most α (within k
// horizons at most kα; mean time to a false alarm at least Horizon/α),
// however often Evaluate runs. The statistic forgets a healthy past: after
// hours of healthy traffic it sits near the weight of one look, so the delay
// to detect a drift does not depend on when it begins. The test is
// one-sided: only a canary that is worse can reach the threshold.
//
// A drift ends when the statistic falls back below 1 (log 0), and the test
// then starts afresh; a ceiling on each ρ's statistic keeps a long drift
// from piling up evidence that would take hours to drain.
//
// A test also takes in the interval that ends at the Evaluate creating it: a
// cohort that Evaluate sees for the first time was created during that
// interval, so its counts at the previous call were zero. Latency needs
// thresholds chosen at the previous call, so a key's very first interval
// counts for errors only.
//
// The test does not assume any distribution of latencies or error rates, nor
// that they stay constant over time: only that within one interval the spans
// of the two cohorts are exchangeable when the canary is no worse (same
// traffic mix; no change in the canary's share correlated with load within an
// interval), and that Evaluate's times do not depend on the spans.
//
// Significance applies to each test (one canary cohort, one key, one
// signal); with many keys, expect about α times their number of false alarms
// in total per horizon.
package drift
