package cluster

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/citybrain-ioc/citybrain/gis"
	"github.com/citybrain-ioc/citybrain/scripts/simulate"
	"github.com/citybrain-ioc/citybrain/services/auth"
)

// PositionLoad is a fleet of grid workers' phones reporting their
// positions (POST /api/v1/workers/position) at a steady rate in all, round
// robin over the phones: the demo roster's accounts (gw-<grid code>), one a
// cell, each at a fresh random point of its cell every time, so that the
// wall frame carrying a position can be told apart (PositionKey).
type PositionLoad struct {
	API     []string // base URLs of api instances
	Phones  int      // roster accounts to log in (≤ the city's cells)
	Rate    float64  // positions per second in all
	Workers int      // concurrent requests
	City    *gis.City
	Seed    uint64

	phones []phone
	r      *rand.Rand
	client *http.Client

	accepted, refused, failed atomic.Int64
	mu                        sync.Mutex
	sent                      []PositionSent
	problems                  map[string]int
}

type phone struct{ id, cell, token string }

// PositionSent is one position the API accepted (HTTP 200).
type PositionSent struct {
	Worker string
	Key    string    // PositionKey of the position sent
	Sent   time.Time // the POST began
}

// PositionKey names one reported position: the worker and its coordinates
// to the micro-degree (what the wall gets back for WGS-84 input).
func PositionKey(worker string, lon, lat float64) string {
	return fmt.Sprintf("%s@%.6f,%.6f", worker, lon, lat)
}

// Login logs the phones in (concurrently; the roster's passwords are the
// demo workers').
func (l *PositionLoad) Login(ctx context.Context) error {
	if l.Workers <= 0 {
		l.Workers = 32
	}
	l.client = &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{
		MaxIdleConnsPerHost: l.Workers * 2, MaxConnsPerHost: l.Workers * 2, IdleConnTimeout: 30 * time.Second,
	}}
	l.r = rand.New(rand.NewPCG(l.Seed, l.Seed^0x51ed27))
	cells := simulate.PickCells(l.City, l.Phones)
	l.phones = make([]phone, len(cells))
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	sem := make(chan struct{}, 16)
	for i, c := range cells {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			id := "gw-" + c
			var out struct{ Token string }
			err := simulate.Call(ctx, l.client, l.API[i%len(l.API)], "", http.MethodPost, "/api/v1/auth/login",
				map[string]string{"username": id, "password": auth.DemoWorkerPassword}, &out)
			if err == nil && out.Token == "" {
				err = errors.New("no token in the answer")
			}
			if err != nil {
				mu.Lock()
				if first == nil {
					first = fmt.Errorf("login %s: %w (is the grid roster on: DEMO_ACCOUNTS?)", id, err)
				}
				mu.Unlock()
				return
			}
			l.phones[i] = phone{id: id, cell: c, token: out.Token}
		}()
	}
	wg.Wait()
	return first
}

// Run sends positions until ctx ends, then waits for the requests in flight.
func (l *PositionLoad) Run(ctx context.Context) {
	if len(l.phones) == 0 {
		return
	}
	l.mu.Lock()
	if l.problems == nil {
		l.problems = map[string]int{}
	}
	l.mu.Unlock()
	type job struct {
		p        phone
		lon, lat float64
		api      string
	}
	jobs := make(chan job, l.Workers)
	var wg sync.WaitGroup
	for range l.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				body := map[string]any{"lon": j.lon, "lat": j.lat, "crs": "wgs84", "on_duty": true}
				start := time.Now()
				err := simulate.Call(context.WithoutCancel(ctx), l.client, j.api, j.p.token, http.MethodPost, "/api/v1/workers/position", body, nil)
				switch st := simulate.Status(err); {
				case err == nil:
					l.accepted.Add(1)
					l.mu.Lock()
					l.sent = append(l.sent, PositionSent{Worker: j.p.id, Key: PositionKey(j.p.id, j.lon, j.lat), Sent: start})
					l.mu.Unlock()
				case st != 0:
					l.refused.Add(1)
					l.problem(fmt.Sprintf("HTTP %d", st))
				default:
					l.failed.Add(1)
					l.problem(err.Error())
				}
			}
		}()
	}
	tick := time.Second / 100
	per := l.Rate / 100
	t := time.NewTicker(tick)
	defer t.Stop()
	var due float64
	n := 0
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-t.C:
		}
		for due += per; due >= 1; due-- {
			p := l.phones[n%len(l.phones)]
			pt, _ := l.City.RandomPointIn(p.cell, l.r)
			select {
			case jobs <- job{p: p, lon: round6(pt[0]), lat: round6(pt[1]), api: l.API[n%len(l.API)]}:
				n++
			case <-ctx.Done():
				break loop
			}
		}
	}
	close(jobs)
	wg.Wait()
	l.client.CloseIdleConnections()
}

func round6(x float64) float64 { return math.Round(x*1e6) / 1e6 }

func (l *PositionLoad) problem(reason string) {
	l.mu.Lock()
	l.problems[reason]++
	l.mu.Unlock()
}

// Sent returns the accepted positions in order of their answers.
func (l *PositionLoad) Sent() []PositionSent {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]PositionSent(nil), l.sent...)
}

// Counts returns accepted, refused and failed requests, and the reasons.
func (l *PositionLoad) Counts() (accepted, refused, failed int64, problems map[string]int) {
	l.mu.Lock()
	p := make(map[string]int, len(l.problems))
	for k, v := range l.problems {
		p[k] = v
	}
	l.mu.Unlock()
	return l.accepted.Load(), l.refused.Load(), l.failed.Load(), p
}

// PositionLatency is what a wall saw of a position load.
type PositionLatency struct {
	Seen, Superseded, Missing int
	P50, P99, Max             time.Duration
}

// PositionLatencies matches the positions sent with the wall's frames
// (seen: PositionKey → first seen). A position the wall never got because
// its worker reported again before the next positions message (the
// gateway sends each worker's latest, once a second) is superseded, not
// missing.
func PositionLatencies(sent []PositionSent, seen *Seen) PositionLatency {
	sort.Slice(sent, func(i, j int) bool { return sent[i].Sent.Before(sent[j].Sent) })
	lastOf := map[string]time.Time{}
	for _, s := range sent {
		lastOf[s.Worker] = s.Sent
	}
	var out PositionLatency
	var lat []time.Duration
	for _, s := range sent {
		at, ok := seen.At(s.Key)
		switch {
		case ok:
			lat = append(lat, at.Sub(s.Sent))
		case lastOf[s.Worker].After(s.Sent):
			out.Superseded++
		default:
			out.Missing++
		}
	}
	out.Seen = len(lat)
	if len(lat) == 0 {
		return out
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	q := func(p float64) time.Duration { return lat[min(len(lat)-1, int(float64(len(lat))*p))] }
	out.P50, out.P99, out.Max = q(.5), q(.99), lat[len(lat)-1]
	return out
}
