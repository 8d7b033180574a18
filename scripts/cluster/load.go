package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/citybrain-ioc/citybrain/gis"
	"github.com/citybrain-ioc/citybrain/scripts/simulate"
)

// Ack is one report the cluster acknowledged (HTTP 202 with its event id).
type Ack struct {
	ID    string
	Sent  time.Time // the first POST of the record began
	Acked time.Time // the 202 arrived
}

// Load sends the simulator's mix through the ingest instances at a steady
// rate, round robin, and records every acknowledged id. A record that gets
// 503, 429 or no answer is sent again (same body: intake is idempotent by
// source reference, so a resend of something that did land answers the
// same id) until RetryFor has passed; then it counts as failed, never as
// acknowledged.
type Load struct {
	Ingest   []string      // base URLs of the ingest instances
	Rate     float64       // records per second
	Workers  int           // concurrent requests
	RetryFor time.Duration // how long one record is retried (default 60 s)
	City     *gis.City
	Seed     uint64
	Refs     string // distinguishes this run's source references
	// Batch > 1 sends arrays of up to Batch records of one source per
	// request (as a call centre's or a traffic system's feed does; intake
	// takes up to 500), each sent when full or Linger after its first
	// record. Sent is then the start of the request that carried it.
	Batch  int
	Linger time.Duration // default 20 ms

	sent, accepted, duplicate, refused, failed, retries atomic.Int64

	mu       sync.Mutex
	acks     []Ack
	problems map[string]int // refusal and failure reasons, counted
}

// LoadStats are the counters of a load.
type LoadStats struct {
	Sent, Accepted, Duplicate, Refused, Failed, Retries int64
	Problems                                            map[string]int
}

func (s LoadStats) String() string {
	return fmt.Sprintf("sent=%d acknowledged=%d (of which duplicate=%d) refused=%d failed=%d retries=%d",
		s.Sent, s.Accepted, s.Duplicate, s.Refused, s.Failed, s.Retries)
}

// Stats returns the counters so far.
func (l *Load) Stats() LoadStats {
	l.mu.Lock()
	p := make(map[string]int, len(l.problems))
	for k, v := range l.problems {
		p[k] = v
	}
	l.mu.Unlock()
	return LoadStats{Sent: l.sent.Load(), Accepted: l.accepted.Load(), Duplicate: l.duplicate.Load(),
		Refused: l.refused.Load(), Failed: l.failed.Load(), Retries: l.retries.Load(), Problems: p}
}

// Acks returns a copy of the acknowledgements so far, in order of arrival.
func (l *Load) Acks() []Ack {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Ack(nil), l.acks...)
}

// AckLatency returns the p-quantile (0…1) of Sent→Acked.
func AckLatency(acks []Ack, p float64) time.Duration {
	if len(acks) == 0 {
		return 0
	}
	d := make([]time.Duration, len(acks))
	for i, a := range acks {
		d[i] = a.Acked.Sub(a.Sent)
	}
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	return d[min(len(d)-1, int(float64(len(d))*p))]
}

// Run sends until ctx ends, then waits for the requests in flight (their
// answers are still recorded).
func (l *Load) Run(ctx context.Context) {
	if l.Workers <= 0 {
		l.Workers = 8
	}
	if l.RetryFor <= 0 {
		l.RetryFor = time.Minute
	}
	l.mu.Lock()
	if l.problems == nil {
		l.problems = map[string]int{}
	}
	l.mu.Unlock()
	client := &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{
		MaxIdleConnsPerHost: l.Workers * 2, MaxConnsPerHost: l.Workers * 2, IdleConnTimeout: 30 * time.Second,
	}}
	defer client.CloseIdleConnections()
	gen := simulate.New(l.City, l.Seed, simulate.DefaultMix, l.Refs)
	jobs := make(chan []simulate.Record, l.Workers)
	var wg sync.WaitGroup
	var rr atomic.Uint64
	for range l.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for recs := range jobs {
				l.send(client, &rr, recs)
			}
		}()
	}
	linger := l.Linger
	if linger <= 0 {
		linger = 20 * time.Millisecond
	}
	pending := map[string][]simulate.Record{} // by source, Batch > 1 only
	since := map[string]time.Time{}
	// flush hands over the records of sources that are full (or all, or
	// those waiting longer than linger); false when ctx ended.
	flush := func(all bool) bool {
		for src, recs := range pending {
			due := all || len(recs) >= l.Batch || time.Since(since[src]) >= linger
			if len(recs) == 0 || !due {
				continue
			}
			select {
			case <-ctx.Done():
				return false
			case jobs <- recs:
			}
			pending[src] = nil
		}
		return true
	}
	interval := time.Duration(float64(time.Second) / l.Rate)
	next := time.Now()
loop:
	for {
		if d := time.Until(next); d > 0 {
			select {
			case <-ctx.Done():
				break loop
			case <-time.After(d):
			}
		}
		next = next.Add(interval)
		if behind := time.Since(next); behind > time.Second {
			next = time.Now() // blocked by back-pressure: do not burst to catch up
		}
		rec := gen.Next(time.Now())
		if l.Batch <= 1 {
			select {
			case <-ctx.Done():
				break loop
			case jobs <- []simulate.Record{rec}:
			}
			continue
		}
		if len(pending[rec.Source]) == 0 {
			since[rec.Source] = time.Now()
		}
		pending[rec.Source] = append(pending[rec.Source], rec)
		if !flush(false) {
			break loop
		}
	}
	if l.Batch > 1 {
		flush(true) // what was generated before the end goes out (ctx may have ended: then not)
	}
	close(jobs)
	wg.Wait()
}

func (l *Load) problem(reason string) {
	l.mu.Lock()
	l.problems[reason]++
	l.mu.Unlock()
}

// send posts records (of one source: one object, or an array) until they
// are answered for good.
func (l *Load) send(client *http.Client, rr *atomic.Uint64, recs []simulate.Record) {
	payload := any(recs[0].Body) // one object, or an array of several
	if len(recs) > 1 {
		bodies := make([]any, len(recs))
		for i, r := range recs {
			bodies[i] = r.Body
		}
		payload = bodies
	}
	body, err := json.Marshal(payload)
	n := int64(len(recs))
	if err != nil {
		l.failed.Add(n)
		l.problem("encode: " + err.Error())
		return
	}
	l.sent.Add(n)
	start := time.Now()
	backoff := 100 * time.Millisecond
	for attempt := 0; ; attempt++ {
		base := l.Ingest[rr.Add(1)%uint64(len(l.Ingest))]
		status, ans, err := post(client, base+"/api/v1/ingest/"+recs[0].Source, body)
		switch {
		case err == nil && status == http.StatusAccepted && len(ans.Accepted) == len(recs) && ans.complete():
			now := time.Now()
			l.accepted.Add(n)
			l.mu.Lock()
			for _, a := range ans.Accepted {
				if a.Duplicate {
					l.duplicate.Add(1) // a resend of a record that had landed: same id
				}
				l.acks = append(l.acks, Ack{ID: a.ID, Sent: start, Acked: now})
			}
			l.mu.Unlock()
			return
		case err == nil && status != http.StatusServiceUnavailable && status != http.StatusTooManyRequests && status < 500:
			l.refused.Add(n)
			l.problem(fmt.Sprintf("HTTP %d %s", status, ans.Error))
			return
		}
		reason := "HTTP " + strconv.Itoa(status)
		if err != nil {
			reason = "transport error"
		}
		if time.Since(start) > l.RetryFor {
			l.failed.Add(n)
			l.problem("gave up after " + reason)
			return
		}
		l.retries.Add(1)
		time.Sleep(backoff)
		backoff = min(backoff*2, 2*time.Second)
	}
}

type ingestAnswer struct {
	Accepted []struct {
		ID        string `json:"id"`
		Duplicate bool   `json:"duplicate"`
	} `json:"accepted"`
	Error string `json:"error"`
}

// complete reports whether every record got an id.
func (a ingestAnswer) complete() bool {
	for _, x := range a.Accepted {
		if x.ID == "" {
			return false
		}
	}
	return true
}

func post(client *http.Client, url string, body []byte) (int, ingestAnswer, error) {
	var ans ingestAnswer
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return 0, ans, err
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return resp.StatusCode, ans, err
	}
	_ = json.Unmarshal(b, &ans)
	return resp.StatusCode, ans, nil
}
