package embedded

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// The embedded Redis's (miniredis's) costs that docs/capacity.md
// ("All-in-one") found in the pipeline's profile, each measured on its own:
// a command while the gateway's XREAD BLOCK waits (by stream length: the
// default bound and the embedded one), the clock tick, a script, the
// fusion search.

func benchRedis(b *testing.B) (*Redis, *redis.Client) {
	b.Helper()
	r, err := StartRedis()
	if err != nil {
		b.Fatal(err)
	}
	rdb := redis.NewClient(&redis.Options{Addr: r.Addr()})
	b.Cleanup(func() { _ = rdb.Close(); r.Close() })
	return r, rdb
}

// BenchmarkCommandWithBlockedXRead: one small write while the realtime
// gateway's XREAD BLOCK waits on the delta stream (miniredis re-runs a
// blocked read after every command, comparing every entry of the stream).
func BenchmarkCommandWithBlockedXRead(b *testing.B) {
	for _, n := range []int{20000, 5000} { // redisstore.StreamMaxLen, EmbeddedStreamMaxLen
		b.Run(fmt.Sprint("stream=", n), func(b *testing.B) { benchBlockedXRead(b, n) })
	}
}

func benchBlockedXRead(b *testing.B, n int) {
	_, rdb := benchRedis(b)
	ctx := context.Background()
	pipe := rdb.Pipeline()
	for i := range n {
		pipe.XAdd(ctx, &redis.XAddArgs{Stream: "s", Values: []any{"n", i}})
	}
	if _, err := pipe.Exec(ctx); err != nil {
		b.Fatal(err)
	}
	last, err := rdb.XRevRangeN(ctx, "s", "+", "-", 1).Result()
	if err != nil {
		b.Fatal(err)
	}
	reader := redis.NewClient(&redis.Options{Addr: rdb.Options().Addr})
	defer func() { _ = reader.Close() }()
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		_ = reader.XRead(rctx, &redis.XReadArgs{Streams: []string{"s", last[0].ID}, Block: time.Minute}).Err()
	}()
	time.Sleep(100 * time.Millisecond)
	for i := 0; b.Loop(); i++ {
		if err := rdb.Set(ctx, "k", i, 0).Err(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkExpireTick: one second of the embedded Redis's clock with
// 200,000 keys, 1,000 of them with a TTL.
func BenchmarkExpireTick(b *testing.B) {
	r, rdb := benchRedis(b)
	ctx := context.Background()
	pipe := rdb.Pipeline()
	for i := range 200000 {
		ttl := time.Duration(0)
		if i%200 == 0 {
			ttl = time.Hour
		}
		pipe.Set(ctx, fmt.Sprint("key:", i), i, ttl)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		r.s.FastForward(time.Millisecond)
	}
}

// BenchmarkEvalSha: a small script (a read and a write), the shape of the
// fusion and projection scripts' overhead.
func BenchmarkEvalSha(b *testing.B) {
	_, rdb := benchRedis(b)
	ctx := context.Background()
	s := redis.NewScript(`local v = redis.call('GET', KEYS[1]) or '0'
redis.call('SET', KEYS[1], tonumber(v) + tonumber(ARGV[1]))
return cjson.encode({n = tonumber(v)})`)
	for b.Loop() {
		if err := s.Run(ctx, rdb, []string{"counter"}, 1).Err(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGeoSearch: the fusion script's search (ASC, COUNT 20) in a set
// of 10,000 open incidents.
func BenchmarkGeoSearch(b *testing.B) {
	_, rdb := benchRedis(b)
	ctx := context.Background()
	pipe := rdb.Pipeline()
	for i := range 10000 {
		pipe.GeoAdd(ctx, "geo", &redis.GeoLocation{Name: fmt.Sprint("INC-", i), Longitude: 120.0 + float64(i%100)*0.001, Latitude: 32.5 + float64(i/100)*0.001})
	}
	if _, err := pipe.Exec(ctx); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if err := rdb.GeoSearch(ctx, "geo", &redis.GeoSearchQuery{Longitude: 120.05, Latitude: 32.55, Radius: 300, RadiusUnit: "m", Sort: "ASC", Count: 20}).Err(); err != nil {
			b.Fatal(err)
		}
	}
}
