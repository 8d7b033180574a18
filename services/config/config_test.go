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
