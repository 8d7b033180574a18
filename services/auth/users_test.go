package auth

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestUsersFile(t *testing.T) {
	h, err := HashPassword("Jiangyan#2026")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	write := func(body string) string {
		p := filepath.Join(dir, "users.yaml")
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	known := func(code string) (string, bool) { return "321204004000", code == "321204004" }
	users, err := LoadUsers(write(`users:
  - username: wangjing
    password: `+h+`
    name: 值班长 王静
    role: dispatcher
    scope: "321204004"
  - username: screen
    password: `+h+`
    role: viewer
`), known)
	if err != nil || len(users) != 2 {
		t.Fatalf("%d users, %v", len(users), err)
	}
	if c, ok := Login(users, "wangjing", "Jiangyan#2026"); !ok || c.Role != Dispatcher || c.Scope != "321204004000" || c.Name != "值班长 王静" || c.Subject != "wangjing" {
		t.Fatalf("login: %+v %v", c, ok)
	}
	if c, ok := Login(users, "screen", "Jiangyan#2026"); !ok || c.Name != "screen" {
		t.Fatalf("login without a name: %+v %v", c, ok)
	}
	for _, try := range [][2]string{{"wangjing", "jiangyan#2026"}, {"wangjing", ""}, {"nobody", "Jiangyan#2026"}, {"", ""}} {
		if c, ok := Login(users, try[0], try[1]); ok || c.Role != "" {
			t.Errorf("login %q/%q: %+v %v", try[0], try[1], c, ok)
		}
	}

	for name, c := range map[string]struct{ body, want string }{
		"plain password": {"users:\n  - {username: a, password: secret123, role: admin}\n", "password: not a pbkdf2-sha256"},
		"weak hash":      {"users:\n  - {username: a, password: 'pbkdf2-sha256$1000$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA', role: admin}\n", "iterations"},
		"role":           {"users:\n  - {username: a, password: '" + h + "', role: root}\n", `role "root"`},
		"scope":          {"users:\n  - {username: a, password: '" + h + "', role: dispatcher, scope: '999'}\n", `scope "999"`},
		"twice":          {"users:\n  - {username: a, password: '" + h + "', role: admin}\n  - {username: a, password: '" + h + "', role: admin}\n", "given twice"},
		"no username":    {"users:\n  - {password: '" + h + "', role: admin}\n", "username"},
		"unknown field":  {"users:\n  - {username: a, pasword: '" + h + "', role: admin}\n", "pasword"},
		"empty":          {"users: []\n", "no users"},
	} {
		if _, err := LoadUsers(write(c.body), known); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error with %q", name, err, c.want)
		}
	}
	if _, err := LoadUsers(filepath.Join(dir, "missing.yaml"), known); err == nil {
		t.Error("a missing file was accepted")
	}
}

func TestCheckStrength(t *testing.T) {
	for _, pw := range []string{"Jiangyan#2026", "abcDEF123", "网格员2026ab"} {
		if err := CheckStrength(pw); err != nil {
			t.Errorf("%q refused: %v", pw, err)
		}
	}
	for _, pw := range []string{"", "Ab1#", "abcdefgh123", "ABCDEFGH", "worker123"} {
		if err := CheckStrength(pw); err == nil {
			t.Errorf("%q accepted", pw)
		}
	}
}
