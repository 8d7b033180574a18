package dispatch

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/citybrain-ioc/citybrain/services/casestate"
	"github.com/citybrain-ioc/citybrain/services/event"
	"github.com/citybrain-ioc/citybrain/services/kafkabus"
	"github.com/citybrain-ioc/citybrain/services/redisstore"
	"github.com/citybrain-ioc/citybrain/services/wire"
)

// Alert is the record on the alerts topic (SLA warnings, overdue tasks,
// escalations), keyed by incident id.
type Alert struct {
	Schema     int       `json:"schema"`
	ID         string    `json:"id"`
	Type       string    `json:"type"` // sla_warning, overdue
	IncidentID string    `json:"incident_id"`
	TaskID     string    `json:"task_id"`
	Department string    `json:"department,omitempty"`
	WorkerID   string    `json:"worker_id,omitempty"`
	Deadline   time.Time `json:"deadline"`
	Overtime   float64   `json:"overtime"` // 超时倍数 when raised
	Level      int       `json:"level,omitempty"`
	At         time.Time `json:"at"`
	Message    string    `json:"message"`
}

// SLA watches the deadlines of open tasks: it warns when a task has used
// WarnAt of its time, raises an overdue alert at the deadline and escalates
// (督办) through the state machine — level 1 when the deadline passes, one
// more level each further multiple of the time allowed (超时倍数 2, 3), at
// most MaxLevel. Alerts are published once per task and level (Redis marks);
// escalations are commands with ids derived from case, level and version,
// so several dispatcher instances scanning at once send the same command.
type SLA struct {
	store   *redisstore.Store
	pub     Publisher
	topics  kafkabus.Topics
	log     *slog.Logger
	Every   time.Duration
	WarnAt  float64
	MaxLvl  int
	now     func() time.Time
	horizon int
	cases   *redisstore.CaseCache[slaCase] // the open cases, reread only where they changed
}

// slaCase is what a scan needs of an open case, decoded once per version.
type slaCase struct {
	state event.State
	c     casestate.Case
	ok    bool // a case with a running task clock
}

// NewSLA returns the deadline watcher.
func NewSLA(store *redisstore.Store, pub Publisher, topics kafkabus.Topics, log *slog.Logger) *SLA {
	s := &SLA{store: store, pub: pub, topics: topics, log: log, Every: 15 * time.Second, WarnAt: 0.8, MaxLvl: 3, now: time.Now, horizon: 50000}
	s.cases = redisstore.NewCaseCache(store, s.horizon, true, func(r redisstore.CaseRow) slaCase {
		sc := slaCase{state: r.Incident.State}
		if len(r.Case) == 0 || wire.Unmarshal(r.Case, &sc.c) != nil || sc.c.TaskSeq == 0 || sc.c.Deadline.IsZero() {
			return sc
		}
		sc.c.Version = r.Incident.Version
		sc.ok = true
		return sc
	})
	return s
}

// Run scans until ctx ends.
func (s *SLA) Run(ctx context.Context) error {
	t := time.NewTicker(s.Every)
	defer t.Stop()
	for {
		if err := s.Scan(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("sla scan failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// running are the states in which a task's clock runs against the department.
var running = map[event.State]bool{event.Dispatched: true, event.Accepted: true, event.InProgress: true, event.ExtensionRequested: true}

// Scan checks every open task once.
func (s *SLA) Scan(ctx context.Context) error {
	cases, err := s.cases.Load(ctx)
	if err != nil {
		return err
	}
	now := s.now().UTC()
	for _, sc := range cases {
		if !sc.ok || !running[sc.state] {
			continue
		}
		c := sc.c
		ot := casestate.Overtime(c, now)
		if ot >= s.WarnAt && ot < 1 {
			if err := s.alert(ctx, c, "sla_warning", ot, 0, fmt.Sprintf("任务即将超时：已用 %.0f%% 时限", ot*100)); err != nil {
				return err
			}
		}
		if ot < 1 {
			continue
		}
		level := min(int(math.Floor(ot)), s.MaxLvl)
		if err := s.alert(ctx, c, "overdue", ot, level, fmt.Sprintf("任务已超时，超时倍数 %.1f", ot)); err != nil {
			return err
		}
		if c.EscalationLevel >= level {
			continue
		}
		cmd := casestate.Command{
			ID:     fmt.Sprintf("SLA-%s-%d-L%d-v%d", c.ID, c.TaskSeq, c.EscalationLevel+1, c.Version),
			Action: casestate.Escalate, Actor: casestate.Actor{ID: "sla", Role: casestate.RoleSystem},
			BaseVersion: c.Version, At: now, Reason: fmt.Sprintf("自动督办：超时倍数 %.1f", ot),
		}
		b, _ := wire.Marshal(CommandRecord{Schema: event.Schema, IncidentID: c.ID, Command: cmd})
		if err := s.pub.Publish(ctx, kafka.Message{Topic: s.topics.Commands(), Key: []byte(c.ID), Value: b}); err != nil {
			return err
		}
	}
	return nil
}

func (s *SLA) alert(ctx context.Context, c casestate.Case, typ string, ot float64, level int, msg string) error {
	id := fmt.Sprintf("%s/%s/%d/%d", c.TaskID(), typ, c.TaskSeq, level)
	fresh, err := s.store.MarkSeen(ctx, "alert", id, 31*24*time.Hour)
	if err != nil || !fresh {
		return err
	}
	a := Alert{Schema: event.Schema, ID: id, Type: typ, IncidentID: c.ID, TaskID: c.TaskID(), Department: c.Department, WorkerID: c.WorkerID,
		Deadline: c.Deadline, Overtime: ot, Level: level, At: s.now().UTC(), Message: msg}
	b, _ := wire.Marshal(a)
	if err := s.pub.Publish(ctx, kafka.Message{Topic: s.topics.Alerts(), Key: []byte(c.ID), Value: b}); err != nil {
		return err
	}
	return s.store.PushAlert(ctx, b)
}
