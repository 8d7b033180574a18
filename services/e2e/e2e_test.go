// Package e2e tests the real citybrain binary from the outside: it builds
// it, starts it on free ports (embedded broker and Redis, or the real ones
// named by TEST_KAFKA_BROKERS and TEST_REDIS_ADDR), and drives it over HTTP
// and the websocket as a client would.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/redis/go-redis/v9"

	"github.com/citybrain-ioc/citybrain/services/event"
	"github.com/citybrain-ioc/citybrain/services/internal/testenv"
	"github.com/citybrain-ioc/citybrain/services/redisstore"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "citybrain-e2e")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "citybrain")
	cmd := exec.Command("go", "build", "-o", binary, "../cmd/citybrain")
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build citybrain:", err)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// server is one running citybrain process.
type server struct {
	t    *testing.T
	cmd  *exec.Cmd
	base string
	env  []string
	log  *bytes.Buffer
	mu   *sync.Mutex
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port
}

// start runs the binary with env until the test ends; data persists in dataDir.
func start(t *testing.T, dataDir string, extra ...string) *server {
	t.Helper()
	port := freePort(t)
	// Only what env() chose: a KAFKA_BROKERS or REDIS_ADDR exported for
	// other suites must not make tests share one broker and key space.
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "KAFKA_BROKERS", "REDIS_ADDR", "TOPIC_PREFIX", "REDIS_PREFIX", "HTTP_ADDR", "DATA_DIR", "GIS_DIR":
			continue
		}
		env = append(env, kv)
	}
	env = append(env, "HTTP_ADDR=127.0.0.1:"+fmt.Sprint(port), "DATA_DIR="+dataDir, "LOG_LEVEL=warn")
	env = append(env, extra...)
	s := &server{t: t, base: fmt.Sprintf("http://127.0.0.1:%d", port), env: env, log: &bytes.Buffer{}, mu: &sync.Mutex{}}
	s.run()
	t.Cleanup(s.stop)
	return s
}

func (s *server) run() {
	s.cmd = exec.Command(binary, "-target=all")
	s.cmd.Env = s.env
	s.cmd.Stdout = io.Discard
	s.cmd.Stderr = writerFunc(func(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.log.Write(p) })
	if err := s.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(s.base + "/readyz")
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	s.stop()
	s.t.Fatalf("citybrain did not become ready; log:\n%s", s.logs())
}

func (s *server) stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = s.cmd.Process.Kill()
		<-done
	}
	s.cmd = nil
}

// kill ends the process with SIGKILL.
func (s *server) kill() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
	s.cmd = nil
}

// flushRedis empties the projections of a stopped server: with embedded
// Redis, remove the snapshot its next start would load (a start without
// one rebuilds); with a real Redis, delete this test's keys.
func (s *server) flushRedis() {
	addr, prefix, data := "", "", ""
	for _, kv := range s.env {
		if v, ok := strings.CutPrefix(kv, "REDIS_ADDR="); ok {
			addr = v
		}
		if v, ok := strings.CutPrefix(kv, "REDIS_PREFIX="); ok {
			prefix = v
		}
		if v, ok := strings.CutPrefix(kv, "DATA_DIR="); ok {
			data = v
		}
	}
	if addr == "" {
		if err := os.Remove(filepath.Join(data, "redis.snapshot")); err != nil {
			s.t.Fatalf("the embedded Redis's snapshot: %v", err)
		}
		return
	}
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer func() { _ = rdb.Close() }()
	if err := redisstore.New(rdb, prefix, time.UTC).Flush(context.Background()); err != nil {
		s.t.Fatal(err)
	}
}

func (s *server) logs() string { s.mu.Lock(); defer s.mu.Unlock(); return s.log.String() }

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// do sends a request and decodes a JSON answer into out (if not nil).
func (s *server) do(method, path, contentType string, body []byte, out any) int {
	s.t.Helper()
	req, _ := http.NewRequest(method, s.base+path, bytes.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(resp.Body)
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			s.t.Fatalf("%s %s: %d %s: %v", method, path, resp.StatusCode, b, err)
		}
	}
	return resp.StatusCode
}

func env(t *testing.T) []string {
	var extra []string
	if k := os.Getenv("TEST_KAFKA_BROKERS"); k != "" {
		p := testenv.Prefix(t)
		extra = append(extra, "KAFKA_BROKERS="+k, "TOPIC_PREFIX="+p, "REDIS_ADDR="+testenv.Redis(t), "REDIS_PREFIX="+p)
	} else if testenv.Real() {
		t.Fatal("TEST_REAL=1 but TEST_KAFKA_BROKERS is not set")
	}
	return extra
}

// Points inside 姜堰区 (WGS-84) and one 高德 (GCJ-02) pick.
var samples = map[string]string{
	"hotline":   `{"ticket_no":"GD-E2E-1","appeal_type":"投诉","category":"垃圾堆放","content":"小区门口垃圾堆放多日，另一个联系电话13912345678","address":"泰州市姜堰区三水街道","caller_phone":"13812345678","lon":120.132,"lat":32.514,"crs":"gcj02"}`,
	"grid":      `{"report_id":"WG-E2E-1","worker_id":"W0001","category":"占道经营","description":"店外经营","lon":120.10,"lat":32.50,"photos":["a.jpg"]}`,
	"emergency": `{"alarm_id":"JJ-E2E-1","alarm_type":"119","level":2,"description":"发现明火","lon":120.15,"lat":32.55}`,
	"traffic":   `[{"event_id":"JT-E2E-1","event_type":"accident","road":"S229","lon":120.05,"lat":32.45},{"event_id":"JT-E2E-2","event_type":"congestion","road":"S229","lon":120.06,"lat":32.46}]`,
}

type accepted struct {
	Accepted []struct {
		ID        string `json:"id"`
		Duplicate bool   `json:"duplicate"`
	} `json:"accepted"`
}

type incident struct {
	ID       string   `json:"id"`
	Version  int      `json:"version"`
	State    string   `json:"state"`
	Source   string   `json:"source"`
	Category string   `json:"category"`
	EventIDs []string `json:"event_ids"`
	Place    struct {
		Town    struct{ Code, Name string } `json:"town"`
		Village struct{ Code, Name string } `json:"village"`
		Grid    struct{ Code, Name string } `json:"grid"`
	} `json:"place"`
	Timeline []map[string]any `json:"timeline"`
}

func TestEndToEndFourSourcesThroughAPIAndWebsocket(t *testing.T) {
	data := t.TempDir()
	s := start(t, data, env(t)...)

	// A wall client: ticket, upgrade, subscribe, snapshot.
	ws := dialWall(t, s)
	defer func() { _ = ws.Close() }()
	var snap struct {
		Type string `json:"type"`
		Seq  string `json:"seq"`
	}
	readJSON(t, ws, &snap)
	if snap.Type != "snapshot" {
		t.Fatalf("first message %q, want snapshot", snap.Type)
	}

	ids := map[string]string{} // event id → source
	for src, body := range samples {
		var a accepted
		if code := s.do("POST", "/api/v1/ingest/"+src, "application/json", []byte(body), &a); code != 202 {
			t.Fatalf("%s: status %d", src, code)
		}
		for _, x := range a.Accepted {
			ids[x.ID] = src
		}
	}
	if len(ids) != 5 {
		t.Fatalf("accepted %d ids, want 5", len(ids))
	}

	// The same ticket again is the same event.
	var again accepted
	s.do("POST", "/api/v1/ingest/hotline", "application/json", []byte(samples["hotline"]), &again)
	if len(again.Accepted) != 1 || !again.Accepted[0].Duplicate || ids[again.Accepted[0].ID] != "hotline" {
		t.Fatalf("resend: %+v", again)
	}
	// So is an array sent again, report by report.
	var arr accepted
	s.do("POST", "/api/v1/ingest/traffic", "application/json", []byte(samples["traffic"]), &arr)
	if len(arr.Accepted) != 2 || !arr.Accepted[0].Duplicate || !arr.Accepted[1].Duplicate ||
		arr.Accepted[0].ID == arr.Accepted[1].ID || ids[arr.Accepted[0].ID] != "traffic" || ids[arr.Accepted[1].ID] != "traffic" {
		t.Fatalf("an array sent again: %+v", arr)
	}

	// Every event arrives on the websocket as an incident delta, until its
	// incident is dispatched.
	pushed := map[string]string{} // event id → incident id
	state := map[string]string{}  // incident id → latest state pushed
	dispatched := func() bool {
		if len(pushed) < len(ids) {
			return false
		}
		for ev, inc := range pushed {
			if want := map[bool]string{true: "received", false: "dispatched"}[ids[ev] == "hotline"]; state[inc] != want {
				return false
			}
		}
		return true
	}
	deadline := time.Now().Add(30 * time.Second)
	for !dispatched() && time.Now().Before(deadline) {
		var msg struct {
			Type string   `json:"type"`
			Kind string   `json:"kind"`
			Seq  string   `json:"seq"`
			Data incident `json:"data"`
		}
		_ = ws.SetReadDeadline(deadline)
		readJSON(t, ws, &msg)
		if msg.Type == "delta" && msg.Kind == "incident" {
			for _, e := range msg.Data.EventIDs {
				if _, ok := ids[e]; ok {
					pushed[e] = msg.Data.ID
				}
			}
			state[msg.Data.ID] = msg.Data.State
			if msg.Seq == "" {
				t.Fatal("delta without seq")
			}
		}
	}
	if !dispatched() {
		t.Fatalf("websocket delivered %d of %d events, states %v", len(pushed), len(ids), state)
	}

	// The API has them enriched: town, village and grid filled.
	var list struct {
		Items []incident `json:"items"`
		Total int        `json:"total"`
	}
	s.do("GET", "/api/v1/incidents?limit=100", "", nil, &list)
	if list.Total != 5 {
		t.Fatalf("total %d, want 5", list.Total)
	}
	for _, inc := range list.Items {
		if inc.Place.Town.Name == "" || inc.Place.Village.Name == "" || len(inc.Place.Grid.Code) < 12 {
			t.Errorf("incident %s not placed: %+v", inc.ID, inc.Place)
		}
		if want := map[bool]string{true: "received", false: "dispatched"}[inc.Source == "hotline"]; inc.State != want {
			t.Errorf("%s incident %s state %s, want %s", inc.Source, inc.ID, inc.State, want)
		}
	}
	// Filters: by source, by text, by state.
	for query, want := range map[string]int{"source=traffic": 2, "source=hotline&q=垃圾": 1, "state=received": 1, "q=不存在的内容": 0, "town=" + list.Items[0].Place.Town.Code: -1} {
		var got struct{ Total int }
		if code := s.do("GET", "/api/v1/incidents?"+query, "", nil, &got); code != 200 || (want >= 0 && got.Total != want) || (want < 0 && got.Total < 1) {
			t.Errorf("filter %s: %d, total %d, want %d", query, code, got.Total, want)
		}
	}
	if code := s.do("GET", "/api/v1/incidents?state=bogus", "", nil, nil); code != 400 {
		t.Errorf("bad state filter: %d", code)
	}
	var one incident
	if code := s.do("GET", "/api/v1/incidents/"+list.Items[0].ID, "", nil, &one); code != 200 || len(one.Timeline) < 1 {
		t.Fatalf("incident detail: %d %+v", code, one)
	}
	// The caller's phone number is masked for everyone but dispatchers,
	// and so is a number written into the text; the incident's own text
	// (on the wall, to workers, in Open311) is masked for everyone.
	for _, inc := range list.Items {
		if inc.Source != "hotline" {
			continue
		}
		var anon struct {
			Description string `json:"description"`
			Reports     []struct {
				Description string                 `json:"description"`
				Reporter    struct{ Phone string } `json:"reporter"`
			} `json:"reports"`
		}
		s.do("GET", "/api/v1/incidents/"+inc.ID, "", nil, &anon)
		if len(anon.Reports) != 1 || anon.Reports[0].Reporter.Phone != "138****5678" || anon.Reports[0].Description != "小区门口垃圾堆放多日，另一个联系电话139****5678" {
			t.Fatalf("viewer sees reports %+v", anon.Reports)
		}
		if anon.Description != "小区门口垃圾堆放多日，另一个联系电话139****5678" {
			t.Fatalf("the incident's text: %q", anon.Description)
		}
		tok := s.login("dispatcher", "dispatcher123")
		req, _ := http.NewRequest("GET", s.base+"/api/v1/incidents/"+inc.ID, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = json.NewDecoder(resp.Body).Decode(&anon)
		_ = resp.Body.Close()
		if anon.Reports[0].Reporter.Phone != "13812345678" || anon.Reports[0].Description != "小区门口垃圾堆放多日，另一个联系电话13912345678" {
			t.Fatalf("dispatcher sees %+v", anon.Reports)
		}
	}
	// ?reports=n: the first and the latest; reports_total counts all.
	{
		inc := list.Items[0]
		var full, first struct {
			EventCount   int               `json:"event_count"`
			Reports      []json.RawMessage `json:"reports"`
			ReportsTotal int               `json:"reports_total"`
		}
		s.do("GET", "/api/v1/incidents/"+inc.ID, "", nil, &full)
		if code := s.do("GET", "/api/v1/incidents/"+inc.ID+"?reports=1", "", nil, &first); code != 200 ||
			len(first.Reports) != 1 || first.ReportsTotal != len(full.Reports) || full.ReportsTotal != full.EventCount ||
			string(first.Reports[0]) != string(full.Reports[0]) {
			t.Fatalf("?reports=1: %d, %d of %d reports (event_count %d)", code, len(first.Reports), first.ReportsTotal, full.EventCount)
		}
	}
	if code := s.do("GET", "/api/v1/incidents/"+list.Items[0].ID+"?reports=0", "", nil, nil); code != 400 {
		t.Fatalf("?reports=0: %d", code)
	}
	// ?timeline=: all (the default), folded, none; anything else is refused.
	for mode, want := range map[string]int{"all": len(one.Timeline), "folded": len(one.Timeline), "none": 0} {
		var got incident
		if code := s.do("GET", "/api/v1/incidents/"+list.Items[0].ID+"?timeline="+mode, "", nil, &got); code != 200 || len(got.Timeline) != want || got.Timeline == nil {
			t.Fatalf("?timeline=%s: %d, %d entries, want %d", mode, code, len(got.Timeline), want)
		}
	}
	if code := s.do("GET", "/api/v1/incidents/"+list.Items[0].ID+"?timeline=some", "", nil, nil); code != 400 {
		t.Fatalf("?timeline=some: %d", code)
	}
	if code := s.do("GET", "/api/v1/incidents/INC-NOPE", "", nil, nil); code != 404 {
		t.Fatalf("missing incident: %d", code)
	}

	if os.Getenv("TEST_KAFKA_BROKERS") != "" {
		return // the restart below is of the embedded broker's data directory
	}
	// Kill the process (SIGKILL: a crash, nothing flushed on the way out)
	// and start it again: the broker's log was on disk before it answered,
	// the projections are rebuilt from it, and what the consumers had not
	// committed is done again without doubling anything.
	s.kill()
	s.run()
	var after struct{ Total int }
	s.do("GET", "/api/v1/incidents", "", nil, &after)
	if after.Total != 5 {
		t.Fatalf("after restart %d incidents, want 5; log:\n%s", after.Total, s.logs())
	}
}

func TestEndToEndBadInputIsRefusedWithAReason(t *testing.T) {
	s := start(t, t.TempDir(), env(t)...)
	for _, tc := range []struct {
		name, src, ct, body string
		status              int
		field               string
	}{
		{"malformed", "hotline", "application/json", `{"ticket_no":`, 400, "body"},
		{"wrong type", "grid", "application/json", `{"report_id":7}`, 422, "report_id"},
		{"missing field", "hotline", "application/json", `{"ticket_no":"x","appeal_type":"投诉","address":"a"}`, 422, "content"},
		{"unknown category", "grid", "application/json", `{"report_id":"r","worker_id":"w","category":"飞碟","lon":120.1,"lat":32.5}`, 422, "category"},
		{"swapped lat/lon", "grid", "application/json", `{"report_id":"r","worker_id":"w","category":"占道经营","lon":32.5,"lat":120.1}`, 422, "lon"},
		{"outside the area", "grid", "application/json", `{"report_id":"r","worker_id":"w","category":"占道经营","lon":116.4,"lat":39.9}`, 422, "lon"},
		{"invalid UTF-8", "hotline", "application/json", "{\"ticket_no\":\"\xff\xfe\"}", 400, "body"},
		{"unknown source", "weather", "application/json", `{}`, 404, "source"},
		{"not JSON", "hotline", "text/xml", `<a/>`, 415, "Content-Type"},
		{"too large", "hotline", "application/json", `{"content":"` + strings.Repeat("a", 2<<20) + `"}`, 413, "body"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var p struct {
				Error  string `json:"error"`
				Errors []struct{ Field, Reason string }
			}
			code := s.do("POST", "/api/v1/ingest/"+tc.src, tc.ct, []byte(tc.body), &p)
			if code != tc.status {
				t.Fatalf("status %d, want %d (%+v)", code, tc.status, p)
			}
			found := false
			for _, e := range p.Errors {
				found = found || e.Field == tc.field
			}
			if !found || p.Error == "" {
				t.Fatalf("errors %+v do not name %q", p, tc.field)
			}
		})
	}
	// Nothing of that reached the pipeline, and a good record still goes through.
	var a accepted
	if code := s.do("POST", "/api/v1/ingest/grid", "application/json", []byte(samples["grid"]), &a); code != 202 {
		t.Fatalf("good record after bad ones: %d", code)
	}
}

func dialWall(t *testing.T, s *server) *websocket.Conn {
	t.Helper()
	var tk struct{ Ticket string }
	if code := s.do("POST", "/api/v1/auth/ws-ticket", "", nil, &tk); code != 200 || tk.Ticket == "" {
		t.Fatalf("ticket: %d", code)
	}
	d := websocket.Dialer{Subprotocols: []string{"citybrain.v1", "ticket." + tk.Ticket}}
	url := strings.Replace(s.base, "http", "ws", 1) + "/ws"
	ws, resp, err := d.Dial(url, nil)
	if err != nil {
		t.Fatalf("dial: %v %v", err, resp)
	}
	if ws.Subprotocol() != "citybrain.v1" {
		t.Fatalf("subprotocol %q", ws.Subprotocol())
	}
	if err := ws.WriteJSON(map[string]any{"op": "subscribe", "channel": "wall"}); err != nil {
		t.Fatal(err)
	}
	// A ticket works once.
	if _, resp, err := d.Dial(url, nil); err == nil || resp.StatusCode != 401 {
		t.Fatalf("ticket reused: %v", err)
	}
	return ws
}

func readJSON(t *testing.T, ws *websocket.Conn, v any) {
	t.Helper()
	_, b, err := ws.ReadMessage()
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
}

// A smoke alarm, three 12345 calls and a grid report about one fire become
// one incident with five events, whatever order they arrive in.
func TestEndToEndFusedFire(t *testing.T) {
	s := start(t, t.TempDir(), env(t)...)
	reports := []struct{ src, body string }{
		{"emergency", `{"alarm_id":"SMOKE-F1","alarm_type":"smoke","device_id":"YG-0012","lon":120.1300,"lat":32.5100}`},
		{"hotline", `{"ticket_no":"GD-F1","appeal_type":"求助","category":"火灾","content":"楼里冒烟","address":"姜堰区","lon":120.1305,"lat":32.5102}`},
		{"hotline", `{"ticket_no":"GD-F2","appeal_type":"求助","category":"火警","content":"着火了","lon":120.1290,"lat":32.5095}`},
		{"hotline", `{"ticket_no":"GD-F3","appeal_type":"求助","category":"119","content":"有浓烟","lon":120.1310,"lat":32.5108}`},
		{"grid", `{"report_id":"WG-F1","worker_id":"W1","category":"火灾","description":"现场有明火","lon":120.1302,"lat":32.5099}`},
	}
	for _, r := range reports {
		if code := s.do("POST", "/api/v1/ingest/"+r.src, "application/json", []byte(r.body), nil); code != 202 {
			t.Fatalf("%s: %d", r.src, code)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		var list struct {
			Items []struct {
				ID         string         `json:"id"`
				EventCount int            `json:"event_count"`
				Sources    map[string]int `json:"sources"`
				Severity   int            `json:"severity"`
			} `json:"items"`
			Total int `json:"total"`
		}
		s.do("GET", "/api/v1/incidents", "", nil, &list)
		if list.Total == 1 && list.Items[0].EventCount == 5 {
			if got := list.Items[0].Sources; got["hotline"] != 3 || got["emergency"] != 1 || got["grid"] != 1 {
				t.Fatalf("sources %v", got)
			}
			splitGridReport(t, s, list.Items[0].ID)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("want one incident with 5 events, got %+v", list)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// splitGridReport: a dispatcher judges the grid report a different matter
// and splits it out (拆分); it becomes an incident of its own.
func splitGridReport(t *testing.T, s *server, id string) {
	var inc struct {
		Version  int      `json:"version"`
		EventIDs []string `json:"event_ids"`
	}
	s.do("GET", "/api/v1/incidents/"+id, "", nil, &inc)
	grid := event.EventID(event.Grid, "WG-F1")
	if !slices.Contains(inc.EventIDs, grid) {
		t.Fatalf("grid report %s not among %v", grid, inc.EventIDs)
	}
	tok := s.login("dispatcher", "dispatcher123")
	code, a := s.act(tok, id, "split", map[string]any{"base_version": inc.Version, "event_id": grid, "reason": "另一处火情"})
	if code != 200 || a.Incident.EventCount != 4 || a.NewIncidentID == "" {
		t.Fatalf("split: %d %+v", code, a)
	}
	var split struct {
		EventIDs []string `json:"event_ids"`
		Source   string   `json:"source"`
	}
	if code := s.do("GET", "/api/v1/incidents/"+a.NewIncidentID, "", nil, &split); code != 200 || len(split.EventIDs) != 1 || split.EventIDs[0] != grid || split.Source != "grid" {
		t.Fatalf("split-out incident: %d %+v", code, split)
	}
}

func capAlert(id, msgType, refs, body string) string {
	ref := ""
	if refs != "" {
		ref = "<references>" + refs + "</references>"
	}
	return `<?xml version="1.0" encoding="UTF-8"?>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
  <identifier>` + id + `</identifier><sender>qxj@jiangyan.gov.cn</sender><sent>2026-11-22T14:30:00+08:00</sent>
  <status>Actual</status><msgType>` + msgType + `</msgType><scope>Public</scope>` + ref + body + `
</alert>`
}

const capInfo = `<info><language>zh-CN</language><category>Met</category><event>暴雨</event><urgency>Expected</urgency>
  <severity>Severe</severity><certainty>Likely</certainty><headline>姜堰区气象台发布暴雨橙色预警</headline>
  <description>预计未来6小时将出现50毫米以上降水</description>
  <parameter><valueName>alert_color</valueName><value>橙色</value></parameter>
  <area><areaDesc>姜堰区中部</areaDesc><polygon>32.48,120.10 32.53,120.10 32.53,120.16 32.48,120.16 32.48,120.10</polygon></area></info>`

// A CAP warning for the city becomes one incident with its area and the
// grid cells inside it; an Update changes it and a Cancel closes it.
// Published alerts from elsewhere are refused with the reason.
func TestEndToEndCAPChain(t *testing.T) {
	s := start(t, t.TempDir(), env(t)...)
	alert := "32120441600000020261122143000001"
	update := "32120441600000020261122153000002"
	cancel := "32120441600000020261122163000003"
	var a struct {
		Accepted      []struct{ ID string }
		AffectedGrids int `json:"affected_grids"`
	}
	if code := s.do("POST", "/api/v1/ingest/cap", "application/cap+xml", []byte(capAlert(alert, "Alert", "", capInfo)), &a); code != 202 || a.AffectedGrids == 0 {
		t.Fatalf("alert: %d %+v", code, a)
	}
	waitIncident := func(check func(inc map[string]any) bool) map[string]any {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			var list struct{ Items []map[string]any }
			s.do("GET", "/api/v1/incidents", "", nil, &list)
			if len(list.Items) == 1 && check(list.Items[0]) {
				return list.Items[0]
			}
			if time.Now().After(deadline) {
				t.Fatalf("incidents: %+v", list.Items)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	inc := waitIncident(func(inc map[string]any) bool { return inc["state"] == "dispatched" })
	if inc["severity"].(float64) != 2 || inc["area"] == nil || len(inc["affected_grids"].([]any)) == 0 {
		t.Fatalf("warning incident %+v", inc)
	}
	// Every grid cell inside the area has an inspection for its duty worker;
	// the demo worker's grid is inside it.
	if n := len(inc["inspections"].([]any)); n != len(inc["affected_grids"].([]any)) {
		t.Fatalf("%d inspections for %d grid cells", n, len(inc["affected_grids"].([]any)))
	}
	worker := s.login("worker", "worker123")
	id := inc["id"].(string)
	v := int(inc["version"].(float64))
	if code, a := s.act(worker, id, "inspect", map[string]any{"base_version": v, "grid": "321204004012004", "note": "低洼处无积水"}); code != 200 {
		t.Fatalf("inspect own grid: %d %+v", code, a)
	}
	if code, _ := s.act(worker, id, "inspect", map[string]any{"base_version": v + 1, "grid": inc["affected_grids"].([]any)[0].(string)}); code != 403 {
		t.Fatalf("inspect another worker's grid: %d, want 403", code)
	}
	upd := strings.Replace(capInfo, "橙色预警", "红色预警", 1)
	upd = strings.Replace(upd, "<value>橙色</value>", "<value>红色</value>", 1)
	if code := s.do("POST", "/api/v1/ingest/cap", "application/xml", []byte(capAlert(update, "Update", "qxj@jiangyan.gov.cn,"+alert+",2026-11-22T14:30:00+08:00", upd)), nil); code != 202 {
		t.Fatalf("update: %d", code)
	}
	waitIncident(func(inc map[string]any) bool { return inc["severity"].(float64) == 1 })
	// A Cancel without info: it names the update, which names the alert.
	if code := s.do("POST", "/api/v1/ingest/cap", "application/xml", []byte(capAlert(cancel, "Cancel", "qxj@jiangyan.gov.cn,"+update+",2026-11-22T15:30:00+08:00", "")), nil); code != 202 {
		t.Fatalf("cancel: %d", code)
	}
	inc = waitIncident(func(inc map[string]any) bool { return inc["state"] == "closed" })
	states := map[string]int{}
	for _, in := range inc["inspections"].([]any) {
		states[in.(map[string]any)["state"].(string)]++
	}
	if states["done"] != 1 || states["pending"] != 0 || states["cancelled"] == 0 {
		t.Fatalf("inspections after the Cancel: %v", states)
	}

	for file, want := range map[string]int{
		"cap_tw_cwa_thunderstorm_polygon_zh.xml":    422, // a real alert, elsewhere
		"cap_oasis_example_severe_thunderstorm.xml": 422,
		"cap_us_ipaws_cancel_signed_no_info.xml":    422, // cancels nothing received here
		"cap_bad_xxe_doctype.xml":                   400,
		"cap_bad_cwa_404_html_big5.xml":             400,
		"cap_bad_missing_scope.xml":                 422,
	} {
		b, err := os.ReadFile(testenv.Testdata(t, file))
		if err != nil {
			t.Fatal(err)
		}
		var p struct{ Error string }
		if code := s.do("POST", "/api/v1/ingest/cap", "application/xml", b, &p); code != want || p.Error == "" {
			t.Errorf("%s: %d %q, want %d with a reason", file, code, p.Error, want)
		}
	}
}
