package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/citybrain-ioc/citybrain/gis/sample"
)

// With Batch, the load sends arrays of one source's records, none larger
// than Batch, and records an acknowledgement for every record.
func TestLoadBatches(t *testing.T) {
	city, err := sample.Load()
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	sizes := map[string][]int{}
	n := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var items []json.RawMessage
		if err := json.Unmarshal(b, &items); err != nil {
			items = []json.RawMessage{b} // one object
		}
		src := strings.TrimPrefix(r.URL.Path, "/api/v1/ingest/")
		mu.Lock()
		sizes[src] = append(sizes[src], len(items))
		var acc []map[string]any
		for range items {
			n++
			acc = append(acc, map[string]any{"id": fmt.Sprintf("EV-%d", n)})
		}
		mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
		_ = json.NewEncoder(w).Encode(map[string]any{"accepted": acc})
	}))
	defer srv.Close()

	l := &Load{Ingest: []string{srv.URL}, Rate: 2000, Workers: 4, City: city, Refs: "t", Batch: 25, Linger: 10 * time.Millisecond}
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	l.Run(ctx)
	st := l.Stats()
	if st.Sent == 0 || st.Accepted != st.Sent || len(l.Acks()) != int(st.Sent) {
		t.Fatalf("%v, %d acks", st, len(l.Acks()))
	}
	arrays := 0
	for src, ss := range sizes {
		for _, s := range ss {
			if s > 25 {
				t.Fatalf("%s: a request of %d records", src, s)
			}
			if s > 1 {
				arrays++
			}
		}
	}
	if len(sizes) < 3 || arrays == 0 {
		t.Fatalf("requests by source: %v", sizes)
	}
}
