package kafkabus_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/citybrain-ioc/citybrain/services/internal/testenv"
	"github.com/citybrain-ioc/citybrain/services/kafkabus"
)

// This suite runs against the embedded broker in make test and against a
// real Apache Kafka in make test-integration (TEST_KAFKA_BROKERS).

func setup(t *testing.T) ([]string, kafkabus.Topics, *kafkabus.Producer) {
	brokers := testenv.Kafka(t)
	topics := kafkabus.Topics{Prefix: testenv.Prefix(t)}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := kafkabus.EnsureTopics(ctx, brokers, 3, 1, topics.All([]string{"hotline"})); err != nil {
		t.Fatal(err)
	}
	// Creating them again is not an error.
	if err := kafkabus.EnsureTopics(ctx, brokers, 3, 1, topics.All([]string{"hotline"})); err != nil {
		t.Fatal(err)
	}
	p := kafkabus.NewProducer(brokers)
	t.Cleanup(func() { _ = p.Close() })
	return brokers, topics, p
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// collect runs a consumer until want records were handled or the timeout.
func consume(t *testing.T, c *kafkabus.Consumer, want int, h kafkabus.Handler) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	var mu sync.Mutex
	n := 0
	done := make(chan error, 1)
	go func() {
		done <- c.Run(ctx, func(ctx context.Context, m kafka.Message) error {
			if err := h(ctx, m); err != nil {
				return err
			}
			mu.Lock()
			n++
			if n == want {
				cancel()
			}
			mu.Unlock()
			return nil
		})
	}()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n < want {
		t.Fatalf("handled %d records, want %d", n, want)
	}
}

func TestSuiteKeyOrderAndDelivery(t *testing.T) {
	brokers, topics, p := setup(t)
	const keys, per = 10, 20
	var msgs []kafka.Message
	for i := range per {
		for k := range keys {
			msgs = append(msgs, kafka.Message{Topic: topics.Events(), Key: []byte("INC-" + strconv.Itoa(k)), Value: []byte(strconv.Itoa(i))})
		}
	}
	if err := p.Publish(t.Context(), msgs...); err != nil {
		t.Fatal(err)
	}
	c := kafkabus.NewConsumer(kafkabus.ConsumerConfig{Brokers: brokers, GroupID: topics.Prefix + "g", Topics: []string{topics.Events()}}, p, topics.DLQ(), nil, quiet())
	last := map[string]int{}
	consume(t, c, keys*per, func(_ context.Context, m kafka.Message) error {
		v, _ := strconv.Atoi(string(m.Value))
		if prev, ok := last[string(m.Key)]; ok && v != prev+1 {
			return kafkabus.Poison(fmt.Errorf("key %s: %d after %d", m.Key, v, prev))
		}
		last[string(m.Key)] = v
		return nil
	})
	for k, v := range last {
		if v != per-1 {
			t.Errorf("key %s ended at %d", k, v)
		}
	}
}

func TestSuitePoisonGoesToDLQAndStreamFlows(t *testing.T) {
	brokers, topics, p := setup(t)
	var msgs []kafka.Message
	for i := range 10 {
		msgs = append(msgs, kafka.Message{Topic: topics.Raw("hotline"), Key: []byte("k"), Value: []byte(strconv.Itoa(i))})
	}
	if err := p.Publish(t.Context(), msgs...); err != nil {
		t.Fatal(err)
	}
	flaky := 0
	c := kafkabus.NewConsumer(kafkabus.ConsumerConfig{Brokers: brokers, GroupID: topics.Prefix + "g", Topics: []string{topics.Raw("hotline")}, Attempts: 3}, p, topics.DLQ(), nil, quiet())
	var good []string
	consume(t, c, 9, func(_ context.Context, m kafka.Message) error {
		switch string(m.Value) {
		case "3":
			return kafkabus.Poison(errors.New("cannot decode"))
		case "6":
			if flaky++; flaky < 3 {
				return errors.New("transient")
			}
		}
		good = append(good, string(m.Value))
		return nil
	})
	if len(good) != 9 {
		t.Fatalf("good records %v", good)
	}
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: topics.DLQ(), Partition: 0, MaxWait: 100 * time.Millisecond})
	defer func() { _ = r.Close() }()
	// The DLQ record is keyed like the original, so find its partition.
	var dead kafka.Message
	for part := range 3 {
		rr := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: topics.DLQ(), Partition: part, MaxWait: 100 * time.Millisecond})
		ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
		m, err := rr.ReadMessage(ctx)
		cancel()
		_ = rr.Close()
		if err == nil {
			dead = m
			break
		}
	}
	if string(dead.Value) != "3" {
		t.Fatalf("dlq record %q, want the poison record", dead.Value)
	}
	hs := map[string]string{}
	for _, h := range dead.Headers {
		hs[h.Key] = string(h.Value)
	}
	if hs["dlq.origin.topic"] != topics.Raw("hotline") || hs["dlq.reason"] == "" || hs["dlq.origin.offset"] == "" {
		t.Fatalf("dlq headers %v", hs)
	}
}

func TestSuiteUncommittedIsRedelivered(t *testing.T) {
	brokers, topics, p := setup(t)
	var msgs []kafka.Message
	for i := range 6 {
		msgs = append(msgs, kafka.Message{Topic: topics.Commands(), Key: []byte("k"), Value: []byte(strconv.Itoa(i))})
	}
	if err := p.Publish(t.Context(), msgs...); err != nil {
		t.Fatal(err)
	}
	cfg := kafkabus.ConsumerConfig{Brokers: brokers, GroupID: topics.Prefix + "g", Topics: []string{topics.Commands()}}
	// First member handles three, then stops (as if killed before the rest).
	c1 := kafkabus.NewConsumer(cfg, p, topics.DLQ(), nil, quiet())
	consume(t, c1, 3, func(context.Context, kafka.Message) error { return nil })
	// The next member gets the rest, and nothing handled before is lost.
	c2 := kafkabus.NewConsumer(cfg, p, topics.DLQ(), nil, quiet())
	seen := map[string]bool{}
	consume(t, c2, 3, func(_ context.Context, m kafka.Message) error { seen[string(m.Value)] = true; return nil })
	if seen["0"] || seen["1"] || seen["2"] {
		t.Errorf("committed records delivered again after a clean stop: %v", seen)
	}
	for _, v := range []string{"3", "4", "5"} {
		if !seen[v] {
			t.Errorf("record %s not redelivered: %v", v, seen)
		}
	}
}

func TestProducerRefusesOversizedRecord(t *testing.T) {
	p := kafkabus.NewProducer([]string{"127.0.0.1:1"})
	defer func() { _ = p.Close() }()
	err := p.Publish(t.Context(), kafka.Message{Topic: "x", Value: make([]byte, kafkabus.MaxRecordBytes+1)})
	if !errors.Is(err, kafkabus.ErrTooLarge) {
		t.Fatalf("got %v", err)
	}
}

// guardedProc loses its state after the first record of a batch; the
// consumer must rebuild and decide the batch again before publishing.
type guardedProc struct {
	mu                      sync.Mutex
	ready                   bool
	lose                    bool
	rebuilds, resets, calls int
	seen                    []string
}

func (g *guardedProc) Process(_ context.Context, m kafka.Message) ([]kafka.Message, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.calls++
	if g.lose {
		g.ready, g.lose = false, false // Redis flushed under the batch
	}
	g.seen = append(g.seen, string(m.Value))
	return []kafka.Message{{Topic: m.Topic + ".out", Key: m.Key, Value: m.Value}}, nil
}
func (g *guardedProc) Flush(context.Context) error { return nil }
func (g *guardedProc) Ready(context.Context) (bool, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.ready, nil
}
func (g *guardedProc) Rebuild(context.Context) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.rebuilds++
	g.ready = true
	return nil
}
func (g *guardedProc) Reset() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.resets++
	g.seen = nil
}

func TestSuiteGuardRedecidesABatchWhoseStateVanished(t *testing.T) {
	brokers, topics, p := setup(t)
	if err := kafkabus.EnsureTopics(t.Context(), brokers, 1, 1, []kafkabus.Spec{{Name: topics.Events() + ".out"}}); err != nil {
		t.Fatal(err)
	}
	var msgs []kafka.Message
	for i := range 5 {
		msgs = append(msgs, kafka.Message{Topic: topics.Events(), Key: []byte("k"), Value: []byte(strconv.Itoa(i))})
	}
	if err := p.Publish(t.Context(), msgs...); err != nil {
		t.Fatal(err)
	}
	g := &guardedProc{ready: false, lose: false}
	// Not ready at start: rebuilt before anything is decided. Then the state
	// is lost during the first batch.
	first := true
	c := kafkabus.NewConsumer(kafkabus.ConsumerConfig{Brokers: brokers, GroupID: topics.Prefix + "g", Topics: []string{topics.Events()}}, p, topics.DLQ(), nil, quiet())
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- c.RunBatch(ctx, kafkabus.Guarded(procFunc{g, func() {
			if first {
				first = false
				g.lose = true
			}
		}}, g.Ready, g.Rebuild))
	}()
	for {
		g.mu.Lock()
		n := len(g.seen)
		g.mu.Unlock()
		if n >= 5 {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("saw %d records", n)
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	cancel()
	<-done
	if g.rebuilds < 2 || g.resets < 1 {
		t.Fatalf("rebuilds %d resets %d", g.rebuilds, g.resets)
	}
}

// procFunc runs a hook before each Process of the wrapped processor.
type procFunc struct {
	*guardedProc
	before func()
}

func (p procFunc) Process(ctx context.Context, m kafka.Message) ([]kafka.Message, error) {
	p.before()
	return p.guardedProc.Process(ctx, m)
}

func (p procFunc) Reset() { p.guardedProc.Reset() }

// Events and commands made with the same partitions pass the check; a
// commands topic made later with another count is refused with both counts.
func TestSuiteCopartitionCheck(t *testing.T) {
	brokers, topics, _ := setup(t)
	ctx := t.Context()
	if err := kafkabus.CheckCopartitioned(ctx, brokers, topics.Events(), topics.Commands()); err != nil {
		t.Fatal(err)
	}
	other := kafkabus.Topics{Prefix: topics.Prefix + "x."}
	if err := kafkabus.EnsureTopics(ctx, brokers, 2, 1, []kafkabus.Spec{{Name: other.Commands()}}); err != nil {
		t.Fatal(err)
	}
	err := kafkabus.CheckCopartitioned(ctx, brokers, topics.Events(), other.Commands())
	if err == nil || !strings.Contains(err.Error(), "3 partitions") || !strings.Contains(err.Error(), other.Commands()+" 2") {
		t.Fatalf("events with 3 partitions, commands with 2: %v", err)
	}
}
