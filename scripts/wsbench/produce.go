package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/citybrain-ioc/citybrain/gis"
	"github.com/citybrain-ioc/citybrain/services/event"
	"github.com/citybrain-ioc/citybrain/services/redisstore"
)

// produceMain is "wsbench produce": it commits -rate incident changes per
// second through redisstore.Store.Apply (the projector's Lua script, which
// XADDs the delta) for -duration (0: until EOF on stdin), and prints
// "town grid worker" for each committed one (worker -1 when unassigned).
// The population flags must be the driver's: they give the same towns,
// grids and workers.
func produceMain(args []string) error {
	fs := flag.NewFlagSet("produce", flag.ContinueOnError)
	redisAddr := fs.String("redis", "127.0.0.1:6379", "Redis address")
	prefix := fs.String("prefix", "", "Redis key prefix")
	rate := fs.Int("rate", 1000, "changes per second")
	d := fs.Duration("duration", 0, "how long (0: until stdin ends)")
	id := fs.String("id", "R-", "incident id prefix (unique per run)")
	clients := fs.Int("clients", 10000, "")
	walls := fs.Int("walls", 200, "")
	dispatchers := fs.Int("dispatchers", 800, "")
	towns := fs.Int("towns", 14, "")
	grids := fs.Int("grids", 200, "")
	assigned := fs.Float64("assigned", 0.3, "")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rdb := redis.NewClient(&redis.Options{Addr: *redisAddr, PoolSize: 32})
	defer func() { _ = rdb.Close() }()
	p := &producer{
		store: redisstore.New(rdb, *prefix, time.Local), pop: newPopulation(*clients, *walls, *dispatchers, *towns, *grids),
		assigned: *assigned, idPrefix: *id,
	}
	// The benchmark's own key space is a projection built from nothing.
	if err := p.store.SetBuilt(ctx); err != nil {
		return err
	}
	eof := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		close(eof)
	}()
	out := bufio.NewWriter(os.Stdout)
	var outMu sync.Mutex
	go func() { // flush often: the driver counts as it goes
		for {
			time.Sleep(20 * time.Millisecond)
			outMu.Lock()
			err := out.Flush()
			outMu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	work := make(chan struct{}, *rate)
	var wg sync.WaitGroup
	for range 16 { // so that slow round trips do not hold the pace
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range work {
				lc, town, grid, worker := p.next()
				if ok, err := p.store.Apply(ctx, lc); err != nil || !ok {
					continue
				}
				outMu.Lock()
				_, _ = fmt.Fprintf(out, "%d %d %d\n", town, grid, worker)
				outMu.Unlock()
			}
		}()
	}
	t0 := time.Now()
	tick := time.NewTicker(2 * time.Millisecond)
	due := 0
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-eof:
			break loop
		case <-tick.C:
		}
		el := time.Since(t0)
		if *d > 0 && el >= *d {
			break
		}
		for n := int(el.Seconds() * float64(*rate)); due < n; due++ {
			select {
			case work <- struct{}{}:
			default: // cannot keep up: the driver reports the rate achieved
			}
		}
	}
	tick.Stop()
	close(work)
	wg.Wait()
	outMu.Lock()
	defer outMu.Unlock()
	return out.Flush()
}

type producer struct {
	store    *redisstore.Store
	pop      *population
	assigned float64
	idPrefix string
	nextID   atomic.Int64

	mu   sync.Mutex
	open []openInc // oldest first
}

// openInc is an incident the producer will close later.
type openInc struct {
	lc                 event.Lifecycle
	town, grid, worker int
}

var titles = []string{"占道经营", "垃圾堆放", "井盖缺失", "道路积水", "路灯不亮", "违章停车", "噪声扰民", "树木倒伏", "燃气泄漏报警", "交通事故"}

// next returns the next change to commit: half the time, once there are
// incidents older than 5 s, the closing of the oldest open one (so the
// number of open incidents, and with it the gateway's state, stays steady
// as in a real city), otherwise a new one.
func (p *producer) next() (event.Lifecycle, int, int, int) {
	p.mu.Lock()
	if len(p.open) > 0 && time.Since(p.open[0].lc.At) > 5*time.Second && mrand.IntN(2) == 0 {
		o := p.open[0]
		p.open = p.open[1:]
		p.mu.Unlock()
		now := time.Now()
		lc := o.lc
		lc.ID, lc.Version, lc.Action, lc.From, lc.To, lc.At, lc.EventID, lc.EventSource = lc.IncidentID+"/2", 2, "close", lc.To, event.Closed, now, "", ""
		inc := lc.Incident
		inc.Version, inc.State, inc.UpdatedAt = 2, event.Closed, now
		if inc.Task != nil {
			t := *inc.Task
			t.State = event.Closed
			inc.Task = &t
		}
		lc.Incident = inc
		return lc, o.town, o.grid, o.worker
	}
	p.mu.Unlock()
	lc, town, grid, worker := p.newIncident()
	p.mu.Lock()
	p.open = append(p.open, openInc{lc, town, grid, worker})
	p.mu.Unlock()
	return lc, town, grid, worker
}

// newIncident makes the first version of a new incident of about 1 KB (as
// the dispatcher writes it), in a random grid, assigned to one of that
// grid's workers for -assigned of them.
func (p *producer) newIncident() (event.Lifecycle, int, int, int) {
	n := p.nextID.Add(1)
	pop := p.pop
	grid := mrand.IntN(pop.grids)
	town := townOfGrid(grid, pop.towns)
	worker := -1
	if ws := pop.workByGrid[grid]; len(ws) > 0 && mrand.Float64() < p.assigned {
		worker = ws[mrand.IntN(len(ws))].widx // one of the grid's own workers
	}
	now := time.Now()
	id := fmt.Sprintf("BENCH-%s%09d", p.idPrefix, n)
	t := titles[n%int64(len(titles))]
	state := event.Filed
	inc := event.Incident{
		ID: id, Version: 1, State: state, Category: "city.public", CategoryName: "市容环境", Severity: 2,
		Title:       t + "（压测）",
		Description: "网格员巡查发现" + t + "，位于" + townCode(town) + "附近，影响通行与周边居民生活，请相关部门尽快处置并反馈结果。现场已拍照留存，等待派遣。",
		Source:      event.Grid, Sources: map[event.Source]int{event.Grid: 1}, EventCount: 1, EventIDs: []string{"EV-" + id},
		Location: &event.Point{Lon: 120.1 + mrand.Float64()*0.2, Lat: 32.4 + mrand.Float64()*0.2}, Address: "泰州市姜堰区人民路" + strconv.Itoa(int(n%500)) + "号",
		Place: gis.Place{
			District: gis.Unit{Code: "321204000000", Name: "姜堰区"},
			Town:     gis.Unit{Code: townCode(town), Name: "三水街道"},
			Village:  gis.Unit{Code: townCode(town)[:9] + "001", Name: "示意社区", Schematic: true},
			Grid:     gis.Unit{Code: gridCode(grid), Name: "第一网格", Schematic: true},
		},
		FirstSeen: now, LastSeen: now, UpdatedAt: now,
	}
	if worker >= 0 {
		inc.Task = &event.TaskRef{ID: "TASK-" + id, State: state, Department: "城管局", WorkerID: workerID(worker), Deadline: now.Add(4 * time.Hour)}
	}
	lc := event.Lifecycle{Schema: event.Schema, ID: id + "/1", IncidentID: id, Version: 1, Action: "file", To: state,
		Actor: event.Actor{ID: "wsbench", Role: "system"}, At: now, EventID: "EV-" + id, EventSource: event.Grid, Incident: inc}
	return lc, town, grid, worker
}
