package kafkabus

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/segmentio/kafka-go"
)

// Topics names every topic, with the configured prefix.
type Topics struct{ Prefix string }

// Raw is the topic of accepted input from one source, e.g. citybrain.raw.hotline.
func (t Topics) Raw(source string) string { return t.Prefix + "raw." + source }

// Events is the topic of canonical, enriched events keyed by incident id.
func (t Topics) Events() string { return t.Prefix + "events" }

// Commands is the topic of dispatcher and worker commands keyed by incident id.
func (t Topics) Commands() string { return t.Prefix + "commands" }

// Tasks is the topic of lifecycle events (the audit trail) keyed by incident id.
func (t Topics) Tasks() string { return t.Prefix + "tasks" }

// Workers is the compacted topic of worker presence and positions.
func (t Topics) Workers() string { return t.Prefix + "workers" }

// WallMode is the topic of the wall's mode changes (normal/emergency), key
// "wall": what restores the mode after a rebuild (package wallmode).
func (t Topics) WallMode() string { return t.Prefix + "wallmode" }

// Alerts is the topic of SLA warnings, escalations and geofence hits.
func (t Topics) Alerts() string { return t.Prefix + "alerts" }

// DLQ is the dead-letter topic.
func (t Topics) DLQ() string { return t.Prefix + "dlq" }

// Spec describes one topic to create.
type Spec struct {
	Name      string
	Retention time.Duration // 0 = keep forever
	Compacted bool
}

// All returns the specs of every topic, with their retention (DESIGN.md).
func (t Topics) All(sources []string) []Spec {
	day := 24 * time.Hour
	var specs []Spec
	for _, s := range sources {
		specs = append(specs, Spec{Name: t.Raw(s), Retention: 7 * day})
	}
	return append(specs,
		Spec{Name: t.Events(), Retention: 30 * day},
		Spec{Name: t.Commands(), Retention: 30 * day},
		Spec{Name: t.Tasks()}, // the audit trail and the source of every projection: kept
		Spec{Name: t.Workers(), Compacted: true},
		Spec{Name: t.WallMode()}, // the audit of mode changes: kept
		Spec{Name: t.Alerts(), Retention: 7 * day},
		Spec{Name: t.DLQ(), Retention: 30 * day},
	)
}

// EnsureTopics creates the topics that do not exist yet. Existing topics are
// left as they are. It retries until ctx ends, so a service started before
// Kafka waits for it.
func EnsureTopics(ctx context.Context, brokers []string, partitions, replication int, specs []Spec) error {
	req := &kafka.CreateTopicsRequest{}
	for _, s := range specs {
		cfg := []kafka.ConfigEntry{}
		if s.Compacted {
			cfg = append(cfg, kafka.ConfigEntry{ConfigName: "cleanup.policy", ConfigValue: "compact"})
		} else {
			ms := int64(-1)
			if s.Retention > 0 {
				ms = s.Retention.Milliseconds()
			}
			cfg = append(cfg, kafka.ConfigEntry{ConfigName: "retention.ms", ConfigValue: strconv.FormatInt(ms, 10)})
		}
		if replication > 1 {
			cfg = append(cfg, kafka.ConfigEntry{ConfigName: "min.insync.replicas", ConfigValue: "2"})
		}
		req.Topics = append(req.Topics, kafka.TopicConfig{
			Topic: s.Name, NumPartitions: partitions, ReplicationFactor: replication, ConfigEntries: cfg,
		})
	}
	client := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 10 * time.Second}
	backoff := 200 * time.Millisecond
	for {
		err := createTopics(ctx, client, req)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("create topics: %w (last error: %v)", ctx.Err(), err)
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

func createTopics(ctx context.Context, client *kafka.Client, req *kafka.CreateTopicsRequest) error {
	resp, err := client.CreateTopics(ctx, req)
	if err != nil {
		return err
	}
	var errs []error
	for name, err := range resp.Errors {
		if err != nil && !errors.Is(err, kafka.TopicAlreadyExists) {
			errs = append(errs, fmt.Errorf("topic %s: %w", name, err))
		}
	}
	return errors.Join(errs...)
}

// Ping checks that a broker answers a metadata request.
func Ping(ctx context.Context, brokers []string) error {
	var last error
	for _, b := range brokers {
		conn, err := (&kafka.Dialer{Timeout: 2 * time.Second}).DialContext(ctx, "tcp", b)
		if err != nil {
			last = err
			continue
		}
		_, err = conn.Brokers()
		_ = conn.Close()
		if err == nil {
			return nil
		}
		last = err
	}
	return fmt.Errorf("no broker answered: %w", last)
}

// CheckCopartitioned returns an error when the topics do not all have the
// same number of partitions. The dispatcher owns an incident by the number
// of the partition its key hashes to in events and in commands alike: with
// different counts (a topic created later with another KAFKA_PARTITIONS)
// two dispatchers could each take one side of the same incident.
func CheckCopartitioned(ctx context.Context, brokers []string, topics ...string) error {
	client := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 10 * time.Second}
	md, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: topics})
	if err != nil {
		return fmt.Errorf("read the partitions of %v: %w", topics, err)
	}
	counts := map[string]int{}
	for _, t := range md.Topics {
		if t.Error != nil {
			return fmt.Errorf("read the partitions of %s: %w", t.Name, t.Error)
		}
		counts[t.Name] = len(t.Partitions)
	}
	for _, t := range topics[1:] {
		if counts[t] != counts[topics[0]] {
			return fmt.Errorf("%s has %d partitions and %s %d: they must be equal (one dispatcher owns an incident's events and commands by partition number); recreate the newer topic with %d partitions",
				topics[0], counts[topics[0]], t, counts[t], counts[topics[0]])
		}
	}
	return nil
}
