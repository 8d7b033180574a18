// Package embedded starts the in-process servers of all-in-one mode: a
// Kafka-protocol broker (franz-go's kfake, persisting its log under a data
// directory) and a Redis server (miniredis, in memory: projections are
// rebuilt from Kafka at start-up). Both listen on loopback and are reached
// through the same kafka-go and go-redis clients as real servers; the
// process's own go-redis client connects to the Redis in memory (Dial).
package embedded

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime/pprof"
	"sync"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/alicebob/miniredis/v2/server"
	"github.com/twmb/franz-go/pkg/kfake"
)

// Kafka is a running embedded broker.
type Kafka struct{ c *kfake.Cluster }

// StartKafka starts a one-node broker. With dataDir non-empty its log and
// committed offsets persist there across restarts; port 0 picks a free port.
// With sync (and a dataDir) every batch is fsynced before the produce is
// answered; without it the log is written to the page cache before the
// answer (it survives the process being killed, not the machine losing
// power) and synced on segment roll and shutdown, as Kafka's default.
func StartKafka(dataDir string, port int, sync bool) (*Kafka, error) {
	opts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.ClusterID("citybrain-embedded"),
		kfake.GroupMinSessionTimeout(time.Second),
		kfake.DefaultNumPartitions(6),
	}
	if port > 0 {
		opts = append(opts, kfake.Ports(port))
	}
	if dataDir != "" {
		dir := filepath.Join(dataDir, "kafka")
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return nil, fmt.Errorf("embedded kafka: %w", err)
		}
		opts = append(opts, kfake.DataDir(dir))
		if sync {
			opts = append(opts, kfake.SyncWrites())
		}
	}
	var c *kfake.Cluster
	var err error
	// The broker's goroutines (started here) inherit the label: a CPU
	// profile of all-in-one mode shows the broker's share apart.
	pprof.Do(context.Background(), pprof.Labels("stage", "embedded kafka"), func(context.Context) {
		c, err = kfake.NewCluster(opts...)
	})
	if err != nil {
		return nil, fmt.Errorf("embedded kafka: %w", err)
	}
	return &Kafka{c: c}, nil
}

// Brokers returns the bootstrap addresses.
func (k *Kafka) Brokers() []string { return k.c.ListenAddrs() }

// Close stops the broker, flushing its log to disk.
func (k *Kafka) Close() { k.c.Close() }

// Redis is a running embedded Redis.
type Redis struct {
	s    *miniredis.Miniredis
	srv  *server.Server
	stop chan struct{}
	tick time.Duration

	mu     sync.Mutex // Dial against Close
	closed bool
}

// StartRedis starts miniredis on a free loopback port.
func StartRedis() (*Redis, error) { return StartRedisAt("") }

// StartRedisAt is StartRedis on addr ("" or a port 0: any free loopback port).
func StartRedisAt(addr string) (*Redis, error) { return startRedis(addr, TickEvery) }

func startRedis(addr string, tick time.Duration) (*Redis, error) {
	s := miniredis.NewMiniRedis()
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	var err error
	pprof.Do(context.Background(), pprof.Labels("stage", "embedded redis"), func(context.Context) {
		err = s.StartAddr(addr)
	})
	if err != nil {
		return nil, fmt.Errorf("embedded redis: %w", err)
	}
	r := &Redis{s: s, srv: s.Server(), stop: make(chan struct{}), tick: tick}
	go r.tickLoop()
	return r, nil
}

// TickEvery is how often the embedded Redis's clock moves forward. Each move
// costs a sort of every key in the database under miniredis's lock (its
// FastForward): a stall of every command that grows with the projections
// (0.15–0.5 s at 200,000 keys, BenchmarkExpireTick), so the clock moves once a
// minute, and a key expires at the first move that takes its TTL to zero:
// up to a minute late, or early — a key with a 30 s TTL set a moment before
// a move is gone at that move. Every TTL here tolerates that: websocket
// tickets carry their own deadline and their keys live two minutes longer
// (redisstore.PutTicket), the rebuild lock lasts 10 minutes within this one
// process, fusion decisions and seen marks last days, worker positions
// (10 minutes) are also aged by their reader.
const TickEvery = time.Minute

// tickLoop advances miniredis' clock with the wall clock: miniredis expires keys
// (EX, PX) only when its time is moved forward.
func (r *Redis) tickLoop() {
	t := time.NewTicker(r.tick)
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-t.C:
			r.s.FastForward(r.tick)
		}
	}
}

// Advance moves the clock forward by d at once, as the ticker does every
// TickEvery (for tests of what a move expires).
func (r *Redis) Advance(d time.Duration) { r.s.FastForward(d) }

// Addr returns host:port.
func (r *Redis) Addr() string { return r.s.Addr() }

// Dial connects to the server in process, through an in-memory connection
// instead of a loopback socket (memConn: buffered like a socket, so a
// client's pipeline is never held up by the server's replies): the
// clients of this process (go-redis's Dialer option) save the four system
// calls and two poller wake-ups a command costs over TCP, a tenth of
// all-in-one mode's CPU (docs/capacity.md). The server still listens on
// Addr for everything outside the process.
func (r *Redis) Dial() (net.Conn, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, errRedisClosed
	}
	client, end := memConnPair(memAddr("client"), memAddr("embedded redis"))
	// miniredis starts the connection's goroutines here: they carry the
	// same profile label as the listener's.
	pprof.Do(context.Background(), pprof.Labels("stage", "embedded redis"), func(context.Context) {
		r.srv.ServeConn(end)
	})
	return client, nil
}

var errRedisClosed = errors.New("embedded redis: closed")

// Close stops the server.
func (r *Redis) Close() {
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	close(r.stop)
	r.s.Close()
}
