package config

import (
	"strings"
	"testing"
)

func TestLoadDefaults(t *testing.T) {
	c, err := Load(func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	if !c.Embedded() || c.HTTPAddr != ":8080" || c.TopicPrefix != "citybrain." || c.Partitions != 6 {
		t.Fatalf("unexpected defaults: %+v", c)
	}
	if c.RedisPrefix != "cb:" || c.RoutingFile != "" {
		t.Fatalf("redis prefix %q, routing file %q", c.RedisPrefix, c.RoutingFile)
	}
	if c.TimeZone.String() != "Asia/Shanghai" {
		t.Fatalf("tz %v", c.TimeZone)
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
