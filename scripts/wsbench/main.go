// Command wsbench is the load benchmark of the realtime gateway (issue 6).
// The gateway runs in another process: by default wsbench starts itself as
// "wsbench serve" (the gateway wired as -target=realtime wires it, plus a
// /debug/mem endpoint), or -url points it at a running gateway on the same
// Redis and key prefix. It then
//
//  1. measures two baselines: raw XREAD throughput of this Redis, and one
//     wall client at the benchmark's event rate (latency without fan-out);
//  2. opens -clients connections (wall viewers, town dispatchers and grid
//     workers), each subscribed to its channel, and measures the gateway's
//     memory per idle connection (Go heap + stacks after a GC, and RSS);
//  3. commits -rate incidents per second through the projection (the
//     redisstore Lua script that also XADDs the delta) and measures the
//     deliveries per second and the latency from the commit (the stream id
//     is the commit time) to the arrival at each client;
//  4. makes -slow of the clients stop reading, keeps the load on, and
//     measures the latency of the others, how long the gateway takes to drop
//     the slow ones, and its memory after they are gone.
//
// See README.md for the command and the figures.
package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	mrand "math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gorilla/websocket"
	"github.com/redis/go-redis/v9"

	"github.com/citybrain-ioc/citybrain/scripts/cluster"
	"github.com/citybrain-ioc/citybrain/services/realtime"
	"github.com/citybrain-ioc/citybrain/services/redisstore"
)

// readBuffer is the clients' read buffer by kind.
var readBuffer = [...]int{kindWall: 64 << 10, kindDispatcher: 16 << 10, kindWorker: 4 << 10}

func main() {
	var err error
	if len(os.Args) > 1 && os.Args[1] == "serve" {
		err = serve(os.Args[2:])
	} else if len(os.Args) > 1 && os.Args[1] == "produce" {
		err = produceMain(os.Args[2:])
	} else {
		err = run()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "wsbench:", err)
		os.Exit(1)
	}
}

// The grid cells the workers are spread over are the sample city's (gis/sample; a test keeps this
// true): 9,000 workers over 1,594 cells is about 5.6 a cell, where a city has one or two 网格员 a
// cell, so an unassigned incident reaches more workers here than it would in a city.
const sampleGrids = 1594

type config struct {
	redis          string
	url            string
	prefix         string
	clients        int
	walls          int
	dispatchers    int
	towns          int
	grids          int
	assigned       float64
	rate           int
	duration       time.Duration
	runs           int
	slow           float64
	slowWait       time.Duration
	dialers        int
	reader         string
	loops          int
	baseline       bool
	hold           time.Duration
	memProfileRate int
	cpuProfile     string
}

type bench struct {
	loops       *loops // the event loops of -reader epoll, while connected
	cfg         config
	rdb         *redis.Client
	store       *redisstore.Store
	pop         *population
	hist        atomic.Pointer[hist]
	stop        chan struct{}
	readers     sync.WaitGroup
	metrics     string // URL of /metrics
	mem         string // URL of /debug/mem ("" for a gateway we did not start)
	pid         int
	runs        int     // producer runs so far
	producerCPU float64 // CPU seconds used by the producer processes so far
}

func run() error {
	var cfg config
	flag.StringVar(&cfg.redis, "redis", "127.0.0.1:6379", "Redis the gateway and the producer use (scripts/dev/redis.sh start)")
	flag.StringVar(&cfg.url, "url", "", "a running gateway, e.g. ws://127.0.0.1:8080/ws (citybrain -target=realtime with REDIS_PREFIX=-prefix); empty: start one")
	flag.StringVar(&cfg.prefix, "prefix", "", "Redis key prefix (default: a fresh wsbench.<random>. deleted at the end)")
	flag.IntVar(&cfg.clients, "clients", 10000, "connections")
	flag.IntVar(&cfg.walls, "walls", 200, "of which wall viewers (every incident)")
	flag.IntVar(&cfg.dispatchers, "dispatchers", 800, "of which dispatchers, one town each (the rest are grid workers)")
	flag.IntVar(&cfg.towns, "towns", 14, "towns the dispatchers are spread over (one each)")
	flag.IntVar(&cfg.grids, "grids", sampleGrids, "grid cells the workers are spread over (the sample city's; before 2026-12-07 the default was 200, 45 workers a cell)")
	flag.Float64Var(&cfg.assigned, "assigned", 0.3, "share of incidents assigned to a worker (the others go to their grid's workers)")
	flag.IntVar(&cfg.rate, "rate", 1000, "incidents committed per second")
	flag.DurationVar(&cfg.duration, "duration", 20*time.Second, "length of one load run")
	flag.IntVar(&cfg.runs, "runs", 3, "load runs (medians are reported)")
	flag.Float64Var(&cfg.slow, "slow", 0.1, "share of clients that stop reading in the slow-reader phase (0: skip)")
	flag.DurationVar(&cfg.slowWait, "slow-wait", 90*time.Second, "longest wait for the gateway to drop the slow readers")
	flag.IntVar(&cfg.dialers, "dialers", 200, "concurrent dials")
	flag.StringVar(&cfg.reader, "reader", "epoll", "how the clients read: epoll (a few event loops, the least CPU) or gorilla (a goroutine per connection)")
	flag.IntVar(&cfg.loops, "loops", 2, "event loops of -reader epoll")
	flag.BoolVar(&cfg.baseline, "baseline", true, "measure the baselines")
	flag.IntVar(&cfg.memProfileRate, "memprofilerate", 0, "the gateway's runtime.MemProfileRate (1 for exact heap profiles while holding)")
	flag.StringVar(&cfg.cpuProfile, "cpuprofile", "", "write this process's CPU profile of the load runs here")
	flag.DurationVar(&cfg.hold, "hold", 0, "keep the clients connected and idle this long after measuring memory (for profiling)")
	flag.Parse()
	if cfg.walls+cfg.dispatchers > cfg.clients {
		return errors.New("-walls + -dispatchers exceed -clients")
	}
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err == nil && lim.Cur < uint64(cfg.clients+200) {
		// Go raises the soft limit to the hard one at start-up; the hard
		// one needs `ulimit -n` (run.sh) or root.
		return fmt.Errorf("open files limit %d < %d: raise it (ulimit -n %d, see README)", lim.Cur, cfg.clients+200, cfg.clients+1000)
	}
	keep := cfg.prefix != ""
	if cfg.prefix == "" {
		b := make([]byte, 4)
		_, _ = rand.Read(b)
		cfg.prefix = "wsbench." + hex.EncodeToString(b) + "."
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	b := &bench{cfg: cfg, stop: make(chan struct{})}
	b.rdb = redis.NewClient(&redis.Options{Addr: cfg.redis, PoolSize: 16})
	defer func() { _ = b.rdb.Close() }()
	if err := b.rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis %s: %w (start one with scripts/dev/redis.sh start)", cfg.redis, err)
	}
	b.store = redisstore.New(b.rdb, cfg.prefix, time.Local)
	if !keep {
		defer func() { _ = b.store.Flush(context.Background()) }()
	}
	b.hist.Store(new(hist))

	wsURL := cfg.url
	if wsURL == "" {
		child, addr, err := startServer(cfg)
		if err != nil {
			return err
		}
		defer func() {
			_ = child.Process.Signal(syscall.SIGTERM)
			_ = child.Wait()
		}()
		b.pid = child.Process.Pid
		wsURL = "ws://" + addr + "/ws"
		b.mem = "http://" + addr + "/debug/mem"
	}
	b.metrics = strings.Replace(strings.TrimSuffix(wsURL, "/ws"), "ws", "http", 1) + "/metrics"

	load, _ := os.ReadFile("/proc/loadavg")
	rv, _ := b.rdb.Info(ctx, "server").Result()
	fmt.Printf("wsbench: %d CPUs, load average %s, %s, redis %s at %s, gateway %s (pid %d), prefix %s\n",
		runtime.NumCPU(), strings.Join(strings.Fields(string(load))[:3], " "), runtime.Version(), cluster.InfoField(rv, "redis_version"), cfg.redis, wsURL, b.pid, cfg.prefix)
	mix := fmt.Sprintf("%d wall, %d dispatcher (%d towns), %d worker (%d grids)", cfg.walls, cfg.dispatchers, cfg.towns, cfg.clients-cfg.walls-cfg.dispatchers, cfg.grids)

	r := report{}
	if cfg.baseline {
		r.xread = b.xreadBaseline(ctx)
		fmt.Printf("baseline: raw XREAD of this Redis %s entries/s (1 KB entries, COUNT 1000)\n", num(r.xread))
		one := newPopulation(1, 1, 0, cfg.towns, cfg.grids)
		b.pop = one
		if err := b.connect(ctx, wsURL); err != nil {
			return err
		}
		res := b.load(ctx, cfg.rate, 5*time.Second)
		r.single = res
		fmt.Printf("baseline: 1 wall client @ %d events/s: %s deliveries/s, latency p50 %s p99 %s max %s\n",
			cfg.rate, num(res.perSec), ms(res.p50), ms(res.p99), ms(res.max))
		b.closeAll()
		time.Sleep(time.Second)
	}

	m0, err := b.memory(ctx, true)
	if err != nil {
		return err
	}
	b.pop = newPopulation(cfg.clients, cfg.walls, cfg.dispatchers, cfg.towns, cfg.grids)
	t0 := time.Now()
	if err := b.connect(ctx, wsURL); err != nil {
		return err
	}
	fmt.Printf("connect: %d clients (%s) subscribed with snapshots in %.1f s\n", cfg.clients, mix, time.Since(t0).Seconds())
	time.Sleep(2 * time.Second)
	m1, err := b.memory(ctx, true)
	if err != nil {
		return err
	}
	r.perConnGo = float64(m1.goBytes()-m0.goBytes()) / float64(cfg.clients)
	r.perConnRSS = float64(int64(m1.RSS)-int64(m0.RSS)) / float64(cfg.clients)
	fmt.Printf("idle memory: Go heap+stacks %s → %s = %.1f KB per connection; RSS %s → %s = %.1f KB per connection%s\n",
		mb(m0.goBytes()), mb(m1.goBytes()), r.perConnGo/1024, mb(m0.RSS), mb(m1.RSS), r.perConnRSS/1024, m1.note)

	if cfg.hold > 0 {
		fmt.Printf("holding %d idle clients for %s (pprof at %s)\n", cfg.clients, cfg.hold, strings.Replace(b.metrics, "/metrics", "/debug/pprof/", 1))
		time.Sleep(cfg.hold)
	}
	if cfg.cpuProfile != "" {
		f, err := os.Create(cfg.cpuProfile)
		if err != nil {
			return err
		}
		_ = pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	for i := range cfg.runs {
		res := b.load(ctx, cfg.rate, cfg.duration)
		r.runs = append(r.runs, res)
		fmt.Printf("load run %d: %d events/s for %s to %d clients: %s deliveries/s (%.2f%% of expected %s), latency p50 %s p99 %s p99.9 %s max %s (p99 wall %s, dispatcher %s, worker %s; gateway's own p99 to the socket ≤ %s); CPU: gateway %.0f%%, clients %.0f%%, producer %.0f%%, redis %.0f%%; clients disconnected so far: %d\n",
			i+1, res.rate, cfg.duration, cfg.clients, num(res.perSec), 100*float64(res.delivered)/float64(max(res.expected, 1)), num(float64(res.expected)/res.secs),
			ms(res.p50), ms(res.p99), ms(res.p999), ms(res.max), ms(res.kindP99[kindWall]), ms(res.kindP99[kindDispatcher]), ms(res.kindP99[kindWorker]), ms(res.serverP99), res.cpu*100, res.selfCPU*100, res.prodCPU*100, res.redisCPU*100, res.dead)
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}

	if cfg.slow > 0 {
		// The baseline for "memory comes back": the same clients, idle,
		// after the load runs (the resume buffer and the snapshot caches
		// are full by then, as in production).
		time.Sleep(2 * time.Second)
		m2, err := b.memory(ctx, true)
		if err != nil {
			return err
		}
		r.slow = b.slowPhase(ctx, m2, r.perConnGo)
	}
	b.closeAll()
	r.print(cfg)
	return nil
}

func startServer(cfg config) (*exec.Cmd, string, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, "", err
	}
	cmd := exec.Command(self, "serve", "-redis", cfg.redis, "-prefix", cfg.prefix, "-memprofilerate", strconv.Itoa(cfg.memProfileRate))
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, "", err
	}
	if err := cmd.Start(); err != nil {
		return nil, "", err
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "listening ")
	if err != nil || !ok {
		_ = cmd.Process.Kill()
		return nil, "", fmt.Errorf("gateway did not start: %q %v", line, err)
	}
	go func() { _, _ = io.Copy(io.Discard, out) }()
	return cmd, addr, nil
}

// connect puts a ticket for every client into Redis (as POST
// /api/v1/auth/ws-ticket does), dials, subscribes and waits for every
// snapshot.
func (b *bench) connect(ctx context.Context, url string) error {
	tickets := make([]string, len(b.pop.clients))
	var tg sync.WaitGroup
	terr := make(chan error, 16)
	for w := range 16 {
		tg.Add(1)
		go func() {
			defer tg.Done()
			for i := w; i < len(tickets); i += 16 {
				t := make([]byte, 16)
				_, _ = rand.Read(t)
				tickets[i] = hex.EncodeToString(t)
				raw, _ := json.Marshal(b.pop.clients[i].claims)
				if err := b.store.PutTicket(ctx, tickets[i], raw, 5*time.Minute); err != nil {
					terr <- fmt.Errorf("ticket: %w", err)
					return
				}
			}
		}()
	}
	tg.Wait()
	close(terr)
	if err := <-terr; err != nil {
		return err
	}
	switch b.cfg.reader {
	case "epoll":
		if b.cfg.loops < 1 {
			return fmt.Errorf("-loops %d: at least 1", b.cfg.loops)
		}
		ls, err := newLoops(b.cfg.loops, &b.hist, b.stop, &b.readers)
		if err != nil {
			return err
		}
		b.loops = ls
	case "gorilla":
	default:
		return fmt.Errorf("-reader %q: epoll or gorilla", b.cfg.reader)
	}
	work := make(chan int)
	errs := make(chan error, len(b.pop.clients))
	var wg sync.WaitGroup
	for range b.cfg.dialers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d := websocket.Dialer{HandshakeTimeout: 30 * time.Second, WriteBufferSize: 512}
			for i := range work {
				c := b.pop.clients[i]
				d.Subprotocols = []string{realtime.Protocol, "ticket." + tickets[i]}
				// A read buffer that takes a round's batch in one read
				// (a wall gets ~40 deltas of ~1 KB per 40 ms round, a
				// worker one now and then): these 10,000 clients share
				// the gateway's two cores, where a city's devices would
				// each read with their own CPU.
				d.ReadBufferSize = readBuffer[c.kind]
				var ws *websocket.Conn
				var err error
				for attempt := range 5 { // a full accept queue resets a few dials under a burst
					var resp *http.Response
					ws, resp, err = d.DialContext(ctx, url, nil)
					if resp != nil && resp.Body != nil {
						_ = resp.Body.Close()
					}
					if err == nil || resp != nil {
						break
					}
					time.Sleep(time.Duration(attempt+1) * 200 * time.Millisecond)
				}
				if err != nil {
					errs <- fmt.Errorf("dial %d: %w", i, err)
					continue
				}
				if err := ws.WriteJSON(map[string]string{"op": "subscribe", "channel": c.channel()}); err != nil {
					_ = ws.Close()
					errs <- err
					continue
				}
				if b.loops != nil {
					if err := b.loops.add(c, ws); err != nil {
						errs <- err
					}
					continue
				}
				c.ws = ws
				b.readers.Add(1)
				go c.reader(&b.hist, b.stop, &b.readers)
			}
		}()
	}
	for i := range b.pop.clients {
		work <- i
	}
	close(work)
	wg.Wait()
	close(errs)
	for err := range errs {
		return err
	}
	deadline := time.After(5 * time.Minute)
	for _, c := range b.pop.clients {
		select {
		case <-c.snapshot:
			if c.dead.Load() {
				return fmt.Errorf("client %d closed before its snapshot: %v", c.idx, c.err)
			}
		case <-deadline:
			return errors.New("snapshots did not all arrive within 5 minutes")
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

func (b *bench) closeAll() {
	for _, c := range b.pop.clients {
		if c.ws != nil {
			_ = c.ws.Close()
		}
	}
	close(b.stop)
	b.readers.Wait()
	b.stop = make(chan struct{})
	b.loops = nil
}

// dead counts the clients whose connection has ended.
func (b *bench) dead() int {
	n := 0
	for _, c := range b.pop.clients {
		if c.dead.Load() {
			n++
		}
	}
	return n
}

// loadResult is one load run.
type loadResult struct {
	rate      int
	secs      float64
	delivered int64
	expected  int64
	perSec    float64
	p50, p99  float64
	p999, max float64
	cpu       float64 // gateway CPU seconds per second
	selfCPU   float64 // this process's (the clients)
	prodCPU   float64 // the producer process's
	redisCPU  float64 // Redis's
	serverP99 float64 // the gateway's own p99 lag (commit → written to the socket), ms, bucket bound
	kindP99   [3]float64
	dead      int // clients whose connection had ended by the end of the run
}

// load commits rate incidents per second for d and measures what arrives.
func (b *bench) load(ctx context.Context, rate int, d time.Duration) loadResult {
	h := new(hist)
	b.hist.Store(h)
	s0 := b.scrape(ctx)
	cpu0, self0, redis0, prod0 := s0["process_cpu_seconds_total"], selfCPU(), cluster.RedisCPU(ctx, b.rdb), b.producerCPU
	t0 := time.Now()
	sent, expected := b.produce(ctx, rate, d, nil)
	// Drain: until nothing more arrives for a second (or 10 s).
	last, stable := h.count(), time.Now()
	for time.Since(stable) < time.Second && time.Since(t0) < d+10*time.Second {
		time.Sleep(100 * time.Millisecond)
		if n := h.count(); n != last {
			last, stable = n, time.Now()
		}
	}
	secs := d.Seconds()
	s1 := b.scrape(ctx)
	cpu1, self1, redis1 := s1["process_cpu_seconds_total"], selfCPU(), cluster.RedisCPU(ctx, b.rdb)
	el := time.Since(t0).Seconds()
	_, delivered := h.merged()
	return loadResult{
		rate: int(float64(sent) / secs), secs: secs, delivered: delivered, expected: expected, perSec: float64(delivered) / secs,
		p50: h.quantile(.5), p99: h.quantile(.99), p999: h.quantile(.999), max: h.quantile(1),
		cpu: (cpu1 - cpu0) / el, selfCPU: (self1 - self0) / el, redisCPU: (redis1 - redis0) / el, prodCPU: (b.producerCPU - prod0) / el,
		serverP99: lagQuantile(s0, s1, .99), dead: b.dead(),
		kindP99: [3]float64{h.kindQuantile(kindWall, .99), h.kindQuantile(kindDispatcher, .99), h.kindQuantile(kindWorker, .99)},
	}
}

// produce commits incidents at rate for d (until ctx or stop ends, when d
// is 0) and returns how many were committed and how many deliveries they
// should make. The producer is a process of its own ("wsbench produce"),
// so that it keeps its pace however busy the 10,000 readers of this one
// are; it reports the scope of each committed incident on its stdout.
func (b *bench) produce(ctx context.Context, rate int, d time.Duration, stop <-chan struct{}) (sent, expected int64) {
	self, err := os.Executable()
	if err != nil {
		return 0, 0
	}
	b.runs++
	cfg := b.cfg
	args := []string{"produce", "-redis", cfg.redis, "-prefix", cfg.prefix, "-rate", strconv.Itoa(rate), "-duration", d.String(),
		"-id", fmt.Sprintf("R%d-", b.runs),
		"-clients", strconv.Itoa(len(b.pop.clients)), "-walls", strconv.Itoa(len(b.pop.walls)), "-dispatchers", strconv.Itoa(b.pop.dispatchers()),
		"-towns", strconv.Itoa(b.pop.towns), "-grids", strconv.Itoa(b.pop.grids), "-assigned", strconv.FormatFloat(cfg.assigned, 'f', -1, 64)}
	cmd := exec.CommandContext(ctx, self, args...)
	cmd.Stderr = os.Stderr
	in, _ := cmd.StdinPipe()
	out, err := cmd.StdoutPipe()
	if err != nil {
		return 0, 0
	}
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "wsbench: producer:", err)
		return 0, 0
	}
	go func() {
		select {
		case <-stop:
		case <-ctx.Done():
		}
		_ = in.Close() // the producer stops at EOF on stdin
	}()
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		var town, grid, worker int
		if _, err := fmt.Sscan(sc.Text(), &town, &grid, &worker); err != nil {
			continue
		}
		sent++
		expected += int64(b.pop.recipients(town, grid, worker))
	}
	_ = cmd.Wait()
	if st := cmd.ProcessState; st != nil {
		b.producerCPU += (st.UserTime() + st.SystemTime()).Seconds()
	}
	return sent, expected
}

// slowResult is the slow-reader phase.
type slowResult struct {
	timeline         []float64 // the others' p99 in each second of the phase
	slow, dropped    int
	dropSecs         float64
	overflowDrops    float64
	p50, p99, max    float64
	perSec           float64
	idle, peak, back memSample
	expectBack       float64
}

// slowPhase makes a share of the clients stop reading and keeps the load
// on until the gateway has dropped them all.
func (b *bench) slowPhase(ctx context.Context, idle memSample, perConn float64) slowResult {
	var r slowResult
	r.idle = idle
	for _, c := range b.pop.clients {
		if mrand.Float64() < b.cfg.slow {
			c.slow.Store(true)
			r.slow++
		}
	}
	before := b.scrape(ctx)
	h := new(hist)
	b.hist.Store(h)
	stop := make(chan struct{})
	t0 := time.Now()
	var sent, expected int64
	done := make(chan struct{})
	go func() {
		sent, expected = b.produce(ctx, b.cfg.rate, 0, stop)
		close(done)
	}()
	want := before["citybrain_ws_clients"] - float64(r.slow)
	var prev [1902]int64
	var prevTotal int64
	perSecond := func() {
		counts, total := h.merged()
		d := counts
		for i := range d {
			d[i] -= prev[i]
		}
		r.timeline = append(r.timeline, quantileOf(&d, total-prevTotal, .99))
		prev, prevTotal = counts, total
	}
	for time.Since(t0) < b.cfg.slowWait && ctx.Err() == nil {
		time.Sleep(time.Second)
		perSecond()
		if m, err := b.memory(ctx, false); err == nil && m.goBytes() > r.peak.goBytes() {
			r.peak = m
		}
		if now := b.scrape(ctx)["citybrain_ws_clients"]; now <= want {
			r.dropSecs = time.Since(t0).Seconds()
			break
		}
	}
	if r.dropSecs == 0 {
		r.dropSecs = math.NaN()
	}
	// A little more load with only the fast readers left, then stop.
	for time.Since(t0) < b.cfg.duration {
		time.Sleep(time.Second)
		perSecond()
	}
	close(stop)
	<-done
	secs := time.Since(t0).Seconds()
	time.Sleep(2 * time.Second)
	after := b.scrape(ctx)
	r.dropped = int(before["citybrain_ws_clients"] - after["citybrain_ws_clients"])
	r.overflowDrops = after["citybrain_ws_clients_dropped_total"] - before["citybrain_ws_clients_dropped_total"]
	r.back, _ = b.memory(ctx, true)
	r.expectBack = float64(idle.goBytes()) - float64(r.dropped)*perConn
	_, delivered := h.merged()
	r.perSec = float64(delivered) / secs
	r.p50, r.p99, r.max = h.quantile(.5), h.quantile(.99), h.quantile(1)
	fmt.Printf("slow readers: %d of %d clients stop reading at %d events/s; the gateway dropped %d in %.1f s (%v for a full queue, the rest by the pong deadline or a stalled write)\n",
		r.slow, len(b.pop.clients), b.cfg.rate, r.dropped, r.dropSecs, r.overflowDrops)
	fmt.Printf("slow readers: the others got %s deliveries/s (%d events, %s expected deliveries), latency p50 %s p99 %s max %s\n",
		num(r.perSec), sent, num(float64(expected)), ms(r.p50), ms(r.p99), ms(r.max))
	var tl []string
	for _, ms := range r.timeline {
		tl = append(tl, fmt.Sprintf("%.0f", ms))
	}
	fmt.Printf("slow readers: the others' p99 second by second (ms): %s\n", strings.Join(tl, " "))
	fmt.Printf("slow readers: gateway Go heap+stacks: idle with all clients %s (after the load runs, GC'd), peak %s (no GC forced), after the drop %s (GC'd; %d idle clients at %.1f KB would be %s)\n",
		mb(idle.goBytes()), mb(r.peak.goBytes()), mb(r.back.goBytes()), len(b.pop.clients)-r.dropped, perConn/1024, mb(uint64(max(r.expectBack, 0))))
	return r
}

// xreadBaseline measures how fast one client reads a stream of 1 KB
// entries from this Redis: the ceiling of what a gateway instance is fed.
func (b *bench) xreadBaseline(ctx context.Context) float64 {
	key := b.cfg.prefix + "xread-baseline"
	defer b.rdb.Del(context.Background(), key)
	payload := strings.Repeat("x", 1000)
	const n = 50000
	for i := 0; i < n; i += 1000 {
		pipe := b.rdb.Pipeline()
		for range 1000 {
			pipe.XAdd(ctx, &redis.XAddArgs{Stream: key, Values: []string{"kind", "incident", "data", payload}})
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return math.NaN()
		}
	}
	t0 := time.Now()
	from, got := "0-0", 0
	for got < n {
		res, err := b.rdb.XRead(ctx, &redis.XReadArgs{Streams: []string{key, from}, Count: 1000, Block: -1}).Result()
		if err != nil || len(res) == 0 || len(res[0].Messages) == 0 {
			break
		}
		got += len(res[0].Messages)
		from = res[0].Messages[len(res[0].Messages)-1].ID
	}
	return float64(got) / time.Since(t0).Seconds()
}

// memSample is the gateway's memory.
type memSample struct {
	HeapInuse  uint64 `json:"heap_inuse"`
	StackInuse uint64 `json:"stack_inuse"`
	RSS        uint64 `json:"rss"`
	Goroutines int    `json:"goroutines"`
	note       string
}

func (m memSample) goBytes() uint64 { return m.HeapInuse + m.StackInuse }

// memory reads the gateway's memory: from /debug/mem (after a GC when gc)
// for a gateway wsbench started, else from /metrics (no GC can be forced).
func (b *bench) memory(ctx context.Context, gc bool) (memSample, error) {
	if b.mem == "" {
		m := b.scrape(ctx)
		return memSample{HeapInuse: uint64(m["go_memstats_heap_inuse_bytes"]), StackInuse: uint64(m["go_memstats_stack_inuse_bytes"]),
			RSS: uint64(m["process_resident_memory_bytes"]), note: " (from /metrics, no GC forced)"}, nil
	}
	u := b.mem
	if !gc {
		u += "?gc=0"
	}
	req, _ := http.NewRequestWithContext(ctx, "GET", u, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return memSample{}, err
	}
	defer func() { _ = resp.Body.Close() }()
	var m memSample
	err = json.NewDecoder(resp.Body).Decode(&m)
	return m, err
}

// scrape reads the unlabelled samples of the gateway's /metrics.
func (b *bench) scrape(ctx context.Context) map[string]float64 {
	out := map[string]float64{}
	req, _ := http.NewRequestWithContext(ctx, "GET", b.metrics, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return out
	}
	defer func() { _ = resp.Body.Close() }()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		if rest, ok := strings.CutPrefix(line, `citybrain_ws_delivery_lag_seconds_bucket{le="`); ok {
			// Kept as "lag<=<le>" for lagQuantile.
			le, val, _ := strings.Cut(rest, `"} `)
			if v, err := strconv.ParseFloat(strings.TrimSpace(val), 64); err == nil {
				out["lag<="+le] = v
			}
			continue
		}
		if strings.Contains(line, "{") {
			continue
		}
		name, val, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		if v, err := strconv.ParseFloat(strings.TrimSpace(val), 64); err == nil {
			out[name] = v
		}
	}
	return out
}

type report struct {
	xread                 float64
	single                loadResult
	perConnGo, perConnRSS float64
	runs                  []loadResult
	slow                  slowResult
}

func (r report) print(cfg config) {
	var per, p99s []float64
	for _, x := range r.runs {
		per = append(per, x.perSec)
		p99s = append(p99s, x.p99)
	}
	fmt.Println()
	fmt.Printf("summary (%d clients, %d events/s, medians of %d runs of %s):\n", cfg.clients, cfg.rate, len(r.runs), cfg.duration)
	check := func(ok bool) string {
		if ok {
			return "met"
		}
		return "NOT MET"
	}
	fmt.Printf("  memory per idle connection   %6.1f KB Go heap+stacks, %6.1f KB RSS   target ≤ 20 KB      %s\n", r.perConnGo/1024, r.perConnRSS/1024, check(r.perConnGo <= 20<<10))
	fmt.Printf("  deliveries per second        %9s                                 target ≥ 250,000   %s\n", num(median(per)), check(median(per) >= 250000))
	fmt.Printf("  latency p99 commit→client    %9s (baseline, 1 client: %s)          target ≤ 250 ms    %s\n", ms(median(p99s)), ms(r.single.p99), check(median(p99s) <= 250))
	if cfg.slow > 0 {
		fmt.Printf("  p99 of the others, %2.0f%% slow  %9s, slow ones dropped in %.0f s          target ≤ 250 ms    %s\n", cfg.slow*100, ms(r.slow.p99), r.slow.dropSecs, check(r.slow.p99 <= 250))
		back, idle := float64(r.slow.back.goBytes()), float64(r.slow.idle.goBytes())
		fmt.Printf("  memory after the drop        %9s (%+.1f%% of %s idle with all clients)  ≤ idle + 5%%      %s\n", mb(r.slow.back.goBytes()), 100*(back/idle-1), mb(r.slow.idle.goBytes()), check(back <= idle*1.05))
	}
	if !math.IsNaN(r.xread) {
		fmt.Printf("  baseline: raw XREAD %s entries/s; 1 wall client p99 %s\n", num(r.xread), ms(r.single.p99))
	}
}

// lagQuantile estimates the q-quantile of the gateway's own delivery lag
// (commit → end of its write to the socket) between two scrapes, as the
// upper bound of the histogram bucket it falls in.
func lagQuantile(before, after map[string]float64, q float64) float64 {
	type bk struct{ le, n float64 }
	var bs []bk
	for k, v := range after {
		if le, ok := strings.CutPrefix(k, "lag<="); ok {
			f, err := strconv.ParseFloat(le, 64)
			if le == "+Inf" {
				f, err = math.Inf(1), nil
			}
			if err == nil {
				bs = append(bs, bk{f, v - before[k]})
			}
		}
	}
	sort.Slice(bs, func(i, j int) bool { return bs[i].le < bs[j].le })
	if len(bs) == 0 || bs[len(bs)-1].n == 0 {
		return math.NaN()
	}
	want := q * bs[len(bs)-1].n
	for _, b := range bs {
		if b.n >= want {
			return b.le * 1000
		}
	}
	return math.Inf(1)
}

// selfCPU is this process's user+system CPU time in seconds.
func selfCPU() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

func num(f float64) string {
	if math.IsNaN(f) {
		return "n/a"
	}
	s := strconv.FormatInt(int64(math.Round(f)), 10)
	var out []byte
	for i := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	return string(out)
}

func ms(f float64) string {
	if math.IsNaN(f) {
		return "n/a"
	}
	return strconv.FormatFloat(f, 'f', 0, 64) + " ms"
}

func mb(b uint64) string { return strconv.FormatFloat(float64(b)/(1<<20), 'f', 1, 64) + " MB" }
