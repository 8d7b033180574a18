// Command bench measures citybrain end to end: a local cluster on real
// Kafka and Redis, for 1 and for 2 processes per target
// (scripts/cluster/cluster.sh), or with -allinone one `citybrain
// -target=all` process on its embedded broker (kfake) and Redis (miniredis):
//
//   - throughput: the simulator's mix sent as fast as W concurrent requests
//     go (one report per request, or arrays with -batch, round robin over
//     the ingest instances)
//     for -duration; "acked/s" is what ingest acknowledged (202, in Kafka),
//     "e2e/s" is acknowledged reports divided by the time from the first
//     send until the last of them appeared on a wall client — the rate the
//     whole pipeline (ingest → enricher → dispatcher → projector → realtime
//     → websocket) sustained, backlog drained included;
//   - latency: an open-loop stream at -rate (default: half the end-to-end
//     throughput just measured) for -duration; for every
//     acknowledged report, the time from the start of its POST until the
//     first websocket frame (delta or snapshot) carrying its event id, on
//     any wall client (clock of this process at both ends: receipt as the
//     client sees it, to the screen);
//   - CPU: process_cpu_seconds_total of each target (and the broker's and
//     Redis's from /proc; all-in-one: the one process's) from the start of
//     the throughput phase until its backlog drained, per 1,000 reports:
//     the basis of docs/capacity.md's per-instance figures;
//   - all-in-one only: a latency sweep (-sweep: open loop at rising rates,
//     p50/p99 per rate, until a rate is not kept up with), a CPU profile of
//     the first throughput run (-pprof FILE, broken down by the services'
//     pprof labels), and an A/B of two binaries (-compare: alternating
//     runs on fresh processes, medians and ratios); with -redis ADDR the
//     process uses a real Redis instead of its embedded one, and the
//     server's CPU is counted beside the process's.
//
// Each measurement runs -runs times; the medians are printed. Everything
// runs on this machine, the load generator and wall clients included, so
// the figures are those of the whole machine shared by all of it.
//
//	go run ./scripts/cluster/bench                 # make bench-cluster
//	go run ./scripts/cluster/bench -n 1 -runs 1    # quicker
//	go run ./scripts/cluster/bench -allinone       # make bench-allinone
//	go run ./scripts/cluster/bench -allinone -runs 3 -duration 10s -sweep= -compare bin/citybrain.old
//	go run ./scripts/cluster/bench -allinone -redis 127.0.0.1:6391 -runs 1 -sweep=
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/citybrain-ioc/citybrain/gis"
	"github.com/citybrain-ioc/citybrain/gis/sample"
	"github.com/citybrain-ioc/citybrain/scripts/cluster"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

type opts struct {
	ns       []int
	runs     int
	duration time.Duration
	workers  int
	rate     float64
	bin      string
	dir      string
	// all-in-one mode
	allinone bool
	sweep    []float64
	pprof    string
	compare  string
	redis    string
	drain    time.Duration
	// positions benchmark
	positions []float64
	phones    int
}

func run() error {
	var o opts
	nlist := flag.String("n", "1,2", "processes per target to measure, comma-separated")
	flag.IntVar(&o.runs, "runs", 3, "runs of each measurement (medians are reported)")
	flag.DurationVar(&o.duration, "duration", 30*time.Second, "length of each throughput and latency phase")
	flag.IntVar(&o.workers, "workers", 48, "concurrent requests in the throughput phase")
	flag.IntVar(&batch, "batch", 1, "reports per request: >1 sends arrays of one source (≤ 500), as feeds do, each when full or 20 ms after its first report")
	flag.Float64Var(&o.rate, "rate", 0, "reports per second in the latency phase (0: half the end-to-end throughput measured)")
	flag.StringVar(&o.bin, "bin", "", "citybrain binary (default: cluster.sh builds one)")
	flag.StringVar(&o.dir, "dir", "", "directory for the cluster run dirs (default .cache/bench)")
	flag.BoolVar(&o.allinone, "allinone", false, "measure one `citybrain -target=all` process (embedded broker and Redis) instead of a cluster")
	sweep := flag.String("sweep", "250,500,1000,2000,4000,8000,16000,20000",
		"with -allinone: open-loop rates (reports/s) of the latency sweep, ascending; it stops after the first rate not kept up with (\"\" = no sweep)")
	flag.StringVar(&o.compare, "compare", "", "with -allinone: A/B of -bin against this binary: fresh processes, alternating A B A B …, -runs pairs of one throughput and one latency phase (at -rate, default 200/s)")
	flag.DurationVar(&o.drain, "drain", 5*time.Minute, "how long the throughput phase waits for the acknowledged reports to reach the wall")
	flag.StringVar(&o.redis, "redis", "", "with -allinone: a real Redis (host:port) for the process instead of its embedded one, under a fresh key prefix per process (deleted after); the server's CPU (INFO cpu) is counted too")
	flag.StringVar(&o.pprof, "pprof", "", "with -allinone: write a CPU profile of the first throughput run to this file (PPROF on a loopback port)")
	positions := flag.String("positions", "", "measure worker positions instead of reports (all-in-one, or a cluster with -n), open loop at these rates (positions/s), ascending, until one is not kept up with")
	flag.IntVar(&o.phones, "phones", 1594, "with -positions: phones reporting, round robin (the demo roster's accounts, one a grid cell; the sample city has 1,594)")
	flag.BoolVar(&timeline, "timeline", false, "print each latency phase's slowest report per second sent (where a tail comes from: a steady queue or a stall)")
	flag.Parse()
	if batch < 1 || batch > 500 {
		return fmt.Errorf("-batch %d: 1 … 500 (intake's array limit)", batch)
	}
	var err error
	if o.sweep, err = rates("sweep", *sweep); err != nil {
		return err
	}
	if o.positions, err = rates("positions", *positions); err != nil {
		return err
	}
	for _, s := range strings.Split(*nlist, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 || n > 9 {
			return fmt.Errorf("-n: %q", s)
		}
		o.ns = append(o.ns, n)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root, err := cluster.FindRoot()
	if err != nil {
		return err
	}
	if o.dir == "" {
		o.dir = filepath.Join(root, ".cache/bench")
	}
	if err := os.MkdirAll(o.dir, 0o755); err != nil {
		return err
	}
	city, err := sample.Load()
	if err != nil {
		return err
	}
	if o.allinone && o.compare != "" {
		return compareAllInOne(ctx, o, city)
	}
	if len(o.positions) > 0 {
		if o.allinone {
			return benchPositions(ctx, o, city)
		}
		return benchPositionsCluster(ctx, o, city)
	}
	if o.allinone {
		return benchAllInOne(ctx, o, city)
	}
	load0 := loadavg()
	var results []result
	for _, n := range o.ns {
		r, err := measure(ctx, o, n, city)
		if err != nil {
			return fmt.Errorf("n=%d: %w", n, err)
		}
		results = append(results, r)
	}
	fmt.Printf("\n=== cluster benchmark: simulator mix, real Kafka and Redis, everything on this machine (%d cores, load average %s at the start, %s at the end)\n",
		nproc(), load0, loadavg())
	fmt.Printf("medians of %d runs; throughput phase %v with %d concurrent requests (%s); latency phase %v (open loop)\n",
		o.runs, o.duration, o.workers, perRequest(), o.duration)
	fmt.Printf("%-14s %10s %10s %10s %12s %14s %14s %14s\n", "per target", "acked/s", "e2e/s", "drain", "latency at", "p50", "p99", "max")
	for _, r := range results {
		fmt.Printf("%-14s %10.0f %10.0f %9.1fs %10.0f/s %14v %14v %14v\n", fmt.Sprintf("%d instance(s)", r.n), r.acked, r.e2e, r.drain.Seconds(),
			r.rate, r.p50.Round(time.Millisecond), r.p99.Round(time.Millisecond), r.max.Round(time.Millisecond))
	}
	fmt.Printf("\nCPU seconds per 1,000 reports in the throughput phase (all instances of a target together), and what one fully used core handles:\n")
	for _, r := range results {
		fmt.Printf("%d instance(s):", r.n)
		for _, t := range (clusterSystem{}).CPUNames() {
			if v, ok := r.cpu[t]; ok && v > 0 {
				fmt.Printf("  %s %.2fs (%.0f/s per core)", t, v, 1000/v)
			}
		}
		fmt.Println()
	}
	return nil
}

// rates parses the comma-separated rates of the flag name.
func rates(name, list string) ([]float64, error) {
	var out []float64
	for _, s := range strings.Split(list, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		r, err := strconv.ParseFloat(s, 64)
		if err != nil || r <= 0 {
			return nil, fmt.Errorf("-%s: %q", name, s)
		}
		out = append(out, r)
	}
	return out, nil
}

// system is what the phases measure: a cluster.sh run (one or more
// processes per target) or one all-in-one process.
type system interface {
	URLs(target string) []string
	CPU(ctx context.Context) map[string]float64 // CPU seconds used so far, by name
	CPUNames() []string                         // the names of CPU, in print order
}

type result struct {
	n             int
	acked, e2e    float64
	drain         time.Duration
	p50, p99, max time.Duration
	cpu           map[string]float64 // seconds per 1,000 reports
	rate          float64            // reports per second of the latency phase
}

type phase struct {
	acked, e2e    float64
	drain         time.Duration
	p50, p99, max time.Duration
	cpu           map[string]float64
	sent          float64 // latency phase: acknowledged reports per second of the phase
}

func measure(ctx context.Context, o opts, n int, city *gis.City) (result, error) {
	cl, stop, err := startCluster(ctx, o, n)
	if err != nil {
		return result{}, err
	}
	defer stop()
	seen := cluster.NewSeen()
	defer followWalls(ctx, clusterSystem{cl}, n, seen, nil)()

	// Warm-up: JIT of the broker, connection pools, partitions assigned.
	sys := clusterSystem{cl}
	if _, err := throughput(ctx, sys, seen, city, o.workers, 10*time.Second, o.drain, "W"); err != nil {
		return result{}, fmt.Errorf("warm-up: %w", err)
	}
	var tps, lats []phase
	for i := range o.runs {
		tp, err := throughput(ctx, sys, seen, city, o.workers, o.duration, o.drain, fmt.Sprintf("T%d", i))
		if err != nil {
			return result{}, err
		}
		fmt.Printf("bench: n=%d run %d throughput: acked %.0f/s, end to end %.0f/s, drained %.1fs after the load\n", n, i+1, tp.acked, tp.e2e, tp.drain.Seconds())
		tps = append(tps, tp)
	}
	rate := o.rate
	if rate <= 0 {
		// Half of what this configuration sustained: a load it carries
		// without a backlog, where latency means something.
		rate = max(1, medianF(tps, func(p phase) float64 { return p.e2e })/2)
	}
	for i := range o.runs {
		lp, err := latency(ctx, seen, sys, city, rate, o.duration, fmt.Sprintf("L%d", i))
		if err != nil {
			return result{}, err
		}
		fmt.Printf("bench: n=%d run %d latency at %.0f/s: p50 %v p99 %v max %v\n", n, i+1, rate, lp.p50.Round(time.Millisecond), lp.p99.Round(time.Millisecond), lp.max.Round(time.Millisecond))
		lats = append(lats, lp)
	}
	r := result{n: n, cpu: map[string]float64{}, rate: rate}
	r.acked = medianF(tps, func(p phase) float64 { return p.acked })
	r.e2e = medianF(tps, func(p phase) float64 { return p.e2e })
	r.drain = time.Duration(medianF(tps, func(p phase) float64 { return float64(p.drain) }))
	r.p50 = time.Duration(medianF(lats, func(p phase) float64 { return float64(p.p50) }))
	r.p99 = time.Duration(medianF(lats, func(p phase) float64 { return float64(p.p99) }))
	r.max = time.Duration(medianF(lats, func(p phase) float64 { return float64(p.max) }))
	for _, t := range sys.CPUNames() {
		r.cpu[t] = medianF(tps, func(p phase) float64 { return p.cpu[t] })
	}
	return r, nil
}

// startCluster starts a cluster of n processes per target on a Kafka and a
// Redis of its own; stop ends it and deletes its run directory.
func startCluster(ctx context.Context, o opts, n int) (*cluster.Cluster, func(), error) {
	fmt.Printf("bench: starting a cluster with %d process(es) per target\n", n)
	cl, err := cluster.Start(ctx, cluster.Options{N: n, Dir: o.dir, Bin: o.bin, OwnServers: true, LogLevel: "warn", Log: os.Stderr})
	stop := func() {
		if cl == nil {
			return
		}
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if cl.Stop(sctx) == nil {
			_ = cl.Prune()
		}
	}
	if err != nil {
		stop() // what started of it
		return nil, nil, err
	}
	return cl, stop, nil
}

// followWalls runs n wall clients of sys (the i-th trying realtime instance
// i first) that record when they saw reports and positions (nil: not
// recorded), and gives them 2 s to connect; stop ends them.
func followWalls(ctx context.Context, sys system, n int, reports, positions *cluster.Seen) (stop func()) {
	if reports == nil {
		reports = cluster.NewSeen()
	}
	wctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for i := range n {
		w := &cluster.WallClient{Name: fmt.Sprintf("wall-%d", i+1), API: sys.URLs("api"), Realtime: sys.URLs("realtime"), Prefer: i,
			Seen: reports, Positions: positions}
		wg.Add(1)
		go func() { defer wg.Done(); w.Run(wctx) }()
	}
	time.Sleep(2 * time.Second)
	return func() { cancel(); wg.Wait() }
}

// batch is -batch: reports per ingest request.
var batch = 1

// perRequest describes -batch for the printed headers.
func perRequest() string {
	if batch <= 1 {
		return "one report per request"
	}
	return fmt.Sprintf("arrays of up to %d reports of one source per request", batch)
}

// throughput sends as fast as workers allow for d, then waits until every
// acknowledged report is on a wall.
func throughput(ctx context.Context, cl system, seen *cluster.Seen, city *gis.City, workers int, d, drain time.Duration, tag string) (phase, error) {
	cpu0 := cl.CPU(ctx)
	load := &cluster.Load{Ingest: cl.URLs("ingest"), Rate: 1e6, Workers: workers, City: city, RetryFor: 30 * time.Second, Batch: batch,
		Seed: uint64(time.Now().UnixNano()), Refs: tag + strconv.FormatInt(time.Now().UnixNano()%1e6, 36)}
	start := time.Now()
	lctx, cancel := context.WithTimeout(ctx, d)
	load.Run(lctx)
	cancel()
	end := time.Now()
	acks := load.Acks()
	if len(acks) == 0 {
		return phase{}, fmt.Errorf("nothing acknowledged: %v", load.Stats().Problems)
	}
	last, err := waitSeen(ctx, seen, acks, drain)
	if err != nil {
		return phase{}, err
	}
	// CPU until the backlog drained: the whole work of these reports, not
	// only what was done while they were being sent.
	cpu1 := cl.CPU(ctx)
	p := phase{
		acked: float64(len(acks)) / end.Sub(start).Seconds(),
		e2e:   float64(len(acks)) / last.Sub(start).Seconds(),
		drain: max(0, last.Sub(end)),
		cpu:   map[string]float64{},
	}
	for t, v := range cpu1 {
		p.cpu[t] = (v - cpu0[t]) / float64(len(acks)) * 1000
	}
	return p, nil
}

// latency sends an open-loop stream at rate for d and measures POST start →
// first wall frame with the report.
func latency(ctx context.Context, seen *cluster.Seen, cl system, city *gis.City, rate float64, d time.Duration, tag string) (phase, error) {
	// Enough requests in flight for the rate at 50 ms each: the load must
	// not be what limits an open loop.
	load := &cluster.Load{Ingest: cl.URLs("ingest"), Rate: rate, Workers: max(64, int(rate/20)), City: city, RetryFor: 30 * time.Second, Batch: batch,
		Seed: uint64(time.Now().UnixNano()), Refs: tag + strconv.FormatInt(time.Now().UnixNano()%1e6, 36)}
	lctx, cancel := context.WithTimeout(ctx, d)
	load.Run(lctx)
	cancel()
	acks := load.Acks()
	if len(acks) == 0 {
		return phase{}, fmt.Errorf("nothing acknowledged: %v", load.Stats().Problems)
	}
	if _, err := waitSeen(ctx, seen, acks, 2*time.Minute); err != nil {
		return phase{}, err
	}
	lat := make([]time.Duration, 0, len(acks))
	for _, a := range acks {
		at, _ := seen.At(a.ID)
		lat = append(lat, at.Sub(a.Sent))
	}
	if timeline {
		printTimeline(tag, acks, seen)
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	q := func(p float64) time.Duration { return lat[min(len(lat)-1, int(float64(len(lat))*p))] }
	return phase{p50: q(.5), p99: q(.99), max: lat[len(lat)-1], sent: float64(len(acks)) / d.Seconds()}, nil
}

// timeline is the -timeline flag.
var timeline bool

// printTimeline prints the slowest receipt → wall latency of the reports
// sent in each second of a phase, and how many were sent.
func printTimeline(tag string, acks []cluster.Ack, seen *cluster.Seen) {
	start := acks[0].Sent
	for _, a := range acks {
		if a.Sent.Before(start) {
			start = a.Sent
		}
	}
	type second struct {
		n   int
		max time.Duration
	}
	var secs []second
	for _, a := range acks {
		i := int(a.Sent.Sub(start) / time.Second)
		for len(secs) <= i {
			secs = append(secs, second{})
		}
		at, _ := seen.At(a.ID)
		secs[i].n++
		secs[i].max = max(secs[i].max, at.Sub(a.Sent))
	}
	fmt.Printf("bench: %s slowest report per second sent:", tag)
	for _, s := range secs {
		fmt.Printf(" %v(%d)", s.max.Round(time.Millisecond), s.n)
	}
	fmt.Println()
}

// waitSeen waits until every acknowledged report was on a wall and returns
// when the last of them got there.
func waitSeen(ctx context.Context, seen *cluster.Seen, acks []cluster.Ack, limit time.Duration) (time.Time, error) {
	deadline := time.Now().Add(limit)
	for {
		missing := seen.Missing(acks)
		if len(missing) == 0 {
			break
		}
		if time.Now().After(deadline) {
			return time.Time{}, fmt.Errorf("%d of %d acknowledged reports not on a wall after %v (e.g. %s)", len(missing), len(acks), limit, missing[0])
		}
		if ctx.Err() != nil {
			return time.Time{}, ctx.Err()
		}
		time.Sleep(200 * time.Millisecond)
	}
	var last time.Time
	for _, a := range acks {
		if at, _ := seen.At(a.ID); at.After(last) {
			last = at
		}
	}
	return last, nil
}

// cpuSeconds reads the CPU time used so far by each target (summed over its
// instances), the broker, Redis and this process.
func cpuSeconds(ctx context.Context, cl *cluster.Cluster) map[string]float64 {
	out := map[string]float64{}
	for _, t := range cluster.Targets {
		for _, u := range cl.URLs(t) {
			m, err := cluster.Metrics(ctx, u, "process_cpu_seconds_total")
			if err != nil {
				continue
			}
			for _, v := range m {
				out[t] += v
			}
		}
	}
	for name, pidFile := range map[string]string{"kafka": "kafka/kafka.pid", "redis": "redis/redis.pid"} {
		if b, err := os.ReadFile(filepath.Join(cl.Run, pidFile)); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
				out[name] = procCPU(pid)
			}
		}
	}
	out["bench"] = procCPU(os.Getpid())
	return out
}

// procCPU is user+system CPU seconds of a process from /proc (clock ticks
// of 1/100 s, the Linux default).
func procCPU(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0
	}
	u, err1 := strconv.ParseFloat(f[11], 64)
	st, err2 := strconv.ParseFloat(f[12], 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0
	}
	return (u + st) / 100
}

func medianF(ps []phase, f func(phase) float64) float64 {
	v := make([]float64, len(ps))
	for i, p := range ps {
		v[i] = f(p)
	}
	sort.Float64s(v)
	if len(v) == 0 {
		return 0
	}
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

func nproc() int {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return 0
	}
	return strings.Count(string(b), "processor\t:")
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Join(strings.Fields(string(b))[:3], " ")
}
