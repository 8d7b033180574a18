// Command ingestbench measures intake latency: HTTP request → Kafka
// acknowledgement → 202, at a fixed request rate (open loop: latency is
// measured from each request's scheduled time, so a stall is not hidden by
// fewer requests being sent). The baseline, measured in the same run at the
// same rate, is GET /livez: the HTTP stack without intake or Kafka.
//
//	ingestbench -start bin/citybrain -rate 2000 -duration 20s
//	ingestbench -start bin/citybrain -isolated -rate 2000
//	ingestbench -url http://127.0.0.1:8080 -rate 2000
//
// -start runs the binary all-in-one: intake shares the two cores with the
// whole pipeline consuming what it accepts. -isolated measures the ingest
// target on its own, as deployed (DESIGN.md: one process per target): a
// `citybrain servers` process (the embedded Kafka-protocol broker and
// Redis) and a `citybrain -target=ingest` process; nothing consumes.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/citybrain-ioc/citybrain/gis/sample"
	"github.com/citybrain-ioc/citybrain/scripts/simulate"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "ingestbench:", err)
		os.Exit(1)
	}
}

func run() error {
	url := flag.String("url", "", "base URL of a running citybrain")
	start := flag.String("start", "", "start this citybrain binary (all-in-one, embedded broker, fresh data dir) instead of -url")
	rate := flag.Float64("rate", 2000, "requests per second")
	duration := flag.Duration("duration", 20*time.Second, "length of each phase")
	workers := flag.Int("workers", 256, "maximum requests in flight")
	isolated := flag.Bool("isolated", false, "with -start: the ingest target alone, on a separate broker process")
	flag.Parse()

	if *start != "" {
		starter := startServer
		if *isolated {
			starter = startIsolated
		}
		stop, base, err := starter(*start)
		if err != nil {
			return err
		}
		defer stop()
		*url = base
	}
	if *url == "" {
		return fmt.Errorf("give -url or -start")
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: *workers, MaxConnsPerHost: *workers}}
	if err := waitReady(client, *url); err != nil {
		return err
	}
	city, err := sample.Load()
	if err != nil {
		return err
	}
	gen := simulate.New(city, 42, simulate.DefaultMix, fmt.Sprint(time.Now().Unix()%100000))
	// Warm up connections and the pipeline.
	phase(client, *rate/4, 2*time.Second, *workers, func() (*http.Request, int) { return get(*url + "/livez") })

	base := phase(client, *rate, *duration, *workers, func() (*http.Request, int) { return get(*url + "/livez") })
	var mu sync.Mutex
	ingest := phase(client, *rate, *duration, *workers, func() (*http.Request, int) {
		mu.Lock()
		rec := gen.Next(time.Now())
		mu.Unlock()
		b, _ := json.Marshal(rec.Body)
		req, _ := http.NewRequest(http.MethodPost, *url+"/api/v1/ingest/"+rec.Source, bytes.NewReader(b))
		req.Header.Set("Content-Type", "application/json")
		return req, http.StatusAccepted
	})
	fmt.Printf("rate %.0f req/s, %v per phase, open loop\n", *rate, *duration)
	fmt.Println(base.line("baseline GET /livez"))
	fmt.Println(ingest.line("ingest POST → Kafka ack"))
	fmt.Printf("ingest p99 / baseline p99 = %.1f×; lost (not acknowledged) = %d\n", float64(ingest.p(0.99))/float64(max(base.p(0.99), 1)), ingest.failed)
	return nil
}

type result struct {
	why          map[string]int
	sent, failed int64
	lat          []time.Duration
	elapsed      time.Duration
}

func (r result) p(q float64) time.Duration {
	if len(r.lat) == 0 {
		return 0
	}
	return r.lat[min(len(r.lat)-1, int(float64(len(r.lat))*q))]
}

func (r result) line(name string) string {
	return fmt.Sprintf("%-26s sent=%d ok=%d failed=%d%v achieved=%.0f/s p50=%v p90=%v p99=%v max=%v", name, r.sent, len(r.lat), r.failed, r.why,
		float64(r.sent)/r.elapsed.Seconds(), r.p(0.5).Round(10*time.Microsecond), r.p(0.9).Round(10*time.Microsecond),
		r.p(0.99).Round(10*time.Microsecond), r.p(1).Round(10*time.Microsecond))
}

// phase sends requests at rate for d, each timed from its scheduled start.
func phase(c *http.Client, rate float64, d time.Duration, workers int, next func() (*http.Request, int)) result {
	interval := time.Duration(float64(time.Second) / rate)
	type job struct {
		req  *http.Request
		want int
		at   time.Time
	}
	jobs := make(chan job, workers*4)
	var mu sync.Mutex
	var r result
	var failed atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				resp, err := c.Do(j.req)
				lat := time.Since(j.at)
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					_ = resp.Body.Close()
				}
				if err != nil || resp.StatusCode != j.want {
					failed.Add(1)
					why := "transport error"
					if err == nil {
						why = resp.Status
					}
					mu.Lock()
					if r.why == nil {
						r.why = map[string]int{}
					}
					r.why[why]++
					mu.Unlock()
					continue
				}
				mu.Lock()
				r.lat = append(r.lat, lat)
				mu.Unlock()
			}
		}()
	}
	start := time.Now()
	for i := 0; ; i++ {
		at := start.Add(time.Duration(i) * interval)
		if at.Sub(start) >= d {
			break
		}
		if w := time.Until(at); w > 0 {
			time.Sleep(w)
		}
		req, want := next()
		jobs <- job{req, want, at}
		r.sent++
	}
	close(jobs)
	wg.Wait()
	r.elapsed = time.Since(start)
	r.failed = failed.Load()
	slices.Sort(r.lat)
	return r
}

func get(url string) (*http.Request, int) {
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	return req, http.StatusOK
}

func waitReady(c *http.Client, url string) error {
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(300 * time.Millisecond) {
		if resp, err := c.Get(url + "/readyz"); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
	}
	return fmt.Errorf("%s/readyz not ready", url)
}

// startServer runs the binary all-in-one on a free port with a fresh data
// directory and no intake rate limit.
func startServer(bin string) (func(), string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", err
	}
	addr := l.Addr().String()
	_ = l.Close()
	dir, err := os.MkdirTemp("", "ingestbench")
	if err != nil {
		return nil, "", err
	}
	cmd := exec.CommandContext(context.Background(), bin, "-target=all")
	cmd.Env = append(os.Environ(), "HTTP_ADDR="+addr, "DATA_DIR="+dir, "LOG_LEVEL=error", "INGEST_RATE_PER_MINUTE=100000000", "KAFKA_BROKERS=", "REDIS_ADDR=")
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, "", err
	}
	return func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
		_ = os.RemoveAll(dir)
	}, "http://" + addr, nil
}

// startIsolated runs `citybrain servers` and `citybrain -target=ingest`
// against it, on free ports with a fresh data directory.
func startIsolated(bin string) (func(), string, error) {
	dir, err := os.MkdirTemp("", "ingestbench")
	if err != nil {
		return nil, "", err
	}
	srv := exec.Command(bin, "servers")
	srv.Env = append(os.Environ(), "DATA_DIR="+dir, "LOG_LEVEL=error", "KAFKA_BROKERS=", "REDIS_ADDR=")
	srv.Stderr = os.Stderr
	out, err := srv.StdoutPipe()
	if err != nil {
		return nil, "", err
	}
	if err := srv.Start(); err != nil {
		return nil, "", err
	}
	stopSrv := func() { _ = srv.Process.Signal(os.Interrupt); _ = srv.Wait(); _ = os.RemoveAll(dir) }
	env := map[string]string{}
	sc := bufio.NewScanner(out)
	for len(env) < 2 && sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			env[k] = v
		}
	}
	if env["KAFKA_BROKERS"] == "" || env["REDIS_ADDR"] == "" {
		stopSrv()
		return nil, "", fmt.Errorf("citybrain servers printed no addresses")
	}
	go func() { _, _ = io.Copy(io.Discard, out) }()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		stopSrv()
		return nil, "", err
	}
	addr := l.Addr().String()
	_ = l.Close()
	ing := exec.Command(bin, "-target=ingest")
	ing.Env = append(os.Environ(), "HTTP_ADDR="+addr, "DATA_DIR="+dir, "LOG_LEVEL=error", "INGEST_RATE_PER_MINUTE=100000000",
		"KAFKA_BROKERS="+env["KAFKA_BROKERS"], "REDIS_ADDR="+env["REDIS_ADDR"])
	ing.Stderr = os.Stderr
	if err := ing.Start(); err != nil {
		stopSrv()
		return nil, "", err
	}
	return func() {
		_ = ing.Process.Signal(os.Interrupt)
		_ = ing.Wait()
		stopSrv()
	}, "http://" + addr, nil
}
