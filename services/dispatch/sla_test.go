package dispatch

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/citybrain-ioc/citybrain/services/event"
	"github.com/citybrain-ioc/citybrain/services/internal/testenv"
	"github.com/citybrain-ioc/citybrain/services/kafkabus"
	"github.com/citybrain-ioc/citybrain/services/wire"
)

// An overdue task raises one overdue alert and is escalated (督办) one level
// per scan until its level matches its 超时倍数; a task with time left only
// gets a warning.
func TestSLAEscalatesOverdueTasks(t *testing.T) {
	st := testenv.Store(t)
	pub := &testenv.Publisher{}
	topics := kafkabus.Topics{Prefix: "x."}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	d := New(st, pub, topics, defaultRules(t), log)
	ev := sampleEvent() // garbage: 24 h allowed
	for _, lc := range Open(ev, ev.ReceivedAt, defaultRules(t)()) {
		if _, err := st.Apply(t.Context(), lc); err != nil {
			t.Fatal(err)
		}
	}
	sla := NewSLA(st, pub, topics, log)
	scanAt := func(at time.Time) (cmds, alerts int) {
		t.Helper()
		pub.Msgs = nil
		sla.now = func() time.Time { return at }
		if err := sla.Scan(t.Context()); err != nil {
			t.Fatal(err)
		}
		for _, m := range pub.Msgs {
			switch m.Topic {
			case topics.Commands():
				cmds++
				if err := d.Handle(t.Context(), m); err != nil {
					t.Fatal(err)
				}
			case topics.Alerts():
				alerts++
			}
		}
		return cmds, alerts
	}
	if c, a := scanAt(ev.ReceivedAt.Add(12 * time.Hour)); c != 0 || a != 0 {
		t.Fatalf("half-way: %d commands, %d alerts", c, a)
	}
	if c, a := scanAt(ev.ReceivedAt.Add(20 * time.Hour)); c != 0 || a != 1 {
		t.Fatalf("at 83%%: %d commands, %d alerts, want a warning", c, a)
	}
	late := ev.ReceivedAt.Add(60 * time.Hour) // 超时倍数 2.5
	if c, a := scanAt(late); c != 1 || a != 1 {
		t.Fatalf("overdue: %d commands, %d alerts", c, a)
	}
	if c, a := scanAt(late); c != 1 || a != 0 {
		t.Fatalf("second scan: %d commands, %d alerts (the alert is raised once)", c, a)
	}
	if c, _ := scanAt(late); c != 0 {
		t.Fatalf("escalated to level 2 already, sent %d more", c)
	}
	inc, err := st.Incident(t.Context(), ev.IncidentID)
	if err != nil || inc.EscalationLevel != 2 {
		t.Fatalf("escalation level %d %v", inc.EscalationLevel, err)
	}
	tl, _ := st.Timeline(t.Context(), ev.IncidentID)
	if last := tl[len(tl)-1]; last.Action != "escalate" || last.Actor.ID != "sla" {
		t.Fatalf("audit: %+v", last)
	}
	raw, _ := st.Alerts(t.Context(), 10)
	var a Alert
	if len(raw) != 2 || wire.Unmarshal(raw[0], &a) != nil || a.Type != "overdue" || a.Level != 2 {
		t.Fatalf("recent alerts %s", raw)
	}
	_ = event.Schema
}
