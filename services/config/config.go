// Package config turns the process environment into typed configuration.
// It is the only place that reads environment variables.
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
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
	// Partitions is the partition count used when creating topics: 6 by
	// default, 1 on the embedded broker (no KAFKA_BROKERS), where one
	// process is the only member of every consumer group and handles each
	// group's records in one goroutine whatever their partitions: more
	// partitions there only split the producers' batches, and each batch
	// costs the broker a write and an fsync (docs/capacity.md).
	Partitions int
	// ReplicationFactor is used when creating topics (3 in production).
	ReplicationFactor int
	// LogLevel is the minimum slog level.
	LogLevel slog.Level
	// AuthSecret signs API tokens (HS256). Empty in all-in-one mode means a
	// random secret per process.
	AuthSecret string
	// UsersFile is the city's accounts (auth.LoadUsers); empty: none.
	UsersFile string
	// DemoAccounts adds the sample city's demo users and grid roster, whose
	// passwords the README publishes. On by default without a UsersFile
	// (make run), off by default with one.
	DemoAccounts bool
	// AnonymousViewer lets a client without a token get a viewer ticket for
	// the wall (a read-only, masked view). Turn off where the wall logs in.
	AnonymousViewer bool
	// TimeZone is the city's zone, used for "today" and working time.
	TimeZone *time.Location
	// EmbeddedKafkaPort pins the embedded broker's port (0 = any free port).
	EmbeddedKafkaPort int
	// EmbeddedKafkaSync makes the embedded broker fsync every batch it
	// appends before it answers the produce (kfake.SyncWrites): an
	// acknowledged report then survives a power cut, not only a crash of
	// the process. One node has no replicas to lean on, as a Kafka cluster
	// with acks=all has. On by default.
	EmbeddedKafkaSync bool
	// EmbeddedSnapshotEvery is how often the all-in-one process writes a
	// snapshot of its embedded Redis (it also writes one at a clean stop):
	// after a crash or a power cut a start loads the last one and replays
	// only the tasks topic after it. Its consumers pause while the store is
	// copied (~2–5 µs a key). 0: at a clean stop only.
	EmbeddedSnapshotEvery time.Duration
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
	// PprofAddr serves net/http/pprof on this loopback address ("" = off,
	// the default). PPROF=1 means 127.0.0.1:6060; PPROF=127.0.0.1:PORT
	// picks the port. Never on the public HTTP port: profiles reveal
	// internals and cost CPU, so they are for an operator on the host.
	PprofAddr string
	// MediaMaxBytes is the largest photo POST /api/v1/media accepts (413
	// above it); uploads get this limit instead of BodyLimit.
	MediaMaxBytes int
	// MediaS3 is the S3-compatible object storage for photos; without an
	// endpoint photos are files under DataDir/media.
	MediaS3 MediaS3
	// ReadModelDays is how long a closed incident stays in Redis after its
	// last change (READ_MODEL_DAYS; 0, the default, keeps every one). Its
	// audit trail stays on the tasks topic and the counters keep it; what
	// goes is the incident, timeline and reports the API and walls read
	// (docs/capacity.md: about 4.6 KB per report). At least 31: a record
	// the events topic (30 days) delivers again must still find its
	// incident.
	ReadModelDays int
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

	var err error
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
		UsersFile:           str("USERS_FILE", ""),
		EmbeddedKafkaPort:   num("EMBEDDED_KAFKA_PORT", 0, 0),
		EmbeddedKafkaSync:   boolean("EMBEDDED_KAFKA_SYNC", true),
		InstanceID:          str("INSTANCE_ID", ""),
		AllowedOrigins:      list("ALLOWED_ORIGINS"),
		GISDir:              str("GIS_DIR", ""),
		IngestRatePerMinute: num("INGEST_RATE_PER_MINUTE", 6000, 1),
		BodyLimit:           num("HTTP_BODY_LIMIT", 1<<20, 1024),
		MediaMaxBytes:       num("MEDIA_MAX_BYTES", 10<<20, 1024),
		ReadModelDays:       num("READ_MODEL_DAYS", 0, 0),
		MediaS3: MediaS3{
			Endpoint:  str("MEDIA_S3_ENDPOINT", ""),
			Bucket:    str("MEDIA_S3_BUCKET", ""),
			Region:    str("MEDIA_S3_REGION", "us-east-1"),
			AccessKey: str("MEDIA_S3_ACCESS_KEY", ""),
			SecretKey: str("MEDIA_S3_SECRET_KEY", ""),
		},
	}
	if c.Embedded() && strings.TrimSpace(getenv("KAFKA_PARTITIONS")) == "" {
		c.Partitions = 1
	}
	c.DemoAccounts = boolean("DEMO_ACCOUNTS", c.UsersFile == "")
	c.EmbeddedSnapshotEvery = time.Hour
	if v := strings.TrimSpace(getenv("EMBEDDED_SNAPSHOT_EVERY")); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 || (d > 0 && d < time.Second) {
			errs = append(errs, fmt.Errorf("EMBEDDED_SNAPSHOT_EVERY=%q: want a duration of at least 1s (e.g. 30m), or 0 for a snapshot at a clean stop only", v))
		} else {
			c.EmbeddedSnapshotEvery = d
		}
	}
	c.PprofAddr, err = pprofAddr(str("PPROF", ""))
	if err != nil {
		errs = append(errs, err)
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
	if c.ReadModelDays > 0 && c.ReadModelDays < 31 {
		errs = append(errs, fmt.Errorf("READ_MODEL_DAYS=%d: want 0 (keep all) or at least 31, longer than the events topic keeps a record that may be delivered again", c.ReadModelDays))
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

// pprofAddr reads PPROF: off ("", 0, false), on at 127.0.0.1:6060 (1,
// true), or a loopback host:port.
func pprofAddr(v string) (string, error) {
	if b, err := strconv.ParseBool(v); err == nil || v == "" {
		if b {
			return "127.0.0.1:6060", nil
		}
		return "", nil
	}
	host, port, err := net.SplitHostPort(v)
	if err == nil {
		_, err = strconv.ParseUint(port, 10, 16)
	}
	if err != nil {
		return "", fmt.Errorf("PPROF=%q: want 1, 0 or a loopback host:port", v)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return "", fmt.Errorf("PPROF=%q: profiles are served on a loopback address only", v)
	}
	return v, nil
}
