package embedded

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// A snapshot brings back every key it kept with its type, contents and
// what was left of its time to live, leaves out what keep refused,
// streams and keys that expired while the process was down, and a file
// cut short or of another kind is refused with a reason.
func TestSnapshotSaveAndLoad(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "redis.snapshot")
	a, err := StartRedis()
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	rdb := redis.NewClient(&redis.Options{Addr: a.Addr()})
	defer func() { _ = rdb.Close() }()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(rdb.Set(ctx, "p:str", "值 with spaces\n", 0).Err())
	must(rdb.Set(ctx, "p:ttl", "1", time.Hour).Err())
	must(rdb.Set(ctx, "p:short", "1", time.Second).Err())
	must(rdb.HSet(ctx, "p:hash", "json", `{"id":"INC-1"}`, "version", "3").Err())
	must(rdb.RPush(ctx, "p:list", "b", "a", "b").Err())
	must(rdb.SAdd(ctx, "p:set", "x", "y").Err())
	must(rdb.ZAdd(ctx, "p:zset", redis.Z{Score: 2.5, Member: "m1"}, redis.Z{Score: -1, Member: "m2"}).Err())
	must(rdb.GeoAdd(ctx, "p:geo", &redis.GeoLocation{Name: "INC-1", Longitude: 120.148, Latitude: 32.509}).Err())
	must(rdb.XAdd(ctx, &redis.XAddArgs{Stream: "p:stream", Values: []any{"k", "v"}}).Err())
	must(rdb.Set(ctx, "p:lock", "me", 0).Err())
	keep := func(k string) bool { return strings.HasPrefix(k, "p:") && k != "p:lock" }
	snap, err := a.Copy(keep)
	must(err)
	if snap.Len() != 8 {
		t.Fatalf("copied %d keys, want 8", snap.Len())
	}
	must(snap.Write(path, []byte(`{"from":{"0":42}}`)))
	if _, err := os.Stat(path + ".tmp"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("temporary file left: %v", err)
	}

	b, err := StartRedis()
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	time.Sleep(1100 * time.Millisecond) // the process down: p:short expires meanwhile
	meta, savedAt, keys, err := b.Load(path)
	if err != nil || string(meta) != `{"from":{"0":42}}` || keys != 7 || time.Since(savedAt) > time.Minute {
		t.Fatalf("loaded %d keys, meta %s, saved at %v: %v", keys, meta, savedAt, err)
	}
	got := redis.NewClient(&redis.Options{Addr: b.Addr()})
	defer func() { _ = got.Close() }()
	if v := got.Get(ctx, "p:str").Val(); v != "值 with spaces\n" {
		t.Errorf("string %q", v)
	}
	if ttl := got.TTL(ctx, "p:ttl").Val(); ttl <= 50*time.Minute || ttl > time.Hour {
		t.Errorf("time to live %v, want a little under an hour", ttl)
	}
	if got.Exists(ctx, "p:short", "p:lock", "p:stream").Val() != 0 {
		t.Error("an expired key, a key keep refused or a stream came back")
	}
	if h := got.HGetAll(ctx, "p:hash").Val(); h["json"] != `{"id":"INC-1"}` || h["version"] != "3" || len(h) != 2 {
		t.Errorf("hash %v", h)
	}
	if l := got.LRange(ctx, "p:list", 0, -1).Val(); strings.Join(l, ",") != "b,a,b" {
		t.Errorf("list %v", l)
	}
	if s := got.SMembers(ctx, "p:set").Val(); len(s) != 2 {
		t.Errorf("set %v", s)
	}
	if z := got.ZRangeWithScores(ctx, "p:zset", 0, -1).Val(); len(z) != 2 || z[0].Member != "m2" || z[0].Score != -1 || z[1].Score != 2.5 {
		t.Errorf("sorted set %v", z)
	}
	near, err := got.GeoSearch(ctx, "p:geo", &redis.GeoSearchQuery{Longitude: 120.148, Latitude: 32.509, Radius: 10, RadiusUnit: "m"}).Result()
	if err != nil || len(near) != 1 || near[0] != "INC-1" {
		t.Errorf("geo search %v %v", near, err)
	}

	if _, _, _, err := b.Load(filepath.Join(t.TempDir(), "none")); !errors.Is(err, ErrNoSnapshot) {
		t.Errorf("no file: %v", err)
	}
	whole, _ := os.ReadFile(path)
	must(os.WriteFile(path, whole[:len(whole)/2], 0o600))
	if _, _, _, err := b.Load(path); err == nil {
		t.Error("a snapshot cut short was loaded")
	}
	must(os.WriteFile(path, []byte("not a snapshot"), 0o600))
	if _, _, _, err := b.Load(path); err == nil {
		t.Error("a file that is not a snapshot was loaded")
	}
}
