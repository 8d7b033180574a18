package config

import (
	"strings"
	"testing"
	"time"
)

func TestLoadDefaults(t *testing.T) {
	c, err := Load(func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	if !c.Embedded() || c.HTTPAddr != ":8080" || c.TopicPrefix != "citybrain." || c.Partitions != 1 {
		t.Fatalf("unexpected defaults: %+v", c)
	}
	if c.RedisPrefix != "cb:" || c.RoutingFile != "" {
		t.Fatalf("redis prefix %q, routing file %q", c.RedisPrefix, c.RoutingFile)
	}
	if c.TimeZone.String() != "Asia/Shanghai" {
		t.Fatalf("tz %v", c.TimeZone)
	}
	if !c.EmbeddedKafkaSync {
		t.Fatal("the embedded broker does not fsync by default: an acknowledged report would not survive a power cut")
	}
}

func TestLoadReportsEveryError(t *testing.T) {
	env := map[string]string{
		"KAFKA_BROKERS":         "localhost",
		"KAFKA_PARTITIONS":      "zero",
		"AUTH_ANONYMOUS_VIEWER": "maybe",
		"LOG_LEVEL":             "loud",
	}
	_, err := Load(func(k string) string { return env[k] })
	if err == nil {
		t.Fatal("want error")
	}
	for _, k := range []string{"KAFKA_BROKERS", "KAFKA_PARTITIONS", "AUTH_ANONYMOUS_VIEWER", "LOG_LEVEL"} {
		if !strings.Contains(err.Error(), k) {
			t.Errorf("error does not mention %s: %v", k, err)
		}
	}
}

func TestLoadMedia(t *testing.T) {
	c, err := Load(func(string) string { return "" })
	if err != nil || c.MediaMaxBytes != 10<<20 || c.MediaS3.Endpoint != "" {
		t.Fatalf("media defaults: %+v %v", c.MediaS3, err)
	}
	env := map[string]string{"MEDIA_S3_ENDPOINT": "http://127.0.0.1:9000", "MEDIA_MAX_BYTES": "12"}
	_, err = Load(func(k string) string { return env[k] })
	for _, k := range []string{"MEDIA_MAX_BYTES", "MEDIA_S3_BUCKET", "MEDIA_S3_ACCESS_KEY", "MEDIA_S3_SECRET_KEY"} {
		if err == nil || !strings.Contains(err.Error(), k) {
			t.Errorf("error does not mention %s: %v", k, err)
		}
	}
}

func TestPprofIsOffByDefaultAndLoopbackOnly(t *testing.T) {
	for v, want := range map[string]string{"": "", "0": "", "false": "", "1": "127.0.0.1:6060", "true": "127.0.0.1:6060",
		"127.0.0.1:7070": "127.0.0.1:7070", "localhost:7070": "localhost:7070", "[::1]:7070": "[::1]:7070"} {
		c, err := Load(only("PPROF", v))
		if err != nil || c.PprofAddr != want {
			t.Errorf("PPROF=%q: got %q, %v; want %q", v, c.PprofAddr, err, want)
		}
	}
	for _, v := range []string{"0.0.0.0:6060", ":6060", "10.1.2.3:6060", "yes please", "127.0.0.1:99999"} {
		if _, err := Load(only("PPROF", v)); err == nil || !strings.Contains(err.Error(), "PPROF") {
			t.Errorf("PPROF=%q: want an error, got %v", v, err)
		}
	}
}

func TestReadModelDays(t *testing.T) {
	for v, want := range map[string]int{"": 0, "0": 0, "31": 31, "90": 90} {
		c, err := Load(only("READ_MODEL_DAYS", v))
		if err != nil || c.ReadModelDays != want {
			t.Errorf("READ_MODEL_DAYS=%q: %d, %v; want %d", v, c.ReadModelDays, err, want)
		}
	}
	for _, v := range []string{"7", "30", "-1", "x"} {
		if _, err := Load(only("READ_MODEL_DAYS", v)); err == nil || !strings.Contains(err.Error(), "READ_MODEL_DAYS") {
			t.Errorf("READ_MODEL_DAYS=%q accepted: %v", v, err)
		}
	}
}

// only is a getenv with one variable set.
func only(key, value string) func(string) string {
	return func(k string) string {
		if k == key {
			return value
		}
		return ""
	}
}

func TestDemoAccountsFollowTheUsersFile(t *testing.T) {
	env := func(kv map[string]string) func(string) string { return func(k string) string { return kv[k] } }
	for _, c := range []struct {
		env  map[string]string
		want bool
	}{
		{map[string]string{}, true},
		{map[string]string{"USERS_FILE": "/etc/citybrain/users.yaml"}, false},
		{map[string]string{"USERS_FILE": "/etc/citybrain/users.yaml", "DEMO_ACCOUNTS": "true"}, true},
		{map[string]string{"DEMO_ACCOUNTS": "false"}, false},
	} {
		cfg, err := Load(env(c.env))
		if err != nil || cfg.DemoAccounts != c.want {
			t.Errorf("%v: demo accounts %v (%v), want %v", c.env, cfg.DemoAccounts, err, c.want)
		}
	}
}

// Topics get 6 partitions on a Kafka cluster, 1 on the embedded broker
// (one process, one goroutine per consumer group), unless KAFKA_PARTITIONS
// says otherwise.
func TestPartitionsFollowTheBroker(t *testing.T) {
	for _, c := range []struct {
		env  map[string]string
		want int
	}{
		{map[string]string{}, 1},
		{map[string]string{"KAFKA_PARTITIONS": "4"}, 4},
		{map[string]string{"KAFKA_BROKERS": "kafka:9092"}, 6},
		{map[string]string{"KAFKA_BROKERS": "kafka:9092", "KAFKA_PARTITIONS": "12"}, 12},
	} {
		cfg, err := Load(func(k string) string { return c.env[k] })
		if err != nil || cfg.Partitions != c.want {
			t.Errorf("%v: %d partitions (%v), want %d", c.env, cfg.Partitions, err, c.want)
		}
	}
}

// The all-in-one process snapshots its embedded Redis every hour
// unless EMBEDDED_SNAPSHOT_EVERY says otherwise; 0 is at a clean stop only,
// and a value that is no duration, negative or under a second is refused.
func TestEmbeddedSnapshotEvery(t *testing.T) {
	for v, want := range map[string]time.Duration{"": time.Hour, "10m": 10 * time.Minute, "0": 0, "2m30s": 150 * time.Second} {
		cfg, err := Load(func(k string) string { return map[string]string{"EMBEDDED_SNAPSHOT_EVERY": v}[k] })
		if err != nil || cfg.EmbeddedSnapshotEvery != want {
			t.Errorf("EMBEDDED_SNAPSHOT_EVERY=%q: %v (%v), want %v", v, cfg.EmbeddedSnapshotEvery, err, want)
		}
	}
	for _, v := range []string{"soon", "-5m", "500ms"} {
		if _, err := Load(func(k string) string { return map[string]string{"EMBEDDED_SNAPSHOT_EVERY": v}[k] }); err == nil || !strings.Contains(err.Error(), "EMBEDDED_SNAPSHOT_EVERY") {
			t.Errorf("EMBEDDED_SNAPSHOT_EVERY=%q accepted: %v", v, err)
		}
	}
}
