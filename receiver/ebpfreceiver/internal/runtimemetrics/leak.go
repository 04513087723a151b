package runtimemetrics

// leakDetector flags creation sites whose blocked-goroutine count keeps
// growing. A site is a suspected leak when, over the last `window`
// collections, its count never went down, went up overall, and is at least
// `threshold`. Sites are tracked by identity, independent of top-K folding,
// so a leak in a site outside the top K is still found.
type leakDetector struct {
	threshold int64
	window    int
	maxSites  int
	history   map[goroutineSite][]int64
	flagged   map[goroutineSite]bool
}

func newLeakDetector(threshold int64, window, maxSites int) *leakDetector {
	return &leakDetector{
		threshold: threshold,
		window:    max(window, 2),
		maxSites:  maxSites,
		history:   map[goroutineSite][]int64{},
		flagged:   map[goroutineSite]bool{},
	}
}

// leakVerdict is one site's state after an observation.
type leakVerdict struct {
	Site    goroutineSite
	Count   int64
	Growth  int64 // increase over the window
	Leaking bool
	// Crossed is true on the observation where the site became a suspected
	// leak: the caller logs one line then, not on every collection.
	Crossed bool
}

// observe records one collection's blocked counts and returns every site
// currently suspected of leaking (with Crossed set for new ones).
func (d *leakDetector) observe(sites []siteBlocked) []leakVerdict {
	seen := make(map[goroutineSite]bool, len(sites))
	var out []leakVerdict
	for _, s := range sites {
		seen[s.Site] = true
		h, known := d.history[s.Site]
		if !known && len(d.history) >= d.maxSites {
			continue // bounded memory: new sites beyond maxSites are not tracked
		}
		h = append(h, s.Count)
		if len(h) > d.window {
			h = h[len(h)-d.window:]
		}
		d.history[s.Site] = h
		leaking := len(h) == d.window && s.Count >= d.threshold && nonDecreasing(h) && h[len(h)-1] > h[0]
		if !leaking {
			// Re-arm once the count stops growing, so a later leak logs again.
			if s.Count < d.threshold || !nonDecreasing(h) {
				delete(d.flagged, s.Site)
			}
			if d.flagged[s.Site] {
				out = append(out, leakVerdict{Site: s.Site, Count: s.Count, Growth: h[len(h)-1] - h[0], Leaking: true})
			}
			continue
		}
		v := leakVerdict{Site: s.Site, Count: s.Count, Growth: h[len(h)-1] - h[0], Leaking: true}
		if !d.flagged[s.Site] {
			d.flagged[s.Site] = true
			v.Crossed = true
		}
		out = append(out, v)
	}
	for site := range d.history {
		if !seen[site] {
			delete(d.history, site)
			delete(d.flagged, site)
		}
	}
	return out
}

func nonDecreasing(h []int64) bool {
	for i := 1; i < len(h); i++ {
		if h[i] < h[i-1] {
			return false
		}
	}
	return true
}
