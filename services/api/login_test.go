package api

import (
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/citybrain-ioc/citybrain/services/auth"
)

// TestLoginLimit: after loginFailures wrong passwords for a user, its
// logins are refused for a while, the right password too; other users and
// successful logins are not counted.
func TestLoginLimit(t *testing.T) {
	app, _ := mediaApp(t, 1<<20)
	login := func(user, pass string) (int, string) {
		req := httptest.NewRequest("POST", "/api/v1/auth/login", strings.NewReader(fmt.Sprintf(`{"username":%q,"password":%q}`, user, pass)))
		req.Header.Set("Content-Type", "application/json")
		code, h, body := call(t, app, req)
		return code, h.Get("Retry-After") + " " + string(body)
	}
	for range 3 {
		if code, body := login("dispatcher", "dispatcher123"); code != 200 {
			t.Fatalf("login: %d %s", code, body)
		}
	}
	for i := range loginFailures {
		if code, body := login("dispatcher", fmt.Sprint("guess", i)); code != 401 {
			t.Fatalf("wrong password %d: %d %s", i, code, body)
		}
	}
	code, body := login("dispatcher", "dispatcher123")
	if code != 429 || !strings.Contains(body, "too many failed logins") || strings.HasPrefix(body, " ") {
		t.Fatalf("after %d failures: %d %s", loginFailures, code, body)
	}
	if code, body := login("Dispatcher ", "x"); code != 429 {
		t.Fatalf("the same user spelt differently: %d %s", code, body)
	}
	if code, body := login("admin", "admin123"); code != 200 {
		t.Fatalf("another user: %d %s", code, body)
	}
}

// TestRemovedAccountLosesAccess: a token whose account is no longer among
// the users (taken out of the users file) is refused at once.
func TestRemovedAccountLosesAccess(t *testing.T) {
	a, app, toks := mediaAPI(t, 1<<20)
	if code, _, body := call(t, app, upload(toks[auth.Worker], "image/png", pngBytes(t, 1))); code != 200 && code != 201 {
		t.Fatalf("upload: %d %s", code, body)
	}
	a.SetUsers(auth.DemoUsers) // worker1 taken out
	code, _, body := call(t, app, upload(toks[auth.Worker], "image/png", pngBytes(t, 2)))
	if code != 401 || !strings.Contains(string(body), "no longer exists") {
		t.Fatalf("a removed account's token: %d %s", code, body)
	}
}
