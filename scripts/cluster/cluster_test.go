package cluster

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestSeqLess(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want bool
	}{
		{"", "1-0", true},
		{"1-0", "", false},
		{"1763800000000-3", "1763800000000-10", true}, // numeric, not string order
		{"1763800000000-10", "1763800000001-0", true},
		{"1763800000001-0", "1763800000000-99", false},
		{"5-5", "5-5", false},
	} {
		if got := SeqLess(tc.a, tc.b); got != tc.want {
			t.Errorf("SeqLess(%q, %q) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}

func TestMetrics(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = fmt.Fprint(w, `# HELP citybrain_consumer_lag Records behind.
# TYPE citybrain_consumer_lag gauge
citybrain_consumer_lag{group="p.citybrain-enricher"} 12
citybrain_consumer_lag{group="p.citybrain-projector"} 0
citybrain_consumer_records_total{group="g",topic="t",outcome="ok"} 3
`)
	}))
	defer srv.Close()
	m, err := Metrics(t.Context(), srv.URL, "citybrain_consumer_lag")
	if err != nil {
		t.Fatal(err)
	}
	if len(m) != 2 || m[`citybrain_consumer_lag{group="p.citybrain-enricher"}`] != 12 {
		t.Fatalf("got %v", m)
	}
}

func TestSeenAndDiff(t *testing.T) {
	s := NewSeen()
	t0 := time.Now()
	s.mark([]string{"EV-1", "EV-2"}, t0)
	s.mark([]string{"EV-2"}, t0.Add(time.Second)) // the first sighting counts
	if at, _ := s.At("EV-2"); !at.Equal(t0) {
		t.Fatalf("EV-2 first seen %v, want %v", at, t0)
	}
	if miss := s.Missing([]Ack{{ID: "EV-1"}, {ID: "EV-3"}}); len(miss) != 1 || miss[0] != "EV-3" {
		t.Fatalf("missing %v", miss)
	}

	w := &WallClient{incidents: map[string]int{"A": 2, "B": 1, "X": 1}}
	api := []Incident{{ID: "A", Version: 2}, {ID: "B", Version: 3}, {ID: "C", Version: 1}}
	stale, missing, extra := w.Diff(api)
	if len(stale) != 1 || len(missing) != 1 || missing[0] != "C" || len(extra) != 1 || extra[0] != "X" {
		t.Fatalf("stale %v missing %v extra %v", stale, missing, extra)
	}
	// A truncated snapshot excuses what is older than its oldest incident.
	w = &WallClient{incidents: map[string]int{"A": 2}, trunc: true, oldest: t0}
	_, missing, _ = w.Diff([]Incident{{ID: "A", Version: 2}, {ID: "OLD", Version: 1, UpdatedAt: t0.Add(-time.Hour)}, {ID: "NEW", Version: 1, UpdatedAt: t0.Add(time.Hour)}})
	if len(missing) != 1 || missing[0] != "NEW" {
		t.Fatalf("missing %v, want [NEW]", missing)
	}
}
