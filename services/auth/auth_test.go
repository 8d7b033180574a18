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
