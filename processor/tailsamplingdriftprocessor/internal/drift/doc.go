// Package drift tells, while spans stream in, whether a canary cohort of a
// service operation is worse than its baseline cohort: slower, or with more
// errors. It is the statistical core of the tail_sampling_drift processor and
// knows nothing of pdata.
//
// # What is kept
//
// Per Key (service, operation) and cohort: a fixed-layout log-linear
// histogram of durations (16 buckets per power of two, ≤ 6.25% wide, 450
// buckets from 1 µs to 275 s) and an error count, updated with atomic adds;
// never raw spans. The number of keys and of cohorts per key is bounded;
// spans beyond the bounds are folded into OverflowKey or dropped, and counted
// (Stats). Idle cohorts expire.
//
// # The test
//
// Evaluate, called on a timer, looks at the spans of each interval between two
// calls. For each canary cohort it counts events of the canary and of the
// baseline in that interval — for errors, error spans; for latency, spans
// slower than the baseline's p50, p90 and p99 as estimated before the
// interval began — and the canary's share π of the interval's spans. If the
// canary behaves like the baseline, the canary's share of events should be π:
// given the counts, its event count is hypergeometric, dominated in convex
// order by Binomial(E, π). The likelihood ratio of "the canary's odds of an
// event are ρ times higher" against that binomial, multiplied over intervals
// and averaged over a grid of ρ > 1 (and, for latency, over the three
// quantiles), is therefore an e-process: a nonnegative supermartingale under
// the null hypothesis. By Ville's inequality it reaches 1/α with probability
// at most α, however often it is checked; the test is one-sided, so only a
// canary that is worse can reach it.
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
// interval). A canary's first interval, in which its share rises from zero, is
// no exception: errors of the whole system that cluster after it starts count
// against it as they would after a rollout step that raises its share.
//
// To notice a drift that begins late, and to notice that a drift has ended,
// each test restarts every Config.Epoch; epoch k gets the share
// α_k = α/(k(k+1)) of the significance, and these shares sum to α. A canary
// stays drifting until a whole epoch passes without the threshold being reached.
//
// Significance applies to each test (one canary cohort, one key, one
// signal); with many keys, expect about α times their number of false alarms
// in total over the detector's life.
package drift
