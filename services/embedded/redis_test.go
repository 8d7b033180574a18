package embedded

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// TestStreamReadAfterID covers the embedded Redis's XREAD as the realtime
// gateway uses it: reads from the start, the middle, the end and "$", with
// and without COUNT, and a blocked read woken by a later XADD.
func TestStreamReadAfterID(t *testing.T) {
	r, err := StartRedis()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ctx := context.Background()
	rdb := redis.NewClient(&redis.Options{Addr: r.Addr()})
	defer func() { _ = rdb.Close() }()
	for i := 1; i <= 100; i++ {
		if err := rdb.XAdd(ctx, &redis.XAddArgs{Stream: "s", ID: fmt.Sprintf("%d-%d", 1000+i/10, i%10), Values: []any{"n", i}}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	read := func(from string, count int64) []redis.XMessage {
		t.Helper()
		res, err := rdb.XRead(ctx, &redis.XReadArgs{Streams: []string{"s", from}, Count: count, Block: -1}).Result()
		if err == redis.Nil {
			return nil
		}
		if err != nil {
			t.Fatalf("XREAD %s: %v", from, err)
		}
		return res[0].Messages
	}
	check := func(got []redis.XMessage, first string, n int) {
		t.Helper()
		if len(got) != n || (n > 0 && got[0].ID != first) {
			t.Fatalf("got %d entries starting at %v, want %d from %s", len(got), got, n, first)
		}
	}
	check(read("0-0", 0), "1000-1", 100)
	check(read("0", 10), "1000-1", 10)
	check(read("1004-5", 0), "1004-6", 55) // entries 46…100, after 45
	check(read("1004-5", 3), "1004-6", 3)
	check(read("1004-55", 0), "1005-0", 51) // an ID between entries: 50…100
	check(read("1010-0", 0), "", 0)         // the last one
	check(read("$", 0), "", 0)

	got := make(chan []redis.XMessage, 1)
	go func() {
		res, err := rdb.XRead(ctx, &redis.XReadArgs{Streams: []string{"s", "1010-0"}, Block: 5 * time.Second}).Result()
		if err != nil {
			t.Error(err)
			got <- nil
			return
		}
		got <- res[0].Messages
	}()
	time.Sleep(100 * time.Millisecond)
	if err := rdb.XAdd(ctx, &redis.XAddArgs{Stream: "s", ID: "2000-0", Values: []any{"n", 101}}).Err(); err != nil {
		t.Fatal(err)
	}
	check(<-got, "2000-0", 1)
}

// TestKeysExpire: the embedded Redis expires keys with a TTL as the wall
// clock moves (every TickEvery; here every 200 ms) and keeps the others.
func TestKeysExpire(t *testing.T) {
	const tick = 200 * time.Millisecond
	r, err := startRedis("", tick)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ctx := context.Background()
	rdb := redis.NewClient(&redis.Options{Addr: r.Addr()})
	defer func() { _ = rdb.Close() }()
	for i := range 50 {
		ttl := time.Duration(0)
		if i%2 == 0 {
			ttl = time.Second
		}
		if err := rdb.Set(ctx, fmt.Sprint("k", i), i, ttl).Err(); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(time.Second + 3*tick)
	for {
		n, err := rdb.DBSize(ctx).Result()
		if err != nil {
			t.Fatal(err)
		}
		if n == 25 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d keys after %v, want the 25 without a TTL", n, time.Second+3*tick)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if v, err := rdb.Get(ctx, "k1").Result(); err != nil || v != "1" {
		t.Fatalf("k1 = %q, %v", v, err)
	}
}

// TestDialInProcess: a client connected through Dial (no socket) shares the
// server with TCP clients, waits in a blocking read until another client
// writes, and gets a timeout, not a hang, from a read that blocks longer
// than its deadline allows.
func TestDialInProcess(t *testing.T) {
	r, err := StartRedis()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ctx := context.Background()
	mem := redis.NewClient(&redis.Options{Addr: r.Addr(), ReadTimeout: 300 * time.Millisecond,
		Dialer: func(context.Context, string, string) (net.Conn, error) { return r.Dial() }})
	defer func() { _ = mem.Close() }()
	tcp := redis.NewClient(&redis.Options{Addr: r.Addr()})
	defer func() { _ = tcp.Close() }()

	if err := mem.Set(ctx, "k", "from the pipe", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if v, err := tcp.Get(ctx, "k").Result(); err != nil || v != "from the pipe" {
		t.Fatalf("TCP client reads %q, %v", v, err)
	}

	got := make(chan error, 1)
	go func() {
		res, err := mem.XRead(ctx, &redis.XReadArgs{Streams: []string{"s", "$"}, Block: 5 * time.Second}).Result()
		if err == nil && (len(res) != 1 || len(res[0].Messages) != 1 || res[0].Messages[0].Values["n"] != "1") {
			err = fmt.Errorf("woken with %v", res)
		}
		got <- err
	}()
	time.Sleep(100 * time.Millisecond)
	if err := tcp.XAdd(ctx, &redis.XAddArgs{Stream: "s", Values: []any{"n", 1}}).Err(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-got:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("a blocked read through the pipe was not woken by a write over TCP")
	}

	// A pipeline: go-redis writes every command before reading a reply;
	// the server answers each as it reads it. (Over net.Pipe, which hands
	// writes over synchronously, this waited until the write deadline.)
	// Its own client: 10,000 replies within the 300 ms read timeout above
	// is not always possible on a loaded machine.
	bulk := redis.NewClient(&redis.Options{Addr: r.Addr(), ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second,
		Dialer: func(context.Context, string, string) (net.Conn, error) { return r.Dial() }})
	defer func() { _ = bulk.Close() }()
	pipe := bulk.Pipeline()
	for i := range 5000 {
		pipe.Set(ctx, fmt.Sprintf("p:%d", i), i, 0)
	}
	gets := make([]*redis.StringCmd, 5000)
	for i := range gets {
		gets[i] = pipe.Get(ctx, fmt.Sprintf("p:%d", i))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatalf("pipeline of 10,000 commands through the in-memory connection: %v", err)
	}
	if v, _ := gets[4999].Int(); v != 4999 {
		t.Fatalf("last GET of the pipeline: %d", v)
	}

	// A blocking command the server answers late: go-redis allows Block +
	// ReadTimeout; the pipe's deadline ends the wait like a socket's.
	start := time.Now()
	_, err = mem.Do(ctx, "BLPOP", "empty", "0").Result()
	if err == nil || time.Since(start) > 3*time.Second {
		t.Fatalf("BLPOP forever through the pipe: %v after %v, want a timeout", err, time.Since(start))
	}
	if v, err := mem.Get(ctx, "k").Result(); err != nil || v != "from the pipe" {
		t.Fatalf("after the timeout, the client reads %q, %v", v, err)
	}
}
