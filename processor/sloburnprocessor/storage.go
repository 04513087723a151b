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

// storedLearner is a latency baseline. Layout 2 is the slotted baseline; state from the
// earlier trailing-window learner (layout 0) is not restored, so that SLO learns afresh.
type storedLearner struct {
	Layout     int             `json:"layout"`
	SlotWidth  int64           `json:"slot_width"`
	Slots      [][]storedCount `json:"slots"` // committed healthy slots, sparse histograms
	SlotNums   []int64         `json:"slot_nums"`
	Current    []storedCount   `json:"current"`
	CurrentNum int64           `json:"current_num"`
	CurGood    float64         `json:"current_good"`
	CurTotal   float64         `json:"current_total"`
	CurFired   bool            `json:"current_fired"`
	Held       []storedCount   `json:"held"`
	HeldNum    int64           `json:"held_num"`
	HeldOK     bool            `json:"held_ok"`
	Started    int64           `json:"started"`
	Threshold  int64           `json:"threshold"`
}

const learnerLayout = 2

func sparse(h *latencyHistogram) []storedCount {
	var counts []storedCount
	for b, c := range h {
		if c != 0 {
			counts = append(counts, storedCount{Bucket: b, Count: c})
		}
	}
	return counts
}

func dense(counts []storedCount) (h latencyHistogram) {
	for _, c := range counts {
		if c.Bucket >= 0 && c.Bucket < latencyBuckets {
			h[c.Bucket] = c.Count
		}
	}
	return h
}

func (b *latencyBaseline) stored() *storedLearner {
	sl := &storedLearner{
		Layout: learnerLayout, SlotWidth: b.width, SlotNums: append([]int64(nil), b.slotNum...),
		Current: sparse(&b.cur), CurrentNum: b.curNum, CurGood: b.curGood, CurTotal: b.curTotal, CurFired: b.curFired,
		Held: sparse(&b.held), HeldNum: b.heldNum, HeldOK: b.heldOK, Started: b.started, Threshold: b.threshold,
	}
	for i := range b.committed {
		sl.Slots = append(sl.Slots, sparse(&b.committed[i]))
	}
	return sl
}

// restore takes the stored baseline if it has this configuration's layout.
func (b *latencyBaseline) restore(sl *storedLearner) bool {
	if sl == nil || sl.Layout != learnerLayout || sl.SlotWidth != b.width || len(sl.Slots) != len(b.committed) || len(sl.SlotNums) != len(b.slotNum) {
		return false
	}
	for i := range b.committed {
		b.committed[i] = dense(sl.Slots[i])
	}
	copy(b.slotNum, sl.SlotNums)
	b.cur, b.curNum, b.curGood, b.curTotal, b.curFired = dense(sl.Current), sl.CurrentNum, sl.CurGood, sl.CurTotal, sl.CurFired
	b.held, b.heldNum, b.heldOK = dense(sl.Held), sl.HeldNum, sl.HeldOK
	b.started, b.threshold = sl.Started, sl.Threshold
	return true
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
		if s.learner != nil {
			ss.Learner = s.learner.stored()
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
		if s.learner != nil && s.learner.restore(ss.Learner) {
			s.threshold = s.learner.threshold
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
