// Package cluster drives a local citybrain cluster started by cluster.sh (in
// this directory) from Go: it starts and stops the cluster, kills and
// restarts single processes, restarts the Kafka broker and flushes Redis,
// scrapes /metrics, sends a recorded load through the ingest instances
// (Load) and follows the wall over websockets (WallClient). The fault test
// (scripts/faulttest) and the cluster benchmark (scripts/cluster/bench) are
// built from these parts.
package cluster

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Targets are the services of a cluster, in cluster.sh's port order.
var Targets = []string{"ingest", "enricher", "dispatcher", "realtime", "api"}

var portOffset = map[string]int{"ingest": 0, "enricher": 10, "dispatcher": 20, "realtime": 30, "api": 40}

// Cluster is one run of cluster.sh: its run dir and environment.
type Cluster struct {
	Script string            // path of cluster.sh
	Root   string            // the repository root
	Dir    string            // CLUSTER_DIR: where the run dirs are
	Run    string            // the run dir
	Env    map[string]string // the run's env file
	N      int               // processes per target
	Base   int               // port base: target t, instance i listens on Base+offset(t)+i
	Log    io.Writer         // where cluster.sh's output goes
}

// FindRoot returns the repository root: the nearest parent of the working
// directory holding go.work.
func FindRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.work above the working directory: run from the repository")
		}
		dir = parent
	}
}

// Options configure Start.
type Options struct {
	N   int    // processes per target
	Dir string // CLUSTER_DIR (a fresh directory per test run keeps runs apart)
	Bin string // CITYBRAIN_BIN: a built binary ("" = cluster.sh builds one)
	// OwnServers makes the run start its own Kafka and Redis even when
	// KAFKA_BROKERS / REDIS_ADDR are set (a fault test restarts and flushes
	// them, so it must never use someone else's).
	OwnServers bool
	Partitions int // KAFKA_PARTITIONS (0 = the default, 6)
	LogLevel   string
	Log        io.Writer
}

// Start runs `cluster.sh start` and returns the running cluster.
func Start(ctx context.Context, o Options) (*Cluster, error) {
	root, err := FindRoot()
	if err != nil {
		return nil, err
	}
	if o.Log == nil {
		o.Log = os.Stderr
	}
	// The run is named here, not found through the `current` link: another
	// run started at the same moment would move the link.
	id := fmt.Sprintf("%s-%06x", time.Now().UTC().Format("20060102-150405"), rand.Uint32()&0xffffff)
	c := &Cluster{Script: filepath.Join(root, "scripts/cluster/cluster.sh"), Root: root, Dir: o.Dir, Log: o.Log,
		Run: filepath.Join(o.Dir, id)}
	env := []string{"CLUSTER_DIR=" + o.Dir, "CLUSTER_N=" + strconv.Itoa(o.N), "CLUSTER_RUN_ID=" + id}
	if o.Bin != "" {
		env = append(env, "CITYBRAIN_BIN="+o.Bin)
	}
	if o.Partitions > 0 {
		env = append(env, "KAFKA_PARTITIONS="+strconv.Itoa(o.Partitions))
	}
	if o.LogLevel != "" {
		env = append(env, "LOG_LEVEL="+o.LogLevel)
	}
	if o.OwnServers {
		env = append(env, "KAFKA_BROKERS=", "REDIS_ADDR=")
	}
	if _, err := c.sh(ctx, env, "start", strconv.Itoa(o.N)); err != nil {
		return c.loadAnyway(), err
	}
	if err := c.load(); err != nil {
		return nil, err
	}
	return c, nil
}

// loadAnyway returns the cluster of a failed start if its env file was
// written (so the caller can stop what did start), else nil.
func (c *Cluster) loadAnyway() *Cluster {
	if c.load() != nil {
		return nil
	}
	return c
}

func (c *Cluster) load() error {
	b, err := os.ReadFile(filepath.Join(c.Run, "env"))
	if err != nil {
		return err
	}
	c.Env = map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(k, "#") {
			c.Env[k] = v
		}
	}
	if c.N, err = strconv.Atoi(c.Env["CLUSTER_N"]); err != nil {
		return fmt.Errorf("env CLUSTER_N: %w", err)
	}
	if c.Base, err = strconv.Atoi(c.Env["CLUSTER_BASE"]); err != nil {
		return fmt.Errorf("env CLUSTER_BASE: %w", err)
	}
	return nil
}

// sh runs cluster.sh with the cluster's run selected; its output goes to
// c.Log and is returned.
func (c *Cluster) sh(ctx context.Context, env []string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, c.Script, args...)
	cmd.Env = append(os.Environ(), "CLUSTER_DIR="+c.Dir)
	if c.Run != "" {
		cmd.Env = append(cmd.Env, "CLUSTER_RUN="+c.Run)
	}
	cmd.Env = append(cmd.Env, env...)
	var out bytes.Buffer
	w := io.MultiWriter(&out, c.Log)
	cmd.Stdout, cmd.Stderr = w, w
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("cluster.sh %s: %w", strings.Join(args, " "), err)
	}
	return out.String(), nil
}

// Stop stops the processes and the servers the run started.
func (c *Cluster) Stop(ctx context.Context) error {
	_, err := c.sh(ctx, nil, "stop")
	return err
}

// Kill sends SIGKILL to one process, as a crash would.
func (c *Cluster) Kill(ctx context.Context, target string, i int) error {
	_, err := c.sh(ctx, nil, "kill", target, strconv.Itoa(i))
	return err
}

// Term stops one process with SIGTERM and waits for it.
func (c *Cluster) Term(ctx context.Context, target string, i int) error {
	_, err := c.sh(ctx, nil, "term", target, strconv.Itoa(i))
	return err
}

// Up starts one process and waits until it is ready.
func (c *Cluster) Up(ctx context.Context, target string, i int) error {
	_, err := c.sh(ctx, nil, "up", target, strconv.Itoa(i))
	return err
}

// Kafka runs scripts/dev/kafka.sh on the run's broker (restart, kill, tool …).
func (c *Cluster) Kafka(ctx context.Context, args ...string) (string, error) {
	return c.sh(ctx, nil, append([]string{"kafka"}, args...)...)
}

// KafkaTool runs a Kafka CLI class quietly and returns its standard output.
func (c *Cluster) KafkaTool(ctx context.Context, class string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, c.Script, append([]string{"kafka", "tool", class}, args...)...)
	cmd.Env = append(os.Environ(), "CLUSTER_DIR="+c.Dir, "CLUSTER_RUN="+c.Run)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("kafka tool %s: %w: %s", class, err, lastLines(errb.String(), 5))
	}
	return out.String(), nil
}

// Redis runs scripts/dev/redis.sh on the run's Redis (flush, restart …).
func (c *Cluster) Redis(ctx context.Context, args ...string) (string, error) {
	return c.sh(ctx, nil, append([]string{"redis"}, args...)...)
}

// Citybrain runs the run's binary with its environment (rebuild, topics).
func (c *Cluster) Citybrain(ctx context.Context, args ...string) (string, error) {
	return c.sh(ctx, nil, append([]string{"citybrain"}, args...)...)
}

// URL is the base URL of one process.
func (c *Cluster) URL(target string, i int) string {
	return fmt.Sprintf("http://127.0.0.1:%d", c.Base+portOffset[target]+i)
}

// URLs are the base URLs of every process of a target.
func (c *Cluster) URLs(target string) []string {
	out := make([]string, c.N)
	for i := range out {
		out[i] = c.URL(target, i+1)
	}
	return out
}

// Brokers is the bootstrap address of the run's Kafka.
func (c *Cluster) Brokers() string { return c.Env["KAFKA_BROKERS"] }

// Topic is the full name of a topic of this run, e.g. Topic("dlq").
func (c *Cluster) Topic(name string) string { return c.Env["TOPIC_PREFIX"] + name }

// Metrics scrapes url/metrics and returns every sample whose name starts
// with prefix, keyed by the sample as written (name and labels).
func Metrics(ctx context.Context, url, prefix string) (map[string]float64, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url+"/metrics", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s/metrics: HTTP %d", url, resp.StatusCode)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, prefix) {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		out[line[:i]] = v
	}
	return out, sc.Err()
}

// ConsumerLag is the sum of citybrain_consumer_lag over the enricher and
// dispatcher processes, and how many of them answered.
func (c *Cluster) ConsumerLag(ctx context.Context) (lag float64, answered int) {
	for _, t := range []string{"enricher", "dispatcher"} {
		for _, u := range c.URLs(t) {
			m, err := Metrics(ctx, u, "citybrain_consumer_lag")
			if err != nil {
				continue
			}
			answered++
			for _, v := range m {
				lag += v
			}
		}
	}
	return lag, answered
}

// GroupLag asks the broker (kafka-consumer-groups --describe) for the lag of
// every partition of every group of this run: total lag and the partitions
// with a lag, as "group topic partition lag" lines. This is the
// authoritative figure; the processes' own citybrain_consumer_lag is what
// their readers last saw.
func (c *Cluster) GroupLag(ctx context.Context) (int64, []string, error) {
	out, err := c.KafkaTool(ctx, "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand",
		"--bootstrap-server", c.Brokers(), "--describe", "--all-groups")
	if err != nil {
		return 0, nil, err
	}
	var total int64
	var behind []string
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		// GROUP TOPIC PARTITION CURRENT-OFFSET LOG-END-OFFSET LAG CONSUMER-ID HOST CLIENT-ID
		if len(f) < 6 || f[0] == "GROUP" || !strings.HasPrefix(f[1], c.Env["TOPIC_PREFIX"]) {
			continue
		}
		lag, err := strconv.ParseInt(f[5], 10, 64)
		if err != nil {
			continue // "-": nothing committed on an empty partition
		}
		if lag > 0 {
			total += lag
			behind = append(behind, strings.Join(f[:6], " "))
		}
	}
	sort.Strings(behind)
	return total, behind, nil
}

// TopicEnd returns the sum of the end offsets of a topic's partitions (the
// number of records ever written, for a topic that is never compacted).
func (c *Cluster) TopicEnd(ctx context.Context, topic string) (int64, error) {
	out, err := c.KafkaTool(ctx, "org.apache.kafka.tools.GetOffsetShell", "--bootstrap-server", c.Brokers(), "--topic", topic)
	if err != nil {
		return 0, err
	}
	var n int64
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Split(line, ":")
		if len(f) != 3 {
			continue
		}
		v, err := strconv.ParseInt(f[2], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("offsets of %s: %q", topic, line)
		}
		n += v
	}
	return n, nil
}

// Incident is the part of the API's incident the tests look at.
type Incident struct {
	ID         string    `json:"id"`
	Version    int       `json:"version"`
	State      string    `json:"state"`
	EventIDs   []string  `json:"event_ids"`
	EventCount int       `json:"event_count"`
	FirstSeen  time.Time `json:"first_seen"`
	UpdatedAt  time.Time `json:"updated_at"`
	Task       *struct {
		ID string `json:"id"`
	} `json:"task"`
}

// Lifecycle is one audit-trail entry of GET /api/v1/incidents/{id}.
type Lifecycle struct {
	ID       string `json:"id"`
	Version  int    `json:"version"`
	Action   string `json:"action"`
	To       string `json:"to"`
	TaskID   string `json:"task_id"`
	EventID  string `json:"event_id"`
	Outcome  string `json:"outcome"`
	Incident struct {
		ID string `json:"id"`
	} `json:"incident"`
}

// Incidents reads every incident from the API (GET /api/v1/incidents,
// pages of 5,000).
func Incidents(ctx context.Context, api string) ([]Incident, error) {
	var all []Incident
	for offset := 0; ; {
		var page struct {
			Items []Incident `json:"items"`
			Total int        `json:"total"`
		}
		if err := GetJSON(ctx, fmt.Sprintf("%s/api/v1/incidents?limit=5000&offset=%d", api, offset), &page); err != nil {
			return nil, err
		}
		all = append(all, page.Items...)
		offset += len(page.Items)
		if len(page.Items) == 0 || offset >= page.Total {
			return all, nil
		}
	}
}

// Timeline reads one incident's audit trail.
func Timeline(ctx context.Context, api, id string) (Incident, []Lifecycle, error) {
	var out struct {
		Incident
		Timeline []Lifecycle `json:"timeline"`
	}
	err := GetJSON(ctx, api+"/api/v1/incidents/"+id, &out)
	return out.Incident, out.Timeline, err
}

// ReportIDs reads the ids of all reports fused into one incident (its
// event_ids list only the first and the latest).
func ReportIDs(ctx context.Context, api, id string) ([]string, error) {
	var out struct {
		Reports []struct {
			ID string `json:"id"`
		} `json:"reports"`
	}
	if err := GetJSON(ctx, api+"/api/v1/incidents/"+id, &out); err != nil {
		return nil, err
	}
	ids := make([]string, len(out.Reports))
	for i, r := range out.Reports {
		ids[i] = r.ID
	}
	return ids, nil
}

// GetJSON GETs url and decodes the JSON answer (an error unless 200).
func GetJSON(ctx context.Context, url string, out any) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: HTTP %d %s", url, resp.StatusCode, lastLines(string(b), 3))
	}
	return json.Unmarshal(b, out)
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

// PID returns the pid of one process if it is running.
func (c *Cluster) PID(target string, i int) (int, bool) {
	b, err := os.ReadFile(filepath.Join(c.Run, "pids", fmt.Sprintf("%s-%d.pid", target, i)))
	if err != nil {
		return 0, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0, false
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || !bytes.Contains(cmdline, []byte("-target="+target)) {
		return 0, false
	}
	// A killed child stays a zombie until its parent reaps it.
	if stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
		if i := bytes.LastIndexByte(stat, ')'); i > 0 && i+2 < len(stat) && stat[i+2] == 'Z' {
			return 0, false
		}
	}
	return pid, true
}

// LogTail returns the last n lines of one process's log.
func (c *Cluster) LogTail(target string, i, n int) string {
	b, _ := os.ReadFile(filepath.Join(c.Run, "logs", fmt.Sprintf("%s-%d.log", target, i)))
	return lastLines(string(b), n)
}

// SetTopicConfig sets (value != "") or deletes a topic's config entry.
func (c *Cluster) SetTopicConfig(ctx context.Context, topic, key, value string) error {
	args := []string{"--bootstrap-server", c.Brokers(), "--entity-type", "topics", "--entity-name", topic, "--alter"}
	if value != "" {
		args = append(args, "--add-config", key+"="+value)
	} else {
		args = append(args, "--delete-config", key)
	}
	_, err := c.KafkaTool(ctx, "kafka.admin.ConfigCommand", args...)
	return err
}

// DeadLetter is one record of the dead-letter topic.
type DeadLetter struct {
	Origin string // topic/partition@offset
	Group  string
	Reason string
	ID     string // the "id" of the record's JSON value (event or lifecycle id)
	Event  string // the event id it carries, if any ("id" of raw and events records, "event_id" of lifecycles)
}

// DeadLetters reads the whole dead-letter topic.
func (c *Cluster) DeadLetters(ctx context.Context) ([]DeadLetter, error) {
	const sep = "\x1f"
	out, err := c.KafkaTool(ctx, "org.apache.kafka.tools.consumer.ConsoleConsumer", "--bootstrap-server", c.Brokers(),
		"--topic", c.Topic("dlq"), "--from-beginning", "--timeout-ms", "8000",
		"--formatter-property", "print.headers=true", "--formatter-property", "headers.separator="+sep,
		"--formatter-property", "print.key=false")
	if err != nil && !strings.Contains(err.Error(), "TimeoutException") && out == "" {
		// The console consumer exits 0 after --timeout-ms; anything else is an error.
		return nil, err
	}
	var dls []DeadLetter
	for _, line := range strings.Split(out, "\n") {
		hs, value, ok := strings.Cut(line, "\t")
		if !ok {
			continue
		}
		h := map[string]string{}
		for _, kv := range strings.Split(hs, sep) {
			if k, v, ok := strings.Cut(kv, ":"); ok {
				h[k] = v
			}
		}
		var v struct {
			ID      string `json:"id"`
			EventID string `json:"event_id"`
			Schema  int    `json:"schema"`
		}
		_ = json.Unmarshal([]byte(value), &v)
		d := DeadLetter{Origin: fmt.Sprintf("%s/%s@%s", strings.TrimPrefix(h["dlq.origin.topic"], c.Env["TOPIC_PREFIX"]), h["dlq.origin.partition"], h["dlq.origin.offset"]),
			Group: strings.TrimPrefix(h["dlq.group"], c.Env["TOPIC_PREFIX"]), Reason: h["dlq.reason"], ID: v.ID, Event: v.EventID}
		if strings.HasPrefix(v.ID, "EV-") {
			d.Event = v.ID
		}
		dls = append(dls, d)
	}
	return dls, nil
}

// Records reads a whole topic and returns the record values, one per line
// of the console consumer (JSON values have no newlines).
func (c *Cluster) Records(ctx context.Context, topic string) ([]string, error) {
	out, err := c.KafkaTool(ctx, "org.apache.kafka.tools.consumer.ConsoleConsumer", "--bootstrap-server", c.Brokers(),
		"--topic", topic, "--from-beginning", "--timeout-ms", "10000")
	if err != nil && out == "" {
		return nil, err
	}
	var vals []string
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "{") {
			vals = append(vals, line)
		}
	}
	return vals, nil
}

// Prune deletes the bulky parts of a stopped run — the broker's and Redis's
// data, the processes' data dirs and the binary — and keeps its logs, env
// and reports.
func (c *Cluster) Prune() error {
	var errs []error
	for _, p := range []string{"kafka/data", "redis", "data", "citybrain"} {
		errs = append(errs, os.RemoveAll(filepath.Join(c.Run, p)))
	}
	return errors.Join(errs...)
}
