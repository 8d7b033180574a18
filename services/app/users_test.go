package app

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/citybrain-ioc/citybrain/services/auth"
	"github.com/citybrain-ioc/citybrain/services/config"
)

// TestUsersFileReplacesTheDemoAccounts: with USERS_FILE the city's accounts
// log in (a town given by its 9-digit code scoped as the places carry it)
// and the demo accounts do not; a bad file stops the start with its reason.
func TestUsersFileReplacesTheDemoAccounts(t *testing.T) {
	h, err := auth.HashPassword("Jiangyan#2026")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	users := filepath.Join(dir, "users.yaml")
	write := func(body string) {
		if err := os.WriteFile(users, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// start builds the HTTP app with the users file (d: its Deps) and
	// returns a client of it.
	var d *Deps
	t.Cleanup(func() {
		if d != nil {
			d.Close()
		}
	})
	start := func() (func(method, path, token, body string) (int, string), error) {
		cfg, err := config.Load(func(k string) string {
			return map[string]string{"DATA_DIR": filepath.Join(dir, "data"), "USERS_FILE": users}[k]
		})
		if err != nil {
			t.Fatal(err)
		}
		if d != nil {
			d.Close() // the process before: one at a time on a data directory
		}
		d, err = Open(t.Context(), cfg, Discard)
		if err != nil {
			t.Fatal(err)
		}
		if err := d.Store.SetBuilt(t.Context()); err != nil { // as Run has it before the API answers
			t.Fatal(err)
		}
		fapp, err := d.HTTP("all", prometheus.NewRegistry(), func(context.Context) error { return nil })
		if err != nil {
			return nil, err
		}
		return func(method, path, token, body string) (int, string) {
			code, answer, _ := call(t, fapp, method, path, token, body)
			return code, answer
		}, nil
	}
	login := func(do func(method, path, token, body string) (int, string), user, pass string) (int, string) {
		return do("POST", "/api/v1/auth/login", "", `{"username":"`+user+`","password":"`+pass+`"}`)
	}

	write("users:\n  - {username: lx-dd, password: '" + h + "', name: 梁徐街道 调度员, role: dispatcher, scope: '321204004'}\n")
	do, err := start()
	if err != nil {
		t.Fatal(err)
	}
	code, body := login(do, "lx-dd", "Jiangyan#2026")
	if code != 200 || !strings.Contains(body, `"scope":"321204004000"`) {
		t.Fatalf("the city's account: %d %s", code, body)
	}
	var tok struct{ Token string }
	if err := json.Unmarshal([]byte(body), &tok); err != nil || tok.Token == "" {
		t.Fatalf("no token in %s", body)
	}
	if code, body := do("GET", "/api/v1/tasks", tok.Token, ""); code != 200 {
		t.Fatalf("the city's dispatcher: %d %s", code, body)
	}
	for _, demo := range [][2]string{{"dispatcher", "dispatcher123"}, {"admin", "admin123"}, {"gw-321204004012004", "worker123"}} {
		if code, body := login(do, demo[0], demo[1]); code != 401 {
			t.Fatalf("demo account %s with a users file: %d %s", demo[0], code, body)
		}
	}
	if code, body := do("GET", "/api/v1/auth/info", "", ""); code != 200 || !strings.Contains(body, `"demo_accounts":false`) {
		t.Fatalf("auth info with a users file: %d %s", code, body)
	}
	published := func() map[string]string {
		d.refreshAccounts(t.Context())
		m, _, err := d.Store.Accounts(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	before := published()
	if len(before) != 1 || before["lx-dd"] == "" {
		t.Fatalf("published accounts: %v", before)
	}

	// The password changes (a leak): the token issued before is refused,
	// the new password logs in, the gateways learn the new fingerprint.
	h2, err := auth.HashPassword("Jiangyan#2027")
	if err != nil {
		t.Fatal(err)
	}
	write("users:\n  - {username: lx-dd, password: '" + h2 + "', name: 梁徐街道 调度员, role: dispatcher, scope: '321204004'}\n")
	later := time.Now().Add(time.Second)
	if err := os.Chtimes(users, later, later); err != nil {
		t.Fatal(err)
	}
	after := published()
	if after["lx-dd"] == "" || after["lx-dd"] == before["lx-dd"] {
		t.Fatalf("published accounts after the password changed: %v, before %v", after, before)
	}
	if code, body := do("GET", "/api/v1/tasks", tok.Token, ""); code != 401 || !strings.Contains(body, "has changed since this token was issued") {
		t.Fatalf("a token issued before the password changed: %d %s", code, body)
	}
	if code, body := login(do, "lx-dd", "Jiangyan#2026"); code != 401 {
		t.Fatalf("the old password: %d %s", code, body)
	}
	code, body = login(do, "lx-dd", "Jiangyan#2027")
	if code != 200 {
		t.Fatalf("the new password: %d %s", code, body)
	}
	if err := json.Unmarshal([]byte(body), &tok); err != nil || tok.Token == "" {
		t.Fatalf("no token in %s", body)
	}
	// Redis loses what was published (a flush): it is published again.
	if err := d.Store.PutAccounts(t.Context(), nil); err != nil {
		t.Fatal(err)
	}
	if again := published(); again["lx-dd"] != after["lx-dd"] {
		t.Fatalf("published again after a flush: %v", again)
	}

	// The file changes: an account added logs in, the one taken out loses
	// its access at once; a file that does not load changes nothing.
	write("users:\n  - {username: sanshui, password: '" + h + "', role: dispatcher}\n")
	later = later.Add(time.Second)
	if err := os.Chtimes(users, later, later); err != nil {
		t.Fatal(err)
	}
	if _, err := d.reloadUsers(); err != nil {
		t.Fatal(err)
	}
	if code, body := login(do, "sanshui", "Jiangyan#2026"); code != 200 {
		t.Fatalf("an account added: %d %s", code, body)
	}
	if code, body := do("GET", "/api/v1/tasks", tok.Token, ""); code != 401 || !strings.Contains(body, "no longer exists") {
		t.Fatalf("a token of an account taken out: %d %s", code, body)
	}
	write("users:\n  - {username: sanshui, password: 'not a hash', role: dispatcher}\n")
	later = later.Add(time.Second)
	_ = os.Chtimes(users, later, later)
	if _, err := d.reloadUsers(); err == nil {
		t.Fatal("a bad file reloaded")
	}
	if code, body := login(do, "sanshui", "Jiangyan#2026"); code != 200 {
		t.Fatalf("after a bad file: %d %s", code, body)
	}

	write("users:\n  - {username: lx-dd, password: 'pbkdf2-sha256$600000$REPLACE$REPLACE', role: dispatcher}\n")
	if _, err := start(); err == nil || !strings.Contains(err.Error(), "citybrain passwd") {
		t.Fatalf("a placeholder password: %v", err)
	}
}
