package sloburnprocessor // import "github.com/otelcol-goebpf/otelcol-goebpf/processor/sloburnprocessor"

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension/xextension/storage"
)

const (
	stateKey     = "slo_burn_state"
	stateVersion = 1
	// saveEvery bounds how much window history a crash (no clean shutdown) can lose.
	saveEvery = time.Minute
)

// stateStore is the storage extension client that keeps windows across restarts.
type stateStore struct {
	client   storage.Client
	lastSave int64
}

func newStateStore(ctx context.Context, host component.Host, id, owner component.ID) (*stateStore, error) {
	ext, ok := host.GetExtensions()[id]
	if !ok {
		return nil, fmt.Errorf("storage %q: no such extension is configured", id)
	}
	se, ok := ext.(storage.Extension)
	if !ok {
		return nil, fmt.Errorf("storage %q: extension is not a storage extension", id)
	}
	client, err := se.GetClient(ctx, component.KindProcessor, owner, "")
	if err != nil {
		return nil, fmt.Errorf("storage %q: get client: %w", id, err)
	}
	return &stateStore{client: client}, nil
}

func (s *stateStore) close(ctx context.Context) error {
	if err := s.client.Close(ctx); err != nil {
		return fmt.Errorf("close storage client: %w", err)
	}
	return nil
}

type storedState struct {
	Version int   `json:"version"`
	SavedAt int64 `json:"saved_at"`
	// StartTime is the start of the cumulative slo.events series, kept so the restored
	// counts continue the same series.
	StartTime int64                `json:"start_time"`
	SLOs      map[string]storedSLO `json:"slos"`
}

type storedSLO struct {
	CumGood  float64        `json:"cum_good"`
	CumTotal float64        `json:"cum_total"`
	Windows  []storedWindow `json:"windows"`
	Tiers    []storedTier   `json:"tiers"`
	Learner  *storedLearner `json:"learner,omitempty"`
}

type storedWindow struct {
	Size  int64     `json:"size"`
	Head  int64     `json:"head"`
	Good  []float64 `json:"good"`
	Total []float64 `json:"total"`
}

type storedTier struct {
	Label      string `json:"label"`
	Severity   string `json:"severity"`
	Firing     bool   `json:"firing"`
	ClearSince int64  `json:"clear_since"`
	FiredAt    int64  `json:"fired_at"`
}

type storedLearner struct {
	SlotWidth int64           `json:"slot_width"`
	Head      int64           `json:"head"`
	Slots     [][]storedCount `json:"slots"` // sparse histograms
}

type storedCount struct {
	Bucket int     `json:"b"`
	Count  float64 `json:"c"`
}

// snapshot captures the state; called with p.mu held.
func (p *sloBurn) snapshot(now int64) storedState {
	st := storedState{Version: stateVersion, SavedAt: now, StartTime: p.startTime, SLOs: make(map[string]storedSLO, len(p.slos))}
	for _, s := range p.slos {
		ss := storedSLO{CumGood: s.cumGood, CumTotal: s.cumTotal}
		for _, w := range s.windows {
			ss.Windows = append(ss.Windows, storedWindow{
				Size: int64(w.size), Head: w.head,
				Good: append([]float64(nil), w.good[:]...), Total: append([]float64(nil), w.total[:]...),
			})
		}
		for _, t := range s.tiers {
			ss.Tiers = append(ss.Tiers, storedTier{Label: t.label, Severity: t.cfg.Severity, Firing: t.firing, ClearSince: t.clearSince, FiredAt: t.firedAt})
		}
		if l := s.learner; l != nil {
			sl := &storedLearner{SlotWidth: l.slotWidth, Head: l.head}
			for i := range l.slots {
				var counts []storedCount
				for b, c := range l.slots[i] {
					if c != 0 {
						counts = append(counts, storedCount{Bucket: b, Count: c})
					}
				}
				sl.Slots = append(sl.Slots, counts)
			}
			ss.Learner = sl
		}
		st.SLOs[s.cfg.Name] = ss
	}
	return st
}

// apply restores what matches the current configuration: SLOs by name, windows by size,
// tiers by label and severity. Called with p.mu held.
func (p *sloBurn) apply(st storedState) {
	if st.StartTime > 0 {
		p.startTime = st.StartTime
	}
	for _, s := range p.slos {
		ss, ok := st.SLOs[s.cfg.Name]
		if !ok {
			continue
		}
		s.cumGood, s.cumTotal = ss.CumGood, ss.CumTotal
		for _, sw := range ss.Windows {
			for _, w := range s.windows {
				if int64(w.size) == sw.Size && len(sw.Good) == len(w.good) && len(sw.Total) == len(w.total) {
					w.head = sw.Head
					copy(w.good[:], sw.Good)
					copy(w.total[:], sw.Total)
				}
			}
		}
		for _, stt := range ss.Tiers {
			for i := range s.tiers {
				t := &s.tiers[i]
				if t.label == stt.Label && t.cfg.Severity == stt.Severity && !t.firing {
					t.firing, t.clearSince, t.firedAt = stt.Firing, stt.ClearSince, stt.FiredAt
					if t.firing {
						s.firing++
					}
				}
			}
		}
		if l := s.learner; l != nil && ss.Learner != nil && ss.Learner.SlotWidth == l.slotWidth && len(ss.Learner.Slots) == len(l.slots) {
			l.head = ss.Learner.Head
			for i, counts := range ss.Learner.Slots {
				for _, c := range counts {
					if c.Bucket >= 0 && c.Bucket < latencyBuckets {
						l.slots[i][c.Bucket] = c.Count
					}
				}
			}
			l.learned = l.percentileNs()
			s.threshold = l.learned
		}
	}
}

func (p *sloBurn) save(ctx context.Context) error {
	p.mu.Lock()
	now := p.now().UnixNano()
	st := p.snapshot(now)
	p.mu.Unlock()
	b, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("encode slo_burn state: %w", err)
	}
	if err := p.store.client.Set(ctx, stateKey, b); err != nil {
		return fmt.Errorf("save slo_burn state: %w", err)
	}
	p.store.lastSave = now
	return nil
}

func (p *sloBurn) restore(ctx context.Context) error {
	b, err := p.store.client.Get(ctx, stateKey)
	if err != nil {
		return fmt.Errorf("load slo_burn state: %w", err)
	}
	if b == nil {
		return nil
	}
	var st storedState
	if err := json.Unmarshal(b, &st); err != nil {
		return fmt.Errorf("decode slo_burn state: %w", err)
	}
	if st.Version != stateVersion {
		return fmt.Errorf("slo_burn state version %d, want %d", st.Version, stateVersion)
	}
	p.mu.Lock()
	p.apply(st)
	p.mu.Unlock()
	return nil
}
