package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/citybrain-ioc/citybrain/services/auth"
)

// kind of client.
const (
	kindWall = iota
	kindDispatcher
	kindWorker
)

var kindNames = []string{"wall", "dispatcher", "worker"}

// bclient is one benchmark connection. Its reader stays in the driver
// process; the gateway runs in another.
type bclient struct {
	idx    int
	kind   int
	town   int // dispatcher: its town; worker: its grid's town
	grid   int // worker only
	widx   int // worker only: index in population.workers
	claims auth.Claims
	ws     *websocket.Conn

	slow     atomic.Bool // stops reading (for the slow-reader phase)
	dead     atomic.Bool // the connection ended
	snapshot chan struct{}
	err      error
}

func (c *bclient) channel() string { return kindNames[c.kind] }

// population is every client and the indexes the producer uses to count
// how many clients should receive each event.
type population struct {
	clients    []*bclient
	towns      int
	grids      int
	walls      []*bclient
	dispByTown [][]*bclient
	workByGrid [][]*bclient
	workers    []*bclient
}

func townCode(t int) string       { return fmt.Sprintf("3212041%02d000", t+1) }
func gridCode(g int) string       { return fmt.Sprintf("3212041%02d%03d-%02d", g%100+1, g/100+1, 1) }
func workerID(i int) string       { return fmt.Sprintf("w%05d", i) }
func townOfGrid(g, towns int) int { return g % towns }

// newPopulation makes n clients: walls wall viewers, dispatchers spread over
// the towns (scoped to one each), and workers spread over the grids.
func newPopulation(n, walls, dispatchers, towns, grids int) *population {
	p := &population{towns: towns, grids: grids, dispByTown: make([][]*bclient, towns), workByGrid: make([][]*bclient, grids)}
	for i := range n {
		c := &bclient{idx: i, snapshot: make(chan struct{})}
		switch {
		case i < walls:
			c.kind = kindWall
			c.claims = auth.Claims{Subject: fmt.Sprintf("wall%d", i), Role: auth.Viewer}
			p.walls = append(p.walls, c)
		case i < walls+dispatchers:
			c.kind = kindDispatcher
			c.town = (i - walls) % towns
			c.claims = auth.Claims{Subject: fmt.Sprintf("d%04d", i), Role: auth.Dispatcher, Scope: townCode(c.town)}
			p.dispByTown[c.town] = append(p.dispByTown[c.town], c)
		default:
			w := len(p.workers)
			c.kind = kindWorker
			c.widx = w
			c.grid = w % grids
			c.town = townOfGrid(c.grid, towns)
			c.claims = auth.Claims{Subject: workerID(w), Role: auth.Worker, Scope: gridCode(c.grid)}
			p.workByGrid[c.grid] = append(p.workByGrid[c.grid], c)
			p.workers = append(p.workers, c)
		}
		p.clients = append(p.clients, c)
	}
	return p
}

func (p *population) dispatchers() int {
	n := 0
	for _, d := range p.dispByTown {
		n += len(d)
	}
	return n
}

// recipients counts the readers (not slow, not dead) that should get an
// event in town/grid assigned to worker (-1 for none), by the gateway's
// scope rules.
func (p *population) recipients(town, grid, worker int) int {
	n := 0
	count := func(cs []*bclient) {
		for _, c := range cs {
			if !c.slow.Load() && !c.dead.Load() {
				n++
			}
		}
	}
	count(p.walls)
	count(p.dispByTown[town])
	if worker >= 0 {
		count(p.workers[worker : worker+1])
	} else {
		count(p.workByGrid[grid])
	}
	return n
}

// hist is a latency histogram: 1 ms buckets to 1 s, 10 ms buckets to 10 s,
// sharded so that 10,000 readers do not contend on one cache line, and by
// client kind (shardsPerKind each) so that each kind's quantiles can be told.
type hist struct {
	shards [64][1902]atomic.Int64
}

const shardsPerKind = 21

// headLen is how many bytes of a message's payload a client looks at.
const headLen = 128

// shard is the histogram shard of c's deliveries.
func (c *bclient) shard() int { return c.kind*shardsPerKind + c.idx%shardsPerKind }

func bucket(ms int64) int {
	switch {
	case ms < 0:
		return 0
	case ms < 1000:
		return int(ms)
	case ms < 10000:
		return 1000 + int(ms-1000)/10
	default:
		return 1900
	}
}

func bucketMs(b int) float64 {
	if b < 1000 {
		return float64(b) + 1 // upper bound: an arrival in [b, b+1) ms
	}
	return 1000 + float64(b-1000+1)*10
}

func (h *hist) add(shard int, ms int64) { h.shards[shard%64][bucket(ms)].Add(1) }

func (h *hist) merged() (counts [1902]int64, total int64) {
	return h.mergedShards(0, len(h.shards))
}

func (h *hist) mergedShards(from, to int) (counts [1902]int64, total int64) {
	for s := from; s < to; s++ {
		for b := range h.shards[s] {
			v := h.shards[s][b].Load()
			counts[b] += v
			total += v
		}
	}
	return
}

func (h *hist) count() int64 {
	_, t := h.merged()
	return t
}

// quantile returns the q-quantile in milliseconds (bucket upper bound).
func (h *hist) quantile(q float64) float64 {
	counts, total := h.merged()
	return quantileOf(&counts, total, q)
}

// kindQuantile is the q-quantile of one kind of client's deliveries.
func (h *hist) kindQuantile(kind int, q float64) float64 {
	counts, total := h.mergedShards(kind*shardsPerKind, (kind+1)*shardsPerKind)
	return quantileOf(&counts, total, q)
}

// quantileOf is the q-quantile of bucket counts with the given total; NaN
// when there is none.
func quantileOf(counts *[1902]int64, total int64, q float64) float64 {
	if total == 0 {
		return math.NaN()
	}
	want := int64(math.Ceil(q * float64(total)))
	var acc int64
	for b, n := range counts {
		acc += n
		if acc >= want {
			return bucketMs(b)
		}
	}
	return bucketMs(len(counts) - 1)
}

// reader reads c's messages through gorilla until the connection ends
// (-reader gorilla; the default reader is the event loops of
// epoll_linux.go).
func (c *bclient) reader(h *atomic.Pointer[hist], stop <-chan struct{}, wg *sync.WaitGroup) {
	defer wg.Done()
	head := make([]byte, headLen)
	snapped := false
	for {
		if c.slow.Load() {
			<-stop // a slow reader stops reading altogether
			return
		}
		_, r, err := c.ws.NextReader()
		if err != nil {
			c.err = err
			c.dead.Store(true)
			if !snapped {
				close(c.snapshot)
			}
			return
		}
		n, err := io.ReadFull(r, head)
		now := time.Now().UnixMilli()
		if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
			c.err = err
			c.dead.Store(true)
			return
		}
		if n == len(head) {
			if _, err := io.Copy(io.Discard, r); err != nil {
				c.err = err
				c.dead.Store(true)
				return
			}
		}
		c.message(head[:n], now, h.Load(), &snapped)
	}
}

// message looks at the first bytes of a message (m) read at now (Unix ms):
// the first snapshot closes c.snapshot, and an incident delta records its
// latency from its commit to the stream (the stream id is the commit time
// in ms on the Redis clock, which is this machine's clock) to its arrival.
func (c *bclient) message(m []byte, now int64, h *hist, snapped *bool) {
	switch string(field(m, `"type":"`)) { // (compared without a copy)
	case "snapshot":
		if !*snapped {
			*snapped = true
			close(c.snapshot)
		}
	case "delta":
		if string(field(m, `"kind":"`)) != "incident" {
			return
		}
		seq := field(m, `"seq":"`)
		i := bytes.IndexByte(seq, '-')
		if i <= 0 {
			return
		}
		var ms int64
		for _, d := range seq[:i] {
			ms = ms*10 + int64(d-'0')
		}
		h.add(c.shard(), now-ms)
	case "error":
		c.err = fmt.Errorf("server error: %s", m)
	}
}

// field is the string value after key in b, without copying.
func field(b []byte, key string) []byte {
	i := bytes.Index(b, []byte(key))
	if i < 0 {
		return nil
	}
	b = b[i+len(key):]
	j := bytes.IndexByte(b, '"')
	if j < 0 {
		return nil
	}
	return b[:j]
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
