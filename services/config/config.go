// Package config turns the process environment into typed configuration.
// It is the only place that reads environment variables.
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"
)

// Config is the whole configuration of a citybrain process.
type Config struct {
	// KafkaBrokers are the bootstrap brokers; empty means start the
	// embedded Kafka-protocol broker (all-in-one mode only).
	KafkaBrokers []string
	// RedisAddr is host:port of Redis; empty means start embedded miniredis.
	RedisAddr string
	// HTTPAddr is the listen address of the HTTP server (API, UI, /ws).
	HTTPAddr string
	// DataDir holds the embedded broker's log and uploaded files.
	DataDir string
	// TopicPrefix prefixes every topic name, e.g. "citybrain.".
	TopicPrefix string
	// Partitions is the partition count used when creating topics.
	Partitions int
	// ReplicationFactor is used when creating topics (3 in production).
	ReplicationFactor int
	// LogLevel is the minimum slog level.
	LogLevel slog.Level
	// AuthSecret signs API tokens (HS256). Empty in all-in-one mode means a
	// random secret per process.
	AuthSecret string
	// AnonymousViewer lets a client without a token get a viewer ticket for
	// the wall (a read-only, masked view). Turn off where the wall logs in.
	AnonymousViewer bool
	// TimeZone is the city's zone, used for "today" and working time.
	TimeZone *time.Location
	// EmbeddedKafkaPort pins the embedded broker's port (0 = any free port).
	EmbeddedKafkaPort int
	// InstanceID names this process (consumer group member, realtime group).
	InstanceID string
	// AllowedOrigins for the websocket origin check; empty means same host only.
	AllowedOrigins []string
	// GISDir loads the city's layers from this directory instead of the
	// embedded sample city (泰州市姜堰区).
	GISDir string
	// IngestRatePerMinute limits intake requests per client address.
	IngestRatePerMinute int
	// BodyLimit is the largest request body in bytes (413 above it).
	BodyLimit int
	// RoutingFile is the routing rules and calendar (YAML); empty means the
	// embedded default of the sample city. Reloaded when it changes.
	RoutingFile string
	// RedisPrefix prefixes every Redis key (several deployments or test
	// runs can share one Redis).
	RedisPrefix string
	// MediaMaxBytes is the largest photo POST /api/v1/media accepts (413
	// above it); uploads get this limit instead of BodyLimit.
	MediaMaxBytes int
	// MediaS3 is the S3-compatible object storage for photos; without an
	// endpoint photos are files under DataDir/media.
	MediaS3 MediaS3
}

// MediaS3 locates a bucket of S3-compatible storage (path-style requests).
type MediaS3 struct {
	// Endpoint is a URL (https://minio.example:9000); a bare host:port means https.
	Endpoint  string
	Bucket    string
	Region    string
	AccessKey string
	SecretKey string
}

// Load reads the configuration through getenv (os.Getenv in main) and
// reports every bad variable at once.
func Load(getenv func(string) string) (Config, error) {
	var errs []error
	str := func(key, def string) string {
		if v := strings.TrimSpace(getenv(key)); v != "" {
			return v
		}
		return def
	}
	num := func(key string, def, min int) int {
		v := strings.TrimSpace(getenv(key))
		if v == "" {
			return def
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < min {
			errs = append(errs, fmt.Errorf("%s=%q: want an integer ≥ %d", key, v, min))
			return def
		}
		return n
	}
	boolean := func(key string, def bool) bool {
		v := strings.TrimSpace(getenv(key))
		if v == "" {
			return def
		}
		b, err := strconv.ParseBool(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s=%q: want true or false", key, v))
			return def
		}
		return b
	}
	list := func(key string) []string {
		var out []string
		for _, s := range strings.Split(getenv(key), ",") {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
		return out
	}

	c := Config{
		KafkaBrokers:        list("KAFKA_BROKERS"),
		RedisAddr:           str("REDIS_ADDR", ""),
		HTTPAddr:            str("HTTP_ADDR", ":8080"),
		DataDir:             str("DATA_DIR", "./data"),
		TopicPrefix:         str("TOPIC_PREFIX", "citybrain."),
		RedisPrefix:         str("REDIS_PREFIX", "cb:"),
		RoutingFile:         str("ROUTING_FILE", ""),
		Partitions:          num("KAFKA_PARTITIONS", 6, 1),
		ReplicationFactor:   num("KAFKA_REPLICATION_FACTOR", 1, 1),
		AuthSecret:          str("AUTH_SECRET", ""),
		AnonymousViewer:     boolean("AUTH_ANONYMOUS_VIEWER", true),
		EmbeddedKafkaPort:   num("EMBEDDED_KAFKA_PORT", 0, 0),
		InstanceID:          str("INSTANCE_ID", ""),
		AllowedOrigins:      list("ALLOWED_ORIGINS"),
		GISDir:              str("GIS_DIR", ""),
		IngestRatePerMinute: num("INGEST_RATE_PER_MINUTE", 6000, 1),
		BodyLimit:           num("HTTP_BODY_LIMIT", 1<<20, 1024),
		MediaMaxBytes:       num("MEDIA_MAX_BYTES", 10<<20, 1024),
		MediaS3: MediaS3{
			Endpoint:  str("MEDIA_S3_ENDPOINT", ""),
			Bucket:    str("MEDIA_S3_BUCKET", ""),
			Region:    str("MEDIA_S3_REGION", "us-east-1"),
			AccessKey: str("MEDIA_S3_ACCESS_KEY", ""),
			SecretKey: str("MEDIA_S3_SECRET_KEY", ""),
		},
	}
	if err := c.LogLevel.UnmarshalText([]byte(str("LOG_LEVEL", "info"))); err != nil {
		errs = append(errs, fmt.Errorf("LOG_LEVEL: %w", err))
	}
	tz := str("CITY_TZ", "Asia/Shanghai")
	loc, err := time.LoadLocation(tz)
	if err != nil {
		errs = append(errs, fmt.Errorf("CITY_TZ=%q: %w", tz, err))
		loc = time.UTC
	}
	c.TimeZone = loc
	for _, b := range c.KafkaBrokers {
		if !strings.Contains(b, ":") {
			errs = append(errs, fmt.Errorf("KAFKA_BROKERS: %q is not host:port", b))
		}
	}
	if c.RedisAddr != "" && !strings.Contains(c.RedisAddr, ":") {
		errs = append(errs, fmt.Errorf("REDIS_ADDR: %q is not host:port", c.RedisAddr))
	}
	if m := c.MediaS3; m.Endpoint != "" {
		for _, kv := range [][2]string{{"MEDIA_S3_BUCKET", m.Bucket}, {"MEDIA_S3_ACCESS_KEY", m.AccessKey}, {"MEDIA_S3_SECRET_KEY", m.SecretKey}} {
			if kv[1] == "" {
				errs = append(errs, fmt.Errorf("%s: required when MEDIA_S3_ENDPOINT is set", kv[0]))
			}
		}
	}
	return c, errors.Join(errs...)
}

// Embedded reports whether the embedded broker is to be used.
func (c Config) Embedded() bool { return len(c.KafkaBrokers) == 0 }
