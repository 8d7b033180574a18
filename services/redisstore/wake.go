package redisstore

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Wake-ups for the readers of the realtime streams in the same process.
//
// A gateway normally waits for new stream entries in a blocking XREAD,
// which costs a real Redis nothing until an entry arrives. The embedded
// Redis (miniredis) re-runs every blocked XREAD after every command any
// client sends, under its global lock, and each run compares every entry of
// the stream: with the gateway's two readers waiting, each command of the
// pipeline paid two scans of thousands of entries, most of the all-in-one
// process's CPU (docs/capacity.md). In all-in-one mode the writers (the
// projector, the wall mode, alerts, positions) and the gateway share this
// Store, so the Store tells the readers when it wrote a stream, and they
// read without BLOCK only then (and once a second as a safety net).

// signal is a broadcast: a reader takes its channel before it reads, and
// the channel is closed by the next write after that, so a write between
// the read and the wait is not missed.
type signal struct {
	mu sync.Mutex
	ch chan struct{}
}

func (s *signal) wait() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ch == nil {
		s.ch = make(chan struct{})
	}
	return s.ch
}

func (s *signal) fire() {
	s.mu.Lock()
	if s.ch != nil {
		close(s.ch)
		s.ch = nil
	}
	s.mu.Unlock()
}

// wakes holds a signal per stream; nil when the store does not signal.
type wakes struct {
	wall, pos signal
}

// WithLocalWakeups makes the store signal its writes of the realtime
// streams to readers in this process (WallWritten, PositionsWritten), for
// the embedded Redis, and returns the store. Writes by other processes are
// not signalled: use it only where this process is the only writer.
func (s *Store) WithLocalWakeups() *Store {
	s.wake = &wakes{}
	return s
}

// WallWritten returns a channel closed at the next write of the delta
// stream after the call, or nil when the store does not signal (then read
// with a blocking XREAD).
func (s *Store) WallWritten() <-chan struct{} {
	if s.wake == nil {
		return nil
	}
	return s.wake.wall.wait()
}

// PositionsWritten is WallWritten for the position stream.
func (s *Store) PositionsWritten() <-chan struct{} {
	if s.wake == nil {
		return nil
	}
	return s.wake.pos.wait()
}

func (s *Store) wroteWall() {
	if s.wake != nil {
		s.wake.wall.fire()
	}
}

func (s *Store) wrotePositions() {
	if s.wake != nil {
		s.wake.pos.fire()
	}
}

// ReadAfter returns up to count entries of stream after the id after, oldest
// first; none (and no error) when there are none yet. On a store that
// signals its writes (the embedded Redis) it does not block and reads
// backwards from the newest entry (XREVRANGE + (after): miniredis's XREAD
// and XRANGE compare every entry of the stream from the oldest, parsing
// both ids each time, where reading backwards stops at the first entry
// already read. Elsewhere it is an XREAD that blocks up to block.
func (s *Store) ReadAfter(ctx context.Context, stream, after string, count int64, block time.Duration) ([]redis.XMessage, error) {
	if s.wake == nil {
		res, err := s.rdb.XRead(ctx, &redis.XReadArgs{Streams: []string{stream, after}, Count: count, Block: block}).Result()
		if errors.Is(err, redis.Nil) || (err == nil && len(res) == 0) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		return res[0].Messages, nil
	}
	// Newest first, chunk by chunk back to after; then the oldest count.
	var all []redis.XMessage
	hi := "+"
	for {
		got, err := s.rdb.XRevRangeN(ctx, stream, hi, "("+after, count).Result()
		if err != nil {
			return nil, err
		}
		all = append(all, got...)
		if int64(len(got)) < count {
			break
		}
		hi = "(" + got[len(got)-1].ID
	}
	slices.Reverse(all)
	if int64(len(all)) > count {
		all = all[:count]
	}
	return all, nil
}
