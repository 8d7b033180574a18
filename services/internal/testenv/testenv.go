// Package testenv gives tests a Kafka broker and a Redis server: the real
// ones named by TEST_KAFKA_BROKERS and TEST_REDIS_ADDR (make
// test-integration), else embedded ones started for the test. With
// TEST_REAL=1 (set by make test-integration) a missing address fails the
// test instead of falling back, so CI cannot pass without real servers.
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/segmentio/kafka-go"

	"github.com/citybrain-ioc/citybrain/services/embedded"
	"github.com/citybrain-ioc/citybrain/services/redisstore"
)

// Real reports whether tests must run against real servers.
func Real() bool { return os.Getenv("TEST_REAL") == "1" }

// Kafka returns bootstrap brokers for the test.
func Kafka(t testing.TB) []string {
	t.Helper()
	if v := os.Getenv("TEST_KAFKA_BROKERS"); v != "" {
		return strings.Split(v, ",")
	}
	if Real() {
		t.Fatal("TEST_REAL=1 but TEST_KAFKA_BROKERS is not set: start Kafka with scripts/dev/kafka.sh start")
	}
	k, err := embedded.StartKafka("", 0, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(k.Close)
	return k.Brokers()
}

// Redis returns a Redis address for the test. Tests on a real server must
// use their own key prefix (see Prefix) and not flush the whole database
// unless they own it.
func Redis(t testing.TB) string {
	t.Helper()
	if v := os.Getenv("TEST_REDIS_ADDR"); v != "" {
		return v
	}
	if Real() {
		t.Fatal("TEST_REAL=1 but TEST_REDIS_ADDR is not set: start Redis with scripts/dev/redis.sh start")
	}
	r, err := embedded.StartRedis()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	return r.Addr()
}

// Prefix returns a unique name prefix (topics, keys, groups) for one test.
func Prefix(t testing.TB) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return "t" + hex.EncodeToString(b) + "."
}

// Testdata returns the path of a file in the shared test data
// (../shared/testdata beside the repository), found by walking up from
// the working directory, or in $SHARED_DIR/testdata when that is set (a
// checkout elsewhere). A missing file fails the test.
func Testdata(t testing.TB, name string) string {
	t.Helper()
	if d := os.Getenv("SHARED_DIR"); d != "" {
		p := filepath.Join(d, "testdata", name)
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("shared test data %s not in SHARED_DIR=%s: %v", name, d, err)
		}
		return p
	}
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		p := filepath.Join(dir, "shared", "testdata", name)
		if _, err := os.Stat(p); err == nil {
			return p
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatalf("shared test data %s not found above the working directory (want shared/ beside the repository, or SHARED_DIR)", name)
		}
		dir = parent
	}
}

// Store returns a projection store on the test's Redis with a unique key
// prefix, flushed when the test ends.
func Store(t testing.TB) *redisstore.Store {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: Redis(t)})
	s := redisstore.New(rdb, Prefix(t), time.UTC)
	if err := s.SetBuilt(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = s.Flush(context.Background())
		_ = rdb.Close()
	})
	return s
}

// Publisher records what is published instead of writing to Kafka, for
// unit tests of a single stage (the suites use a real broker).
type Publisher struct {
	mu   sync.Mutex
	Msgs []kafka.Message
}

// Publish records msgs.
func (p *Publisher) Publish(_ context.Context, msgs ...kafka.Message) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.Msgs = append(p.Msgs, msgs...)
	return nil
}

// Dump reads every key of the store but its delta stream and its meta
// hash (when it was marked built, to the second: two stores built a moment
// apart differ there), as text, to compare two stores: hash counters at
// zero read as never set, and the store's prefix is left out.
func Dump(t testing.TB, ctx context.Context, s *redisstore.Store) map[string]string {
	t.Helper()
	rdb := s.Client()
	keys, err := rdb.Keys(ctx, s.Prefix()+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, k := range keys {
		if k == s.WallStream() || k == s.Prefix()+"meta" {
			continue
		}
		var v any
		switch typ := rdb.Type(ctx, k).Val(); typ {
		case "string":
			v = rdb.Get(ctx, k).Val()
		case "hash":
			h := rdb.HGetAll(ctx, k).Val()
			for f, x := range h {
				if x == "0" {
					delete(h, f) // a counter back at zero reads as one never set
				} else {
					h[f] = strings.ReplaceAll(x, s.Prefix(), "")
				}
			}
			v = h
		case "zset":
			v = rdb.ZRangeWithScores(ctx, k, 0, -1).Val()
		case "list":
			v = rdb.LRange(ctx, k, 0, -1).Val()
		case "set":
			m := rdb.SMembers(ctx, k).Val()
			sort.Strings(m)
			v = m
		default:
			v = typ
		}
		out[strings.TrimPrefix(k, s.Prefix())] = fmt.Sprint(v)
	}
	return out
}
