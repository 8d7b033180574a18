package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/citybrain-ioc/citybrain/gis"
	"github.com/citybrain-ioc/citybrain/scripts/cluster"
)

// allInOne is one `citybrain -target=all` process: the embedded
// Kafka-protocol broker (kfake) and Redis (miniredis) inside it, every
// target on one HTTP port.
type allInOne struct {
	cmd   *exec.Cmd
	url   string
	pprof string // base URL of its pprof server ("" = not asked for)
	dir   string
	logf  *os.File
	redis *externalRedis // nil: the embedded one
}

// externalRedis is a real Redis server that the process uses instead of
// its embedded one (-redis), under a key prefix of its own.
type externalRedis struct {
	rdb    *redis.Client
	prefix string
}

// useRedis connects to addr and picks a fresh key prefix.
func useRedis(ctx context.Context, addr string) (*externalRedis, error) {
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	if err := rdb.Ping(ctx).Err(); err != nil {
		_ = rdb.Close()
		return nil, fmt.Errorf("redis %s: %w", addr, err)
	}
	return &externalRedis{rdb: rdb, prefix: fmt.Sprintf("bench%d:", time.Now().UnixNano())}, nil
}

// drop deletes the run's keys and closes the client.
func (r *externalRedis) drop(ctx context.Context) {
	it := r.rdb.Scan(ctx, 0, r.prefix+"*", 1000).Iterator()
	var keys []string
	flush := func() {
		if len(keys) > 0 {
			_ = r.rdb.Unlink(ctx, keys...).Err()
			keys = keys[:0]
		}
	}
	for it.Next(ctx) {
		if keys = append(keys, it.Val()); len(keys) == 1000 {
			flush()
		}
	}
	flush()
	_ = r.rdb.Close()
}

// startAllInOne runs the binary on free loopback ports with a fresh
// DATA_DIR under dir, no simulator and no intake rate limit; with
// redisAddr, on that Redis instead of the embedded one.
func startAllInOne(ctx context.Context, bin, dir string, pprof bool, redisAddr string) (*allInOne, error) {
	if bin == "" {
		root, err := cluster.FindRoot()
		if err != nil {
			return nil, err
		}
		bin = filepath.Join(root, "bin/citybrain")
	}
	if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("%s: %w (make build, or give -bin)", bin, err)
	}
	data, err := os.MkdirTemp(dir, "allinone-")
	if err != nil {
		return nil, err
	}
	a := &allInOne{dir: data}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	a.url = "http://" + addr
	env := append(os.Environ(), "HTTP_ADDR="+addr, "DATA_DIR="+data, "LOG_LEVEL=warn",
		"INGEST_RATE_PER_MINUTE=100000000", "KAFKA_BROKERS=", "REDIS_ADDR=", "PPROF=")
	if redisAddr != "" {
		if a.redis, err = useRedis(ctx, redisAddr); err != nil {
			return nil, err
		}
		env = append(env, "REDIS_ADDR="+redisAddr, "REDIS_PREFIX="+a.redis.prefix)
	}
	if pprof {
		paddr, err := freeAddr()
		if err != nil {
			return nil, err
		}
		a.pprof = "http://" + paddr
		env = append(env, "PPROF="+paddr)
	}
	if a.logf, err = os.Create(filepath.Join(data, "citybrain.log")); err != nil {
		return nil, err
	}
	a.cmd = exec.Command(bin, "-target=all")
	a.cmd.Env = env
	a.cmd.Stdout, a.cmd.Stderr = a.logf, a.logf
	if err := a.cmd.Start(); err != nil {
		return nil, err
	}
	if err := waitReady(ctx, a.url, 2*time.Minute); err != nil {
		a.Stop()
		return nil, fmt.Errorf("%w (log: %s)", err, a.logf.Name())
	}
	return a, nil
}

// Stop ends the process (SIGINT: it flushes and closes the broker) and
// removes its data.
func (a *allInOne) Stop() {
	if a.cmd != nil && a.cmd.Process != nil {
		_ = a.cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = a.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = a.cmd.Process.Kill()
			<-done
		}
	}
	if a.logf != nil {
		_ = a.logf.Close()
	}
	if a.redis != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		a.redis.drop(ctx)
		cancel()
	}
	_ = os.RemoveAll(a.dir)
}

// URLs: every target is served by the one process.
func (a *allInOne) URLs(string) []string { return []string{a.url} }

// CPU is the process's CPU time, this benchmark's own (load generator
// and wall clients) and, with -redis, the Redis server's (all of it: keep
// other clients off it while measuring).
func (a *allInOne) CPU(ctx context.Context) map[string]float64 {
	cpu := map[string]float64{"citybrain": procCPU(a.cmd.Process.Pid), "bench": procCPU(os.Getpid())}
	if a.redis != nil {
		cpu["redis"] = cluster.RedisCPU(ctx, a.redis.rdb)
	}
	return cpu
}

func (a *allInOne) CPUNames() []string {
	if a.redis != nil {
		return []string{"citybrain", "redis", "bench"}
	}
	return []string{"citybrain", "bench"}
}

// Profile takes a CPU profile of d into path.
func (a *allInOne) Profile(ctx context.Context, d time.Duration, path string) error {
	if a.pprof == "" {
		return fmt.Errorf("pprof not enabled")
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", a.pprof, int(d.Seconds())), nil)
	resp, err := (&http.Client{Timeout: d + time.Minute}).Do(req)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("profile: HTTP %d", resp.StatusCode)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer func() { _ = l.Close() }()
	return l.Addr().String(), nil
}

func waitReady(ctx context.Context, url string, limit time.Duration) error {
	for deadline := time.Now().Add(limit); time.Now().Before(deadline); time.Sleep(300 * time.Millisecond) {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if resp, err := http.Get(url + "/readyz"); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
	}
	return fmt.Errorf("%s/readyz not ready after %v", url, limit)
}

// clusterSystem adapts a cluster.sh run to what the phases need.
type clusterSystem struct{ *cluster.Cluster }

func (c clusterSystem) CPU(ctx context.Context) map[string]float64 { return cpuSeconds(ctx, c.Cluster) }
func (c clusterSystem) CPUNames() []string {
	return append(append([]string{}, cluster.Targets...), "kafka", "redis", "bench")
}

// tagsReport runs `go tool pprof -tags` on a profile: the CPU by the
// pprof labels the services set (consumer group, embedded server).
func tagsReport(path string) string {
	out, err := exec.Command("go", "tool", "pprof", "-tags", path).CombinedOutput()
	if err != nil {
		return fmt.Sprintf("(go tool pprof -tags: %v)", err)
	}
	return strings.TrimSpace(string(out))
}

// sweepPoint is one rate of the latency sweep.
type sweepPoint struct {
	rate float64
	lat  phase
	err  error
}

// keptUp: the open loop got (nearly) all its reports acknowledged and
// on the screen within seconds — beyond that the queue only grows.
func (p sweepPoint) keptUp() bool {
	return p.err == nil && p.lat.sent >= 0.9*p.rate && p.lat.p99 <= 5*time.Second
}

// benchAllInOne measures one all-in-one process: the throughput and
// latency phases of the cluster benchmark, the CPU of the process per
// 1,000 reports, then the latency sweep.
// startWithWall starts the all-in-one process of o and a wall client that
// records in reports and positions (nil: not recorded) when it saw them; stop
// ends both.
func startWithWall(ctx context.Context, o opts, reports, positions *cluster.Seen) (*allInOne, func(), error) {
	what := "embedded broker and Redis"
	if o.redis != "" {
		what = "embedded broker, the Redis at " + o.redis
	}
	fmt.Printf("bench: starting citybrain -target=all (%s, fresh DATA_DIR under %s)\n", what, o.dir)
	a, err := startAllInOne(ctx, o.bin, o.dir, o.pprof != "", o.redis)
	if err != nil {
		return nil, nil, err
	}
	stopWall := followWalls(ctx, a, 1, reports, positions)
	return a, func() { stopWall(); a.Stop() }, nil
}

func benchAllInOne(ctx context.Context, o opts, city *gis.City) error {
	load0 := loadavg()
	seen := cluster.NewSeen()
	a, stop, err := startWithWall(ctx, o, seen, nil)
	if err != nil {
		return err
	}
	defer stop()

	if _, err := throughput(ctx, a, seen, city, o.workers, 10*time.Second, o.drain, "W"); err != nil {
		return fmt.Errorf("warm-up: %w", err)
	}
	var tps, lats []phase
	for i := range o.runs {
		var prof chan error
		if i == 0 && o.pprof != "" {
			prof = make(chan error, 1)
			go func() { prof <- a.Profile(ctx, max(time.Second, o.duration-time.Second), o.pprof) }()
		}
		tp, err := throughput(ctx, a, seen, city, o.workers, o.duration, o.drain, fmt.Sprintf("T%d", i))
		if err != nil {
			return err
		}
		fmt.Printf("bench: run %d throughput: acked %.0f/s, end to end %.0f/s, drained %.1fs after the load; citybrain %.2f CPU s per 1,000 (load average %s)\n",
			i+1, tp.acked, tp.e2e, tp.drain.Seconds(), tp.cpu["citybrain"], loadavg())
		tps = append(tps, tp)
		if prof != nil {
			if err := <-prof; err != nil {
				fmt.Printf("bench: profile: %v\n", err)
				o.pprof = ""
			}
		}
	}
	rate := o.rate
	if rate <= 0 {
		rate = max(1, medianF(tps, func(p phase) float64 { return p.e2e })/2)
	}
	for i := range o.runs {
		lp, err := latency(ctx, seen, a, city, rate, o.duration, fmt.Sprintf("L%d", i))
		if err != nil {
			return err
		}
		fmt.Printf("bench: run %d latency at %.0f/s: p50 %v p99 %v max %v\n", i+1, rate, lp.p50.Round(time.Millisecond), lp.p99.Round(time.Millisecond), lp.max.Round(time.Millisecond))
		lats = append(lats, lp)
	}
	var sweep []sweepPoint
	for i, r := range o.sweep {
		lp, err := latency(ctx, seen, a, city, r, o.duration, fmt.Sprintf("S%d", i))
		pt := sweepPoint{rate: r, lat: lp, err: err}
		sweep = append(sweep, pt)
		if err != nil {
			fmt.Printf("bench: sweep %.0f/s: %v\n", r, err)
		} else {
			fmt.Printf("bench: sweep %.0f/s: acknowledged %.0f/s, p50 %v p99 %v max %v (load average %s)\n", r, lp.sent,
				lp.p50.Round(time.Millisecond), lp.p99.Round(time.Millisecond), lp.max.Round(time.Millisecond), loadavg())
		}
		if !pt.keptUp() || ctx.Err() != nil {
			break
		}
	}

	store := "Redis (miniredis)"
	if o.redis != "" {
		store = "a real Redis beside it (" + o.redis + ")"
	}
	fmt.Printf("\n=== all-in-one benchmark: citybrain -target=all, embedded broker (kfake, %s) and %s, simulator mix, everything on this machine\n", brokerSync(), store)
	fmt.Printf("%d cores, load average %s at the start, %s at the end (other work on the machine takes cores from the benchmark)\n", nproc(), load0, loadavg())
	fmt.Printf("medians of %d runs; throughput phase %v with %d concurrent requests (%s); latency phases %v, open loop\n",
		o.runs, o.duration, o.workers, perRequest(), o.duration)
	fmt.Printf("%10s %10s %10s %12s %10s %10s %10s\n", "acked/s", "e2e/s", "drain", "latency at", "p50", "p99", "max")
	fmt.Printf("%10.0f %10.0f %9.1fs %10.0f/s %10v %10v %10v\n",
		medianF(tps, func(p phase) float64 { return p.acked }), medianF(tps, func(p phase) float64 { return p.e2e }),
		medianF(tps, func(p phase) float64 { return p.drain.Seconds() }), rate,
		medDur(lats, func(p phase) time.Duration { return p.p50 }), medDur(lats, func(p phase) time.Duration { return p.p99 }),
		medDur(lats, func(p phase) time.Duration { return p.max }))
	fmt.Printf("\nCPU seconds per 1,000 reports in the throughput phase (and reports/s one fully used core carries):")
	for _, t := range a.CPUNames() {
		if v := medianF(tps, func(p phase) float64 { return p.cpu[t] }); v > 0 {
			fmt.Printf("  %s %.2fs (%.0f/s)", t, v, 1000/v)
		}
	}
	fmt.Println()
	if len(sweep) > 0 {
		fmt.Printf("\nlatency sweep (receipt → first websocket frame with the report; one %v run per rate; stops at the first rate not kept up with):\n", o.duration)
		fmt.Printf("%10s %12s %10s %10s %10s  %s\n", "rate", "acked/s", "p50", "p99", "max", "")
		best250, best1s := 0.0, 0.0
		for _, p := range sweep {
			if p.err != nil {
				fmt.Printf("%8.0f/s  %v\n", p.rate, p.err)
				continue
			}
			note := ""
			switch {
			case !p.keptUp():
				note = "not kept up with"
			case p.lat.p99 <= 250*time.Millisecond:
				note = "p99 ≤ 250 ms"
			case p.lat.p99 <= time.Second:
				note = "p99 ≤ 1 s"
			}
			if p.keptUp() && p.lat.p99 <= 250*time.Millisecond {
				best250 = max(best250, p.rate)
			}
			if p.keptUp() && p.lat.p99 <= time.Second {
				best1s = max(best1s, p.rate)
			}
			fmt.Printf("%8.0f/s %12.0f %10v %10v %10v  %s\n", p.rate, p.lat.sent, p.lat.p50.Round(time.Millisecond),
				p.lat.p99.Round(time.Millisecond), p.lat.max.Round(time.Millisecond), note)
		}
		fmt.Printf("highest swept rate with p99 ≤ 250 ms: %.0f/s (issue 9: ≥ 5,000/s); with p99 ≤ 1 s: %.0f/s (issue 9: ≥ 20,000/s)\n", best250, best1s)
	}
	if o.pprof != "" {
		fmt.Printf("\nCPU profile of the first throughput run: %s (go tool pprof -top %s); by pprof label:\n%s\n", o.pprof, o.pprof, tagsReport(o.pprof))
	}
	return nil
}

func medDur(ps []phase, f func(phase) time.Duration) time.Duration {
	return time.Duration(medianF(ps, func(p phase) float64 { return float64(f(p)) })).Round(time.Millisecond)
}

// compareAllInOne is the A/B of two binaries on the same machine state:
// runs alternate A B A B …, each on a fresh process with a fresh DATA_DIR
// (so neither inherits the other's backlog or stream), and the medians
// of each side are printed with their ratio.
func compareAllInOne(ctx context.Context, o opts, city *gis.City) error {
	bins := []string{o.bin, o.compare}
	if bins[0] == "" {
		root, err := cluster.FindRoot()
		if err != nil {
			return err
		}
		bins[0] = filepath.Join(root, "bin/citybrain")
	}
	rate := o.rate
	if rate <= 0 {
		rate = 200
	}
	load0 := loadavg()
	res := make([][]phase, 2) // per binary: throughput phases with the latency figures filled in
	for i := range o.runs {
		for b, bin := range bins {
			p, err := abRun(ctx, o, city, bin, rate, fmt.Sprintf("%c%d", 'A'+b, i))
			if err != nil {
				return fmt.Errorf("%s: %w", bin, err)
			}
			fmt.Printf("bench: %c run %d (%s): acked %.0f/s, end to end %.0f/s, %.2f CPU s per 1,000; latency at %.0f/s p50 %v p99 %v (load average %s)\n",
				'A'+b, i+1, bin, p.acked, p.e2e, p.cpu["citybrain"], rate, p.p50.Round(time.Millisecond), p.p99.Round(time.Millisecond), loadavg())
			res[b] = append(res[b], p)
		}
	}
	fmt.Printf("\n=== all-in-one A/B: medians of %d alternating runs; throughput %v with %d concurrent requests (%s), latency %v open loop at %.0f/s\n",
		o.runs, o.duration, o.workers, perRequest(), o.duration, rate)
	fmt.Printf("%d cores, load average %s at the start, %s at the end\n", nproc(), load0, loadavg())
	fmt.Printf("%-3s %10s %10s %14s %10s %10s  %s\n", "", "acked/s", "e2e/s", "CPU s/1,000", "p50", "p99", "binary")
	med := make([]phase, 2)
	for b, bin := range bins {
		ps := res[b]
		med[b] = phase{acked: medianF(ps, func(p phase) float64 { return p.acked }), e2e: medianF(ps, func(p phase) float64 { return p.e2e }),
			p50: medDur(ps, func(p phase) time.Duration { return p.p50 }), p99: medDur(ps, func(p phase) time.Duration { return p.p99 }),
			cpu: map[string]float64{"citybrain": medianF(ps, func(p phase) float64 { return p.cpu["citybrain"] })}}
		fmt.Printf("%-3c %10.0f %10.0f %14.2f %10v %10v  %s\n", 'A'+b, med[b].acked, med[b].e2e, med[b].cpu["citybrain"], med[b].p50, med[b].p99, bin)
	}
	ratio := func(a, b float64) float64 { return a / max(b, 1e-9) }
	fmt.Printf("A/B: e2e/s ×%.2f, CPU per report ×%.2f, p99 ×%.2f\n", ratio(med[0].e2e, med[1].e2e),
		ratio(med[0].cpu["citybrain"], med[1].cpu["citybrain"]), ratio(float64(med[0].p99), float64(med[1].p99)))
	return nil
}

// abRun is one side of one A/B pair: a fresh process, a short warm-up, one
// throughput phase and one latency phase.
func abRun(ctx context.Context, o opts, city *gis.City, bin string, rate float64, tag string) (phase, error) {
	a, err := startAllInOne(ctx, bin, o.dir, false, o.redis)
	if err != nil {
		return phase{}, err
	}
	defer a.Stop()
	seen := cluster.NewSeen()
	wctx, wcancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	w := &cluster.WallClient{Name: "wall-" + tag, API: a.URLs("api"), Realtime: a.URLs("realtime"), Seen: seen}
	wg.Add(1)
	go func() { defer wg.Done(); w.Run(wctx) }()
	defer func() { wcancel(); wg.Wait() }()
	time.Sleep(2 * time.Second)
	// Warm-up at a low rate: connections open, partitions assigned, code
	// paths run once, without leaving a backlog behind.
	if _, err := latency(ctx, seen, a, city, 50, 3*time.Second, "W"+tag); err != nil {
		return phase{}, fmt.Errorf("warm-up: %w", err)
	}
	tp, err := throughput(ctx, a, seen, city, o.workers, o.duration, o.drain, "T"+tag)
	if err != nil {
		return phase{}, err
	}
	lp, err := latency(ctx, seen, a, city, rate, o.duration, "L"+tag)
	if err != nil {
		return phase{}, err
	}
	tp.p50, tp.p99, tp.max = lp.p50, lp.p99, lp.max
	return tp, nil
}

// brokerSync says whether the embedded broker under test fsyncs every
// batch (EMBEDDED_KAFKA_SYNC, passed on to the process; on by default).
func brokerSync() string {
	if v, err := strconv.ParseBool(strings.TrimSpace(os.Getenv("EMBEDDED_KAFKA_SYNC"))); err == nil && !v {
		return "EMBEDDED_KAFKA_SYNC=false: no fsync"
	}
	return "an fsync per batch"
}
