package api

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/citybrain-ioc/citybrain/services/auth"
	"github.com/citybrain-ioc/citybrain/services/kafkabus"
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

// TestLoginLimitIsShared: the failed logins are counted in Redis, so a
// second api instance on the same Redis refuses the user too — n instances
// do not allow n times the guesses.
func TestLoginLimitIsShared(t *testing.T) {
	a, app, _ := mediaAPI(t, 1<<20)
	other := fiber.New()
	New(a.store, nil, a.issuer, false, nil, kafkabus.Topics{}, time.UTC, nil, slog.New(slog.DiscardHandler)).Register(other)
	login := func(app *fiber.App, pass string) int {
		req := httptest.NewRequest("POST", "/api/v1/auth/login", strings.NewReader(`{"username":"admin","password":"`+pass+`"}`))
		req.Header.Set("Content-Type", "application/json")
		code, _, _ := call(t, app, req)
		return code
	}
	for i := range loginFailures {
		on := app
		if i%2 == 1 {
			on = other
		}
		if code := login(on, "guess"); code != 401 {
			t.Fatalf("wrong password %d: %d", i, code)
		}
	}
	for _, on := range []*fiber.App{app, other} {
		if code := login(on, "admin123"); code != 429 {
			t.Fatalf("after %d failures spread over two instances: %d", loginFailures, code)
		}
	}
}

// TestChangedAccountLosesAccess: a token of an account whose password,
// role or scope has changed since it was issued is refused; a new login
// works; renaming the account logs nobody out.
func TestChangedAccountLosesAccess(t *testing.T) {
	a, app, _ := mediaAPI(t, 1<<20)
	users := func(change func(u *auth.User)) []auth.User {
		out := append([]auth.User(nil), auth.DemoUsers...)
		for i := range out {
			if out[i].Username == "dispatcher" {
				change(&out[i])
			}
		}
		return out
	}
	login := func(pass string) string {
		req := httptest.NewRequest("POST", "/api/v1/auth/login", strings.NewReader(`{"username":"dispatcher","password":"`+pass+`"}`))
		req.Header.Set("Content-Type", "application/json")
		code, _, body := call(t, app, req)
		var out struct{ Token string }
		if code != 200 || json.Unmarshal(body, &out) != nil {
			t.Fatalf("login: %d %s", code, body)
		}
		return out.Token
	}
	mode := func(tok string) (int, string) {
		req := httptest.NewRequest("GET", "/api/v1/wall/mode", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		code, _, body := call(t, app, req)
		return code, string(body)
	}
	tok := login("dispatcher123")
	a.SetUsers(users(func(u *auth.User) { u.Claims.Name = "值班长 王静（夜班）" }))
	if code, body := mode(tok); code == 401 {
		t.Fatalf("renamed: %d %s", code, body)
	}
	for _, change := range []func(u *auth.User){
		func(u *auth.User) { u.Password = "Another#Pass1" },
		func(u *auth.User) { u.Claims.Scope = "321204004000" },
		func(u *auth.User) { u.Claims.Role = auth.Viewer },
	} {
		a.SetUsers(auth.DemoUsers)
		tok := login("dispatcher123")
		a.SetUsers(users(change))
		if code, body := mode(tok); code != 401 || !strings.Contains(body, "has changed since this token was issued") {
			t.Fatalf("a token of a changed account: %d %s", code, body)
		}
	}
	a.SetUsers(auth.DemoUsers)
	if code, body := mode(login("dispatcher123")); code == 401 {
		t.Fatalf("a new login: %d %s", code, body)
	}
}

// TestLoginLimitCountsGuessesSentTogether: guesses sent all at once are
// counted before their passwords are checked, so no more than
// loginFailures of them are checked.
func TestLoginLimitCountsGuessesSentTogether(t *testing.T) {
	_, app, _ := mediaAPI(t, 1<<20)
	codes := make(chan int, 3*loginFailures)
	var wg sync.WaitGroup
	for i := range 3 * loginFailures {
		wg.Go(func() {
			req := httptest.NewRequest("POST", "/api/v1/auth/login", strings.NewReader(fmt.Sprintf(`{"username":"admin","password":"guess%d"}`, i)))
			req.Header.Set("Content-Type", "application/json")
			code, _, _ := call(t, app, req)
			codes <- code
		})
	}
	wg.Wait()
	close(codes)
	checked := 0
	for code := range codes {
		switch code {
		case 401:
			checked++
		case 429:
		default:
			t.Fatalf("a guess answered %d", code)
		}
	}
	if checked != loginFailures {
		t.Fatalf("%d of %d guesses sent together were checked, want %d", checked, 3*loginFailures, loginFailures)
	}
}
