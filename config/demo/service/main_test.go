package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sync"
	"testing"
)

// The traffic driver must send each request its own trace context: one fixed
// traceparent made every order of a demo run one trace.
func TestDriveSendsOneTracePerRequest(t *testing.T) {
	var (
		mu      sync.Mutex
		parents []string
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		parents = append(parents, r.Header.Get("traceparent"))
		mu.Unlock()
	}))
	defer srv.Close()

	const orders = 20
	if err := drive(srv.URL, orders, 0); err != nil {
		t.Fatal(err)
	}
	valid := regexp.MustCompile(`^00-[0-9a-f]{32}-[0-9a-f]{16}-01$`)
	traces, spans := map[string]bool{}, map[string]bool{}
	for _, tp := range parents {
		if !valid.MatchString(tp) {
			t.Fatalf("invalid traceparent %q", tp)
		}
		traces[tp[3:35]] = true
		spans[tp[36:52]] = true
	}
	if want := orders + 5; len(parents) != want || len(traces) != want || len(spans) != want {
		t.Errorf("%d requests carried %d distinct trace ids and %d distinct parent ids, want %d of each", len(parents), len(traces), len(spans), want)
	}
}

// The inventory API's query runs against the embedded SQLite database the service
// opens: a known item has its stock, an unknown one none, and a cancelled request's
// query fails instead of answering.
func TestInventoryLooksUpStockInSQLite(t *testing.T) {
	db, err := openInventory()
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	for item, want := range map[string]int{"0": 7, "3": 10, "999": 11, "1000": 0, "x'); DROP TABLE stock; --": 0} {
		got, err := lookUpStock(ctx, db, item)
		if err != nil {
			t.Fatalf("item %q: %v", item, err)
		}
		if got != want {
			t.Errorf("item %q: stock %d, want %d", item, got, want)
		}
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := lookUpStock(cancelled, db, "1"); err == nil {
		t.Error("a cancelled request's query succeeded")
	}
}
