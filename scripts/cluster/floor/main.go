// Command floor measures what the all-in-one pipeline's hops cost with none
// of our work in them: the floor under `make bench-allinone`'s figures, and
// so under any work we could take out of the stages.
//
// It runs in one process what `citybrain -target=all` runs, through the
// same parts and settings, and does nothing else at each step:
//
//   - the load generator of the benchmarks (scripts/cluster.Load: the
//     simulator's mix, one report per HTTP request, answers checked);
//   - ingest: fiber on loopback TCP, the idempotency check and mark on the
//     embedded Redis (two round trips, as intake), a synchronous produce to
//     raw.<source> on the embedded broker (kfake with its fsync, one
//     partition), the 202 with an id. No parsing, validation or GIS;
//   - enrich: a kafkabus consumer from raw.* to events that copies records;
//   - dispatch: a kafkabus consumer from events to tasks with one EVALSHA
//     per batch (an HSET per record) on the embedded Redis, as fusion's one
//     script call per batch;
//   - project: a kafkabus consumer of tasks with one EVALSHA per batch (an
//     HSET and an XADD to the delta stream per record), as the projector;
//   - the gateway: a non-blocking XREAD of the delta stream after each
//     projector write, at most every 10 ms (the all-in-one wakeups), a
//     websocket frame (gorilla) per read to one wall that reads them.
//
// Phases, alternating for -runs rounds, each -duration at the generator's
// full speed (-rate far above what is carried):
//
//   - http: the generator against a fiber handler that answers 202 at once
//     (what the load and HTTP cost by themselves);
//   - floor: the whole skeleton above.
//
// Per phase it prints reports acknowledged per second of the load, pushed
// per second until the last of them was on the wall, the process's CPU
// seconds per 1,000 reports until then (getrusage: everything, the
// generator too), and p50/p99 from POST to the wall's frame. -batch sends
// arrays, -linger makes ingest's producer wait longer to fill a batch,
// -fsync=false turns the broker's fsync off. `make bench-floor`;
// docs/capacity.md, "The floor", holds the figures.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gorilla/websocket"
	"github.com/redis/go-redis/v9"
	"github.com/segmentio/kafka-go"

	"github.com/citybrain-ioc/citybrain/gis"
	"github.com/citybrain-ioc/citybrain/gis/sample"
	"github.com/citybrain-ioc/citybrain/scripts/cluster"
	"github.com/citybrain-ioc/citybrain/services/embedded"
	"github.com/citybrain-ioc/citybrain/services/event"
	"github.com/citybrain-ioc/citybrain/services/kafkabus"
)

func main() {
	runs := flag.Int("runs", 3, "rounds of the two phases")
	duration := flag.Duration("duration", 10*time.Second, "length of one phase")
	rate := flag.Float64("rate", 50000, "reports per second offered (far above what is carried: full speed)")
	workers := flag.Int("workers", 16, "concurrent requests of the generator")
	batch := flag.Int("batch", 1, "reports per request (arrays of one source, as a feed sends them)")
	linger := flag.Duration("linger", 0, "how long ingest's producer waits to fill a batch (0: kafkabus's default, 2 ms, as citybrain's)")
	fsync := flag.Bool("fsync", true, "the embedded broker fsyncs each batch before it answers, as citybrain's (EMBEDDED_KAFKA_SYNC)")
	profile := flag.String("cpuprofile", "", "write a CPU profile of the first floor phase to this file")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	city, err := sample.Load()
	if err != nil {
		fail(err)
	}
	var results = map[string][]result{}
	for r := range *runs {
		for _, phase := range []string{"http", "floor"} {
			var prof *os.File
			if phase == "floor" && r == 0 && *profile != "" {
				if prof, err = os.Create(*profile); err != nil {
					fail(err)
				}
				if err := pprof.StartCPUProfile(prof); err != nil {
					fail(err)
				}
			}
			res, err := run(phase, r, *duration, *rate, *workers, *batch, *linger, *fsync, city, log)
			if prof != nil {
				pprof.StopCPUProfile()
				_ = prof.Close()
			}
			if err != nil {
				fail(fmt.Errorf("%s: %w", phase, err))
			}
			fmt.Printf("run %d %-5s %s\n", r+1, phase, res)
			results[phase] = append(results[phase], res)
		}
	}
	fmt.Println("medians:")
	for _, phase := range []string{"http", "floor"} {
		fmt.Printf("  %-5s %s\n", phase, median(results[phase]))
	}
	h, f := median(results["http"]), median(results["floor"])
	fmt.Printf("the hops without the load and HTTP: %.2f CPU s per 1,000 reports (floor %.2f − http %.2f)\n",
		f.cpuPer1000-h.cpuPer1000, f.cpuPer1000, h.cpuPer1000)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "floor:", err)
	os.Exit(1)
}

type result struct {
	// Acknowledged per second of the load; pushed per second until the
	// last of them was on the wall; CPU s per 1,000 acknowledged, until
	// then.
	acked, pushed, cpuPer1000 float64
	p50, p99                  time.Duration
}

func (r result) String() string {
	s := fmt.Sprintf("acknowledged %6.0f/s  pushed %6.0f/s  %.2f CPU s per 1,000", r.acked, r.pushed, r.cpuPer1000)
	if r.p99 > 0 {
		s += fmt.Sprintf("  POST → wall p50 %v p99 %v", r.p50.Round(time.Millisecond), r.p99.Round(time.Millisecond))
	}
	return s
}

func median(rs []result) result {
	pick := func(f func(result) float64) float64 {
		v := make([]float64, len(rs))
		for i, r := range rs {
			v[i] = f(r)
		}
		slices.Sort(v)
		return v[len(v)/2]
	}
	return result{
		acked:      pick(func(r result) float64 { return r.acked }),
		pushed:     pick(func(r result) float64 { return r.pushed }),
		cpuPer1000: pick(func(r result) float64 { return r.cpuPer1000 }),
		p50:        time.Duration(pick(func(r result) float64 { return float64(r.p50) })),
		p99:        time.Duration(pick(func(r result) float64 { return float64(r.p99) })),
	}
}

func cpuNow() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// run runs one phase on fresh servers.
func run(phase string, round int, d time.Duration, rate float64, workers, batch int, linger time.Duration, fsync bool, city *gis.City, log *slog.Logger) (result, error) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var p *pipeline
	var base string
	if phase == "floor" {
		var err error
		if p, err = startPipeline(ctx, linger, fsync, log); err != nil {
			return result{}, err
		}
		defer p.close()
		base = p.base
	} else {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return result{}, err
		}
		app := fiber.New(fiber.Config{DisableStartupMessage: true})
		var n atomic.Int64
		app.Post("/api/v1/ingest/:source", func(c *fiber.Ctx) error {
			items, err := split(c.Body())
			if err != nil {
				return fiber.NewError(fiber.StatusBadRequest, err.Error())
			}
			ids := make([]string, len(items))
			for i := range ids {
				ids[i] = c.Params("source") + ":" + strconv.FormatInt(n.Add(1), 10)
			}
			return c.Status(fiber.StatusAccepted).JSON(answer(ids...))
		})
		go func() { _ = app.Listener(ln) }()
		defer func() { _ = app.Shutdown() }()
		base = "http://" + ln.Addr().String()
	}
	load := &cluster.Load{Ingest: []string{base}, Rate: rate, Workers: workers, City: city,
		Seed: uint64(round + 1), Refs: fmt.Sprintf("FLOOR%d%s", round, phase), RetryFor: 10 * time.Second, Batch: batch}
	lctx, stop := context.WithTimeout(ctx, d)
	defer stop()
	cpu0, t0 := cpuNow(), time.Now()
	load.Run(lctx)
	wall := time.Since(t0)
	acks := load.Acks()
	if s := load.Stats(); s.Refused > 0 || s.Failed > 0 {
		return result{}, fmt.Errorf("the load was not all taken: %s %v", s, s.Problems)
	}
	res := result{acked: float64(len(acks)) / wall.Seconds(), pushed: float64(len(acks)) / wall.Seconds()}
	if p != nil {
		// The wall gets what was acknowledged, within a drain of up to 30 s.
		deadline := time.Now().Add(30 * time.Second)
		for p.seen() < len(acks) && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		lat, last := p.latencies(acks)
		if len(lat) < len(acks) {
			return result{}, fmt.Errorf("%d of %d acknowledged reports reached the wall", len(lat), len(acks))
		}
		// End to end: until the last of them was on the wall (a backlog
		// the stages drain after the load counts against them).
		res.pushed = float64(len(lat)) / max(wall, last.Sub(t0)).Seconds()
		res.p50, res.p99 = lat[len(lat)/2], lat[len(lat)*99/100]
	}
	// CPU from the start of the load until the wall had everything (the
	// drain polls every 20 ms: its own cost is a rounding error).
	res.cpuPer1000 = (cpuNow() - cpu0).Seconds() / float64(len(acks)) * 1000
	return res, nil
}

// split returns the reports of a request: the body, or the items of an
// array (-batch).
func split(body []byte) ([]json.RawMessage, error) {
	if len(body) == 0 || body[0] != '[' {
		return []json.RawMessage{body}, nil
	}
	var items []json.RawMessage
	err := json.Unmarshal(body, &items)
	return items, err
}

func answer(ids ...string) fiber.Map {
	acc := make([]fiber.Map, len(ids))
	for i, id := range ids {
		acc[i] = fiber.Map{"id": id}
	}
	return fiber.Map{"accepted": acc}
}

// pipeline is the skeleton: servers, stages and the wall.
type pipeline struct {
	base    string
	closers []func()
	mu      sync.Mutex
	arrived map[string]time.Time // id → when the wall had it
}

func (p *pipeline) close() {
	for i := len(p.closers) - 1; i >= 0; i-- {
		p.closers[i]()
	}
}

func (p *pipeline) seen() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.arrived)
}

// latencies returns POST → wall of each acknowledged report that arrived,
// sorted, and when the last of them arrived.
func (p *pipeline) latencies(acks []cluster.Ack) (lat []time.Duration, last time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, a := range acks {
		if at, ok := p.arrived[a.ID]; ok {
			lat = append(lat, at.Sub(a.Sent))
			if at.After(last) {
				last = at
			}
		}
	}
	slices.Sort(lat)
	return lat, last
}

const (
	fuseScript = `for i = 1, #ARGV do redis.call('HSET', KEYS[1], ARGV[i], '1') end return #ARGV`
	// As the projection: a hash per record and the delta stream, bounded
	// as redisstore.EmbeddedStreamMaxLen bounds it.
	applyScript = `for i = 1, #ARGV do redis.call('HSET', KEYS[1], ARGV[i], '1')
redis.call('XADD', KEYS[2], 'MAXLEN', '~', '5000', '*', 'id', ARGV[i]) end return #ARGV`
	stream = "floor:deltas"
)

func startPipeline(ctx context.Context, linger time.Duration, fsync bool, log *slog.Logger) (*pipeline, error) {
	p := &pipeline{arrived: map[string]time.Time{}}
	dir, err := os.MkdirTemp("", "floor-")
	if err != nil {
		return nil, err
	}
	p.closers = append(p.closers, func() { _ = os.RemoveAll(dir) })
	k, err := embedded.StartKafka(dir, 0, fsync)
	if err != nil {
		return nil, err
	}
	p.closers = append(p.closers, k.Close)
	r, err := embedded.StartRedis()
	if err != nil {
		p.close()
		return nil, err
	}
	p.closers = append(p.closers, r.Close)
	rdb := redis.NewClient(&redis.Options{Addr: r.Addr(), PoolSize: 64, MaxRetries: 3,
		Dialer: func(context.Context, string, string) (net.Conn, error) { return r.Dial() }})
	p.closers = append(p.closers, func() { _ = rdb.Close() })
	brokers := k.Brokers()
	var sources []string
	for _, s := range event.Sources {
		sources = append(sources, string(s))
	}
	topics := kafkabus.Topics{}
	if err := kafkabus.EnsureTopics(ctx, brokers, 1, 1, topics.All(sources)); err != nil {
		p.close()
		return nil, err
	}
	prod := kafkabus.NewProducer(brokers) // the stages'
	p.closers = append(p.closers, func() { _ = prod.Close() })
	in := prod // ingest's: citybrain's one producer, or one that waits longer to fill a batch
	if linger > 0 {
		in = kafkabus.NewProducer(brokers).WithBatchTimeout(linger)
		p.closers = append(p.closers, func() { _ = in.Close() })
	}
	fuse, apply := redis.NewScript(fuseScript), redis.NewScript(applyScript)
	wake := make(chan struct{}, 1)

	// ingest
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		p.close()
		return nil, err
	}
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	var n atomic.Int64
	app.Post("/api/v1/ingest/:source", func(c *fiber.Ctx) error {
		src := c.Params("source")
		items, err := split(c.Body())
		if err != nil {
			return fiber.NewError(fiber.StatusBadRequest, err.Error())
		}
		uctx := c.UserContext()
		ids := make([]string, len(items))
		keys := make([]string, len(items))
		msgs := make([]kafka.Message, len(items))
		for i, it := range items {
			ids[i] = src + ":" + strconv.FormatInt(n.Add(1), 10)
			keys[i] = "floor:seen:" + ids[i]
			msgs[i] = kafka.Message{Topic: topics.Raw(src), Key: []byte(ids[i]), Value: append([]byte(ids[i]+"\n"), it...)}
		}
		if err := rdb.Exists(uctx, keys...).Err(); err != nil {
			return fiber.NewError(fiber.StatusServiceUnavailable, err.Error())
		}
		if err := in.Publish(uctx, msgs...); err != nil {
			return fiber.NewError(fiber.StatusServiceUnavailable, err.Error())
		}
		pipe := rdb.Pipeline()
		for _, k := range keys {
			pipe.Set(uctx, k, 1, time.Hour)
		}
		_, _ = pipe.Exec(uctx)
		return c.Status(fiber.StatusAccepted).JSON(answer(ids...))
	})
	go func() { _ = app.Listener(ln) }()
	p.closers = append(p.closers, func() { _ = app.Shutdown() })
	p.base = "http://" + ln.Addr().String()

	// the three consumer stages
	sctx, stop := context.WithCancel(ctx)
	var stages sync.WaitGroup
	p.closers = append(p.closers, func() { stop(); stages.Wait() })
	stage := func(group string, in []string, proc kafkabus.Processor) {
		c := kafkabus.NewConsumer(kafkabus.ConsumerConfig{Brokers: brokers, GroupID: group, Topics: in}, prod, topics.DLQ(), nil, log)
		stages.Add(1)
		go func() { defer stages.Done(); _ = c.RunBatch(sctx, proc) }()
	}
	var raws []string
	for _, s := range sources {
		raws = append(raws, topics.Raw(s))
	}
	stage("floor-enrich", raws, &copier{to: topics.Events()})
	stage("floor-dispatch", []string{topics.Events()}, &scripted{to: topics.Tasks(), run: func(ctx context.Context, ids []any) error {
		return fuse.Run(ctx, rdb, []string{"floor:fusion"}, ids...).Err()
	}})
	stage("floor-project", []string{topics.Tasks()}, &scripted{run: func(ctx context.Context, ids []any) error {
		if err := apply.Run(ctx, rdb, []string{"floor:incidents", stream}, ids...).Err(); err != nil {
			return err
		}
		select {
		case wake <- struct{}{}:
		default:
		}
		return nil
	}})

	// the gateway and its wall
	up := websocket.Upgrader{}
	frames := make(chan []byte, 64)
	mux := http.NewServeMux()
	mux.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer func() { _ = c.Close() }()
		for {
			select {
			case <-sctx.Done():
				return
			case f := <-frames:
				if c.WriteMessage(websocket.TextMessage, f) != nil {
					return
				}
			}
		}
	})
	wln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		p.close()
		return nil, err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(wln) }()
	p.closers = append(p.closers, func() { _ = srv.Close() })
	stages.Add(1)
	go func() {
		defer stages.Done()
		last := "0"
		for {
			select {
			case <-sctx.Done():
				return
			case <-wake:
			case <-time.After(time.Second):
			}
			res, err := rdb.XRead(sctx, &redis.XReadArgs{Streams: []string{stream, last}, Count: 5000, Block: -1}).Result()
			if err != nil || len(res) == 0 {
				continue
			}
			var ids []string
			for _, m := range res[0].Messages {
				last = m.ID
				ids = append(ids, m.Values["id"].(string))
			}
			b, _ := json.Marshal(ids)
			select {
			case frames <- b:
			case <-sctx.Done():
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	wall, _, err := websocket.DefaultDialer.Dial("ws://"+wln.Addr().String()+"/ws", nil)
	if err != nil {
		p.close()
		return nil, err
	}
	p.closers = append(p.closers, func() { _ = wall.Close() })
	go func() {
		for {
			_, b, err := wall.ReadMessage()
			if err != nil {
				return
			}
			now := time.Now()
			var ids []string
			_ = json.Unmarshal(b, &ids)
			p.mu.Lock()
			for _, id := range ids {
				p.arrived[id] = now
			}
			p.mu.Unlock()
		}
	}()
	return p, nil
}

// copier passes each record on (the enricher without its work).
type copier struct{ to string }

func (c *copier) Process(_ context.Context, m kafka.Message) ([]kafka.Message, error) {
	return []kafka.Message{{Topic: c.to, Key: m.Key, Value: m.Value}}, nil
}

func (c *copier) Flush(context.Context) error { return nil }

// scripted collects a batch's ids, passes the records on (when to is set)
// and runs one script for the batch at its flush.
type scripted struct {
	to  string
	run func(ctx context.Context, ids []any) error
	ids []any // the script's arguments
}

func (s *scripted) Process(_ context.Context, m kafka.Message) ([]kafka.Message, error) {
	id, _, _ := strings.Cut(string(m.Value), "\n")
	s.ids = append(s.ids, id)
	if s.to == "" {
		return nil, nil
	}
	return []kafka.Message{{Topic: s.to, Key: m.Key, Value: m.Value}}, nil
}

func (s *scripted) Flush(ctx context.Context) error {
	if len(s.ids) == 0 {
		return nil
	}
	if err := s.run(ctx, s.ids); err != nil {
		return err
	}
	s.ids = s.ids[:0]
	return nil
}
