package auth

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestTokens(t *testing.T) {
	is := NewIssuer([]byte("secret"), time.Hour)
	tok, err := is.Sign(Claims{Subject: "u", Role: Dispatcher})
	if err != nil {
		t.Fatal(err)
	}
	c, err := is.Verify(tok)
	if err != nil || c.Role != Dispatcher {
		t.Fatalf("verify: %+v %v", c, err)
	}
	parts := strings.Split(tok, ".")
	none := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none"}`)) + "." + parts[1] + "."
	forged := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"u","role":"admin","exp":9999999999}`)) + "." + parts[2]
	other := NewIssuer([]byte("other"), time.Hour)
	expired := NewIssuer([]byte("secret"), -time.Minute)
	old, _ := expired.Sign(Claims{Subject: "u"})
	for name, bad := range map[string]string{"none": none, "forged": forged, "garbage": "a.b", "expired": old} {
		if _, err := is.Verify(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := other.Verify(tok); !errors.Is(err, ErrInvalid) {
		t.Error("token verified with another secret")
	}
}

func TestLogin(t *testing.T) {
	if c, ok := Login(DemoUsers, "dispatcher", "dispatcher123"); !ok || c.Role != Dispatcher {
		t.Fatal("demo login failed")
	}
	if _, ok := Login(DemoUsers, "dispatcher", "wrong"); ok {
		t.Fatal("wrong password accepted")
	}
}

func TestGridRoster(t *testing.T) {
	cells := []GridCell{{Code: "321204004012004", Department: "城市管理局"}, {Code: "321204001001001", Department: "街道城管中队"}, {Code: ""}}
	users := DemoAccounts(cells, nil)
	if len(users) != len(DemoUsers)+2 {
		t.Fatalf("%d accounts", len(users))
	}
	c, ok := Login(users, "gw-321204004012004", DemoWorkerPassword)
	if !ok || c.Role != Worker || c.Scope != "321204004012004" || c.Subject != "gw-321204004012004" || c.Department != "城市管理局" || !strings.HasPrefix(c.Name, "网格员 ") {
		t.Fatalf("roster login: %+v %v", c, ok)
	}
	if again := GridRoster(cells[:1]); again[0].Claims.Name != c.Name {
		t.Error("roster names are not stable")
	}
	if _, ok := Login(users, "gw-321204004012004", "wrong"); ok {
		t.Error("wrong password accepted")
	}
	if _, ok := Login(DemoUsers, "gw-321204004012004", DemoWorkerPassword); ok {
		t.Error("the roster exists without being added")
	}
	if len(DemoUsers) != 5 {
		t.Error("DemoAccounts changed DemoUsers")
	}
}

func TestDutyOfficers(t *testing.T) {
	users := DemoAccounts(nil, []string{"消防救援大队", "公安局", "消防救援大队", " "})
	if len(users) != len(DemoUsers)+2 {
		t.Fatalf("%d accounts, want the demo users and one officer for each of the two departments", len(users))
	}
	id := DutyID("消防救援大队")
	if id != "duty-b73dd1ed" { // README: printf 消防救援大队 | sha256sum | cut -c1-8
		t.Errorf("DutyID(消防救援大队) = %s, want duty-b73dd1ed", id)
	}
	if !strings.HasPrefix(id, "duty-") || len(id) != len("duty-")+8 || id == DutyID("公安局") || id != DutyID("消防救援大队") {
		t.Fatalf("DutyID: %q, %q", id, DutyID("公安局"))
	}
	c, ok := Login(users, id, DemoWorkerPassword)
	if !ok || c.Role != Worker || c.Department != "消防救援大队" || c.Scope != "" || c.Subject != id || !strings.HasPrefix(c.Name, "值班员 ") {
		t.Fatalf("duty officer login: %+v %v", c, ok)
	}
}
