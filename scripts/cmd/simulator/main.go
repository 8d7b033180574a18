// Command simulator feeds a running citybrain with a realistic stream of
// the four sources for the sample city, through the public ingest API. At a
// high rate with several workers it is a load generator: it prints the
// requests sent, accepted and refused, and the acknowledgement latency.
//
//	simulator -url http://127.0.0.1:8080 -rate 2           # make run
//	simulator -rate 2000 -workers 64 -duration 30s         # load
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/citybrain-ioc/citybrain/gis/sample"
	"github.com/citybrain-ioc/citybrain/scripts/simulate"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "simulator:", err)
		os.Exit(1)
	}
}

func run() error {
	url := flag.String("url", "http://127.0.0.1:8080", "base URL of citybrain")
	rate := flag.Float64("rate", 2, "records per second")
	duration := flag.Duration("duration", 0, "stop after this long (0 = until interrupted)")
	count := flag.Int("count", 0, "stop after this many records (0 = no limit)")
	workers := flag.Int("workers", 4, "concurrent requests")
	seed := flag.Uint64("seed", uint64(time.Now().UnixNano()), "random seed")
	wait := flag.Duration("wait", 2*time.Minute, "wait this long for /readyz before sending")
	quiet := flag.Bool("quiet", false, "print only the summary")
	staff := flag.Int("staff", 0, "also play the dispatcher and the demo workers: move up to this many cases one step every 3 s (0 = off)")
	fleet := flag.Int("fleet", 0, "also move this many grid workers of the demo roster (gw-<grid code>) along their grid cells, reporting positions every -fleet-every (0 = off)")
	fleetEvery := flag.Duration("fleet-every", 3*time.Second, "how often the patrol fleet reports its positions")
	flag.Parse()

	city, err := sample.Load()
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *duration)
		defer cancel()
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: *workers * 2}}
	if err := waitReady(ctx, client, *url, *wait); err != nil {
		return err
	}
	gen := simulate.New(city, *seed, simulate.DefaultMix, strconv.FormatUint(*seed%100000, 36))
	if *staff > 0 {
		st, err := simulate.NewStaff(ctx, *url, client, *staff, *seed)
		if err != nil {
			return err
		}
		go func() {
			t := time.NewTicker(3 * time.Second)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
					if err := st.Tick(ctx); err != nil && !*quiet {
						fmt.Fprintln(os.Stderr, "staff:", err)
					}
				}
			}
		}()
	}
	if *fleet > 0 {
		fl, err := simulate.NewFleet(ctx, *url, client, city, *fleet, *seed)
		if err != nil {
			return err
		}
		go func() {
			t := time.NewTicker(*fleetEvery)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
					if err := fl.Tick(ctx); err != nil && !*quiet && ctx.Err() == nil {
						fmt.Fprintln(os.Stderr, "fleet:", err)
					}
				}
			}
		}()
	}

	jobs := make(chan simulate.Record, *workers)
	var sent, accepted, refused, failed atomic.Int64
	var mu sync.Mutex
	var lat []time.Duration
	var wg sync.WaitGroup
	for range *workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for rec := range jobs {
				b, _ := json.Marshal(rec.Body)
				start := time.Now()
				// In-flight requests finish even after -duration ends: a record handed to
				// the server is counted, not abandoned.
				status, reason, err := post(context.WithoutCancel(ctx), client, *url+"/api/v1/ingest/"+rec.Source, b)
				d := time.Since(start)
				sent.Add(1)
				switch {
				case err != nil:
					failed.Add(1)
					if !*quiet && ctx.Err() == nil {
						fmt.Fprintln(os.Stderr, "post:", err)
					}
				case status == http.StatusAccepted:
					accepted.Add(1)
					mu.Lock()
					lat = append(lat, d)
					mu.Unlock()
				default:
					refused.Add(1)
					if !*quiet {
						fmt.Fprintf(os.Stderr, "%s: HTTP %d %s\n", rec.Source, status, reason)
					}
				}
			}
		}()
	}
	start := time.Now()
	interval := time.Duration(float64(time.Second) / *rate)
	next := time.Now()
	n := 0
loop:
	for *count == 0 || n < *count {
		if d := time.Until(next); d > 0 {
			select {
			case <-ctx.Done():
				break loop
			case <-time.After(d):
			}
		}
		next = next.Add(interval)
		select {
		case <-ctx.Done():
			break loop
		case jobs <- gen.Next(time.Now()):
			n++
		}
	}
	close(jobs)
	wg.Wait()
	el := time.Since(start)
	slices.Sort(lat)
	pct := func(p float64) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		return lat[min(len(lat)-1, int(float64(len(lat))*p))]
	}
	fmt.Printf("simulator: sent=%d accepted=%d refused=%d failed=%d in %.1fs (%.0f/s); ack latency p50=%v p99=%v max=%v\n",
		sent.Load(), accepted.Load(), refused.Load(), failed.Load(), el.Seconds(), float64(sent.Load())/el.Seconds(),
		pct(0.50).Round(10*time.Microsecond), pct(0.99).Round(10*time.Microsecond), pct(1).Round(10*time.Microsecond))
	if refused.Load()+failed.Load() > 0 && *count > 0 {
		return errors.New("some records were not accepted")
	}
	return nil
}

func post(ctx context.Context, c *http.Client, url string, body []byte) (int, string, error) {
	for attempt := 0; ; attempt++ {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := c.Do(req)
		if err == nil {
			reason, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
			_ = resp.Body.Close()
			// 503: not stored, retry (the server said so); 429: slow down.
			if (resp.StatusCode == 503 || resp.StatusCode == 429) && attempt < 5 {
				time.Sleep(time.Duration(200*(attempt+1)) * time.Millisecond)
				continue
			}
			return resp.StatusCode, string(reason), nil
		}
		if attempt >= 3 || ctx.Err() != nil {
			return 0, "", err
		}
		time.Sleep(time.Duration(200*(attempt+1)) * time.Millisecond)
	}
}

func waitReady(ctx context.Context, c *http.Client, url string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url+"/readyz", nil)
		resp, err := c.Do(req)
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("%s/readyz did not answer 200 within %v", url, limit)
		}
		time.Sleep(500 * time.Millisecond)
	}
}
