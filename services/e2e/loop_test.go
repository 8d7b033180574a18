package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// login returns a bearer token.
func (s *server) login(user, pass string) string {
	s.t.Helper()
	var out struct{ Token string }
	body, _ := json.Marshal(map[string]string{"username": user, "password": pass})
	if code := s.do("POST", "/api/v1/auth/login", "application/json", body, &out); code != 200 || out.Token == "" {
		s.t.Fatalf("login %s: %d", user, code)
	}
	return out.Token
}

// upload stores a small PNG through POST /api/v1/media and returns its URL.
func (s *server) upload(token string) string {
	s.t.Helper()
	var img bytes.Buffer
	_ = png.Encode(&img, image.NewGray(image.Rect(0, 0, 4, 4)))
	req, _ := http.NewRequest("POST", s.base+"/api/v1/media", &img)
	req.Header.Set("Content-Type", "image/png")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	var out struct{ URL string }
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != 201 || out.URL == "" {
		s.t.Fatalf("upload: %d %v", resp.StatusCode, err)
	}
	return out.URL
}

type cmdAnswer struct {
	Outcome       string `json:"outcome"`
	NewIncidentID string `json:"new_incident_id"`
	Code          string `json:"code"`
	Error         string `json:"error"`
	Incident      struct {
		ID          string `json:"id"`
		Version     int    `json:"version"`
		State       string `json:"state"`
		EventCount  int    `json:"event_count"`
		ReworkCount int    `json:"rework_count"`
		ReopenCount int    `json:"reopen_count"`
		Rating      int    `json:"rating"`
		Task        *struct {
			WorkerID string    `json:"worker_id"`
			Deadline time.Time `json:"deadline"`
		} `json:"task"`
	} `json:"incident"`
}

// act posts a command as token and returns the status and the answer.
func (s *server) act(token, id, action string, body map[string]any) (int, cmdAnswer) {
	s.t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest("POST", s.base+"/api/v1/tasks/"+id+"/"+action, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	raw, _ := io.ReadAll(resp.Body)
	var a cmdAnswer
	_ = json.Unmarshal(raw, &a)
	if resp.StatusCode != 200 && a.Error == "" {
		s.t.Fatalf("%s: %d without a reason: %s", action, resp.StatusCode, raw)
	}
	return resp.StatusCode, a
}

// The issue 5 loop: a 12345 complaint and a grid report about one spot
// fuse; the dispatcher files and assigns; the worker accepts, asks for an
// extension, handles; 核查 sends it back once; handled again, verified,
// closed; the 回访 rating is 不满意 so it is reopened; it closes again and is
// rated — every step in the audit trail with its actor; two dispatchers
// assigning at once get one winner and one 409.
func TestEndToEndCaseLoop(t *testing.T) {
	s := start(t, t.TempDir(), env(t)...)
	disp := s.login("dispatcher", "dispatcher123")
	worker := s.login("worker", "worker123")
	other := s.login("worker2", "worker123")

	s.do("POST", "/api/v1/ingest/hotline", "application/json", []byte(`{"ticket_no":"GD-LOOP-1","appeal_type":"投诉","category":"垃圾堆放","content":"垃圾堆放多日","address":"三水街道","lon":120.1200,"lat":32.5200}`), nil)
	id := waitFor(t, s, func(items []map[string]any) (string, bool) {
		return str(items, "state", "received")
	})
	s.do("POST", "/api/v1/ingest/grid", "application/json", []byte(`{"report_id":"WG-LOOP-1","worker_id":"W9","category":"暴露垃圾","description":"路边垃圾","lon":120.1201,"lat":32.5201}`), nil)
	waitFor(t, s, func(items []map[string]any) (string, bool) {
		if len(items) == 1 && items[0]["event_count"].(float64) == 2 {
			return items[0]["id"].(string), true
		}
		return "", false
	})

	v := 2
	step := func(token, action string, body map[string]any, wantState string) cmdAnswer {
		t.Helper()
		if body == nil {
			body = map[string]any{}
		}
		body["base_version"] = v
		code, a := s.act(token, id, action, body)
		if code != 200 || a.Incident.State != wantState {
			t.Fatalf("%s: %d %s (%s), want state %s", action, code, a.Incident.State, a.Error, wantState)
		}
		v = a.Incident.Version
		return a
	}
	// No token, a forged token: 401, and nothing happens.
	for _, tok := range []string{"", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4Iiwicm9sZSI6ImFkbWluIn0."} {
		req, _ := http.NewRequest("POST", s.base+"/api/v1/tasks/"+id+"/file", bytes.NewReader([]byte(`{"base_version":2}`)))
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != 401 {
			t.Fatalf("command with token %q: %d, want 401", tok, resp.StatusCode)
		}
	}
	step(disp, "file", nil, "filed")

	// Both workers report their positions; the nearer one is suggested first.
	for tok, pos := range map[string][2]float64{worker: {120.1210, 32.5205}, other: {120.1400, 32.5300}} {
		b, _ := json.Marshal(map[string]any{"lon": pos[0], "lat": pos[1], "on_duty": true})
		req, _ := http.NewRequest("POST", s.base+"/api/v1/workers/position", bytes.NewReader(b))
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("position: %v %v", err, resp)
		}
		_ = resp.Body.Close()
	}
	var sug struct {
		Items []struct {
			WorkerID  string  `json:"worker_id"`
			DistanceM float64 `json:"distance_m"`
			Reason    string  `json:"reason"`
		} `json:"items"`
	}
	{
		req, _ := http.NewRequest("GET", s.base+"/api/v1/tasks/"+id+"/suggestions", nil)
		req.Header.Set("Authorization", "Bearer "+disp)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = json.NewDecoder(resp.Body).Decode(&sug)
		_ = resp.Body.Close()
		if len(sug.Items) != 2 || sug.Items[0].WorkerID != "worker" || sug.Items[0].Reason == "" || sug.Items[0].DistanceM > sug.Items[1].DistanceM {
			t.Fatalf("suggestions %+v", sug)
		}
	}

	// Two dispatchers assign at once: exactly one wins.
	var wg sync.WaitGroup
	codes := make([]int, 2)
	for i, w := range []string{"worker", "worker2"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes[i], _ = s.act(disp, id, "dispatch", map[string]any{"base_version": v, "department": "城市管理局", "worker_id": w})
		}()
	}
	wg.Wait()
	if (codes[0] != 200 || codes[1] != 409) && (codes[0] != 409 || codes[1] != 200) {
		t.Fatalf("concurrent assignment answered %v, want one 200 and one 409", codes)
	}
	var detail struct {
		Incident struct {
			Version int
			Task    struct {
				WorkerID string `json:"worker_id"`
			}
		}
	}
	req, _ := http.NewRequest("GET", s.base+"/api/v1/tasks/"+id, nil)
	req.Header.Set("Authorization", "Bearer "+disp)
	resp, _ := http.DefaultClient.Do(req)
	_ = json.NewDecoder(resp.Body).Decode(&detail)
	_ = resp.Body.Close()
	v = detail.Incident.Version
	assignee, assigneeTok := "worker", worker
	if detail.Incident.Task.WorkerID == "worker2" {
		assignee, assigneeTok = "worker2", other
	}
	// The other worker may not touch it.
	notMine := worker
	if assignee == "worker" {
		notMine = other
	}
	if code, _ := s.act(notMine, id, "accept", map[string]any{"base_version": v}); code != 403 {
		t.Fatalf("another worker's accept: %d, want 403", code)
	}
	a := step(assigneeTok, "accept", nil, "accepted")
	step(assigneeTok, "start", nil, "in_progress")
	newDeadline := a.Incident.Task.Deadline.Add(48 * time.Hour).Format(time.RFC3339)
	step(assigneeTok, "request_extension", map[string]any{"reason": "需要协调环卫车辆", "deadline": newDeadline}, "extension_requested")
	a = step(disp, "grant_extension", nil, "in_progress")
	if got := a.Incident.Task.Deadline.Format(time.RFC3339); got != newDeadline {
		t.Fatalf("deadline after 延期 %s, want %s", got, newDeadline)
	}
	if code, ans := s.act(assigneeTok, id, "handle", map[string]any{"base_version": v}); code != 422 {
		t.Fatalf("handle without a note: %d %+v", code, ans)
	}
	if code, ans := s.act(assigneeTok, id, "handle", map[string]any{"base_version": v, "note": "已清运", "photos": []string{"p1.jpg"}}); code != 422 {
		t.Fatalf("handle with a photo that was never uploaded: %d %+v", code, ans)
	}
	step(assigneeTok, "handle", map[string]any{"note": "已清运", "photos": []string{s.upload(assigneeTok)}}, "handled")
	a = step(disp, "send_back", map[string]any{"reason": "现场仍有垃圾"}, "dispatched")
	if a.Incident.ReworkCount != 1 {
		t.Fatalf("rework count %d", a.Incident.ReworkCount)
	}
	step(assigneeTok, "accept", nil, "accepted")
	step(assigneeTok, "start", nil, "in_progress")
	step(assigneeTok, "handle", map[string]any{"note": "已彻底清运"}, "handled")
	step(disp, "verify", nil, "verified")
	step(disp, "close", nil, "closed")
	a = step(disp, "visit", map[string]any{"rating": "不满意"}, "reopened")
	if a.Incident.ReopenCount != 1 {
		t.Fatalf("reopen count %d", a.Incident.ReopenCount)
	}
	step(disp, "dispatch", map[string]any{"department": "城市管理局", "worker_id": assignee}, "dispatched")
	step(assigneeTok, "accept", nil, "accepted")
	step(assigneeTok, "start", nil, "in_progress")
	step(assigneeTok, "handle", map[string]any{"note": "处理完毕，已电话告知居民13912345678"}, "handled")
	step(disp, "verify", nil, "verified")
	step(disp, "close", nil, "closed")
	a = step(disp, "rate", map[string]any{"rating": 4}, "rated")
	if a.Incident.Rating != 4 {
		t.Fatalf("rating %d", a.Incident.Rating)
	}
	// A stale command is refused with 409 and recorded.
	if code, ans := s.act(disp, id, "escalate", map[string]any{"base_version": 3, "reason": "催办"}); code != 409 {
		t.Fatalf("stale: %d %+v", code, ans)
	}

	// The audit trail has every step with its actor, the refusals too.
	var inc struct {
		Timeline []struct {
			Action  string
			Outcome string
			Note    string
			Actor   struct{ ID, Role string }
		}
	}
	s.do("GET", "/api/v1/incidents/"+id, "", nil, &inc)
	var got []string
	refused, notes := 0, 0
	for _, e := range inc.Timeline {
		// A number a worker wrote into a note: masked for the wall.
		if strings.Contains(e.Note, "居民") {
			notes++
			if !strings.HasSuffix(e.Note, "已电话告知居民139****5678") {
				t.Errorf("a viewer reads the note %q", e.Note)
			}
		}
		if e.Outcome == "refused" {
			refused++
			continue
		}
		got = append(got, e.Action+":"+e.Actor.ID)
	}
	want := []string{"receive:system", "add_report:system", "file:dispatcher", "dispatch:dispatcher", "accept:" + assignee, "start:" + assignee,
		"request_extension:" + assignee, "grant_extension:dispatcher", "handle:" + assignee, "send_back:dispatcher",
		"accept:" + assignee, "start:" + assignee, "handle:" + assignee, "verify:dispatcher", "close:dispatcher", "visit:dispatcher",
		"dispatch:dispatcher", "accept:" + assignee, "start:" + assignee, "handle:" + assignee, "verify:dispatcher", "close:dispatcher", "rate:dispatcher"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("audit trail\n got %v\nwant %v", got, want)
	}
	if notes != 1 {
		t.Errorf("%d notes with the number in the timeline, want 1", notes)
	}
	// Refused: the losing assignment, the other worker, the note-less handle, the stale escalate.
	if refused != 4 {
		t.Fatalf("%d refusals in the audit trail, want 4", refused)
	}

	// The KPIs count it: one case, closed, rated 满意 after one 发回重办,
	// handled on time and signed on time.
	var k struct {
		Overall struct {
			Total        int      `json:"total"`
			Closed       int      `json:"closed"`
			OnTimeSign   *float64 `json:"on_time_sign"`
			OnTimeClose  *float64 `json:"on_time_close"`
			Satisfaction *float64 `json:"satisfaction"`
			ReopenRate   *float64 `json:"reopen_rate"`
		} `json:"overall"`
		Groups []struct{ Key string } `json:"groups"`
	}
	s.do("GET", "/api/v1/stats/kpi?by=department", "", nil, &k)
	o := k.Overall
	one := func(p *float64) bool { return p != nil && *p == 1 }
	if o.Total != 1 || o.Closed != 1 || !one(o.OnTimeSign) || !one(o.OnTimeClose) || !one(o.Satisfaction) || !one(o.ReopenRate) ||
		len(k.Groups) != 1 || k.Groups[0].Key != "城市管理局" {
		t.Fatalf("KPIs %+v", k)
	}

	// Stopped and started again: the embedded Redis comes back from the
	// snapshot it wrote on the way out (a real Redis keeps its keys): every
	// incident, its audit trail and the KPIs are what they were.
	before := s.projections()
	s.stop()
	s.run()
	if l := s.logs(); strings.Contains(l, "snapshot not used") || strings.Contains(l, "no snapshot written") {
		t.Fatalf("the embedded Redis's snapshot was not written or not used:\n%s", l)
	}
	if after := s.projections(); after != before {
		t.Fatalf("projections after a restart differ\nbefore %s\nafter  %s", before, after)
	}
	// And the restored dispatcher state takes the next command.
	if code, ans := s.act(disp, id, "escalate", map[string]any{"base_version": v, "reason": "复盘督办"}); code != 409 || ans.Code != "not_allowed" {
		t.Fatalf("escalate a rated case after a restart: %d %+v", code, ans)
	}
	// Killed (no snapshot written on the way out) and started again: the
	// last stop's snapshot is brought up to date from the tasks topic, the
	// refusal just recorded included.
	before = s.projections()
	if !strings.Contains(before, "复盘督办") {
		t.Fatalf("the refused escalation is not in the audit trail: %s", before)
	}
	s.kill()
	s.run()
	if l := s.logs(); strings.Contains(l, "snapshot not used") {
		t.Fatalf("the embedded Redis's snapshot was not used after a crash:\n%s", l)
	}
	if after := s.projections(); after != before {
		t.Fatalf("projections after a crash differ\nbefore %s\nafter  %s", before, after)
	}
	// Redis flushed (and the embedded Redis's snapshot removed), the
	// projections rebuilt from the whole topic: the same again.
	s.stop()
	s.flushRedis()
	s.run()
	if after := s.projections(); after != before {
		t.Fatalf("projections after rebuild differ\nbefore %s\nafter  %s", before, after)
	}
	if code, ans := s.act(disp, id, "escalate", map[string]any{"base_version": v, "reason": "复盘督办"}); code != 409 || ans.Code != "not_allowed" {
		t.Fatalf("escalate a rated case after rebuild: %d %+v", code, ans)
	}
}

// projections returns every incident with its timeline, and the KPIs, as
// one canonical JSON string.
func (s *server) projections() string {
	s.t.Helper()
	var list struct {
		Items []map[string]any `json:"items"`
	}
	s.do("GET", "/api/v1/incidents?limit=5000", "", nil, &list)
	out := map[string]any{}
	for _, inc := range list.Items {
		var detail map[string]any
		s.do("GET", "/api/v1/incidents/"+inc["id"].(string), "", nil, &detail)
		out[inc["id"].(string)] = detail
	}
	var stats, kpis map[string]any
	s.do("GET", "/api/v1/stats/summary", "", nil, &stats)
	s.do("GET", "/api/v1/stats/kpi?by=worker", "", nil, &kpis)
	out["stats"], out["kpi"] = stats, kpis
	b, _ := json.Marshal(out)
	return string(b)
}

func waitFor(t *testing.T, s *server, ok func([]map[string]any) (string, bool)) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var list struct{ Items []map[string]any }
		s.do("GET", "/api/v1/incidents", "", nil, &list)
		if id, done := ok(list.Items); done {
			return id
		}
		if time.Now().After(deadline) {
			t.Fatalf("incidents: %+v", list.Items)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func str(items []map[string]any, key, want string) (string, bool) {
	for _, it := range items {
		if it[key] == want {
			return it["id"].(string), true
		}
	}
	return "", false
}

// The all-in-one process snapshots its embedded Redis while reports flow
// (every second here), and is killed in the middle of the flow: the start
// after it loads the last snapshot and replays the tasks topic after it,
// and what it ends with, once everything acknowledged is through, is what
// a rebuild from the whole topic gives.
func TestEndToEndSnapshotUnderLoadAndCrash(t *testing.T) {
	if os.Getenv("TEST_KAFKA_BROKERS") != "" {
		t.Skip("the snapshot is the embedded Redis's")
	}
	s := start(t, t.TempDir(), "EMBEDDED_SNAPSHOT_EVERY=1s", "LOG_LEVEL=info")
	var acked atomic.Int64
	// send posts the reports numbered from..from+n and returns those
	// that got no answer. A report in flight when the process is killed
	// may be stored without its 202 reaching the client; like a real
	// client, the test sends those again (same ticket number) once the
	// process is back, and counts each report once.
	send := func(nums []int) (unanswered []int) {
		for _, i := range nums {
			// Every third report is the same problem as the one before: fused.
			lon := 120.10 + float64(i/3%40)*0.002
			body := fmt.Sprintf(`{"ticket_no":"GD-SNAP-%d","appeal_type":"投诉","category":"占道经营","content":"路边摊贩占道经营 %d","address":"三水街道","lon":%.4f,"lat":32.5100}`, i, i, lon)
			resp, err := http.Post(s.base+"/api/v1/ingest/hotline", "application/json", strings.NewReader(body))
			if err != nil {
				unanswered = append(unanswered, i) // the process is down
				continue
			}
			_ = resp.Body.Close()
			if resp.StatusCode == 202 {
				acked.Add(1)
			}
			time.Sleep(20 * time.Millisecond)
		}
		return unanswered
	}
	seq := func(from, n int) []int {
		nums := make([]int, n)
		for k := range nums {
			nums[k] = from + k
		}
		return nums
	}
	if left := send(seq(0, 150)); len(left) > 0 { // ~3 s: snapshots taken meanwhile
		t.Fatalf("reports %v got no answer before any crash", left)
	}
	resp, err := http.Get(s.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if !regexp.MustCompile(`(?m)^citybrain_snapshot_keys [1-9]`).Match(metrics) || !strings.Contains(string(metrics), "citybrain_snapshot_failures_total 0") {
		t.Fatalf("the snapshot's metrics:\n%s", metrics)
	}
	done := make(chan []int)
	go func() { done <- send(seq(150, 100)) }()
	time.Sleep(time.Second)
	s.kill()
	unanswered := <-done
	if !strings.Contains(s.logs(), "snapshot written") {
		t.Fatalf("no snapshot written while the reports flowed:\n%s", s.logs())
	}
	s.run()
	if left := send(append(unanswered, seq(250, 50)...)); len(left) > 0 {
		t.Fatalf("reports %v got no answer after the restart", left)
	}
	restoredLine := ""
	for l := range strings.Lines(s.logs()) {
		if strings.Contains(l, "restored from the snapshot") {
			restoredLine = l
		}
	}
	if restoredLine == "" {
		t.Fatalf("the start after the crash did not use the snapshot:\n%s", s.logs())
	}
	t.Log(restoredLine)
	// Everything acknowledged is in the projections: today's count of
	// reports (fused ones included) reaches it.
	deadline := time.Now().Add(30 * time.Second)
	for {
		var sum struct{ Today map[string]int }
		s.do("GET", "/api/v1/stats/summary", "", nil, &sum)
		if int64(sum.Today["hotline"]) == acked.Load() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d hotline reports counted, %d acknowledged", sum.Today["hotline"], acked.Load())
		}
		time.Sleep(200 * time.Millisecond)
	}
	restored := s.projections()
	s.stop()
	s.flushRedis()
	s.run()
	if rebuilt := s.projections(); rebuilt != restored {
		t.Fatalf("restored from snapshots and rebuilt from the topic differ\nrestored %s\nrebuilt  %s", restored, rebuilt)
	}
}
