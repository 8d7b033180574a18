package main

import (
	"strings"
	"testing"

	"github.com/citybrain-ioc/citybrain/services/auth"
)

func TestPasswd(t *testing.T) {
	var out strings.Builder
	if err := passwd(strings.NewReader("Jiangyan#2026\n"), &out); err != nil {
		t.Fatal(err)
	}
	hash := strings.TrimSpace(out.String())
	users := []auth.User{{Username: "u", Hash: hash, Claims: auth.Claims{Subject: "u", Role: auth.Admin}}}
	if _, ok := auth.Login(users, "u", "Jiangyan#2026"); !ok {
		t.Fatalf("the printed hash %q does not verify its password", hash)
	}
	if _, ok := auth.Login(users, "u", "Jiangyan#2027"); ok {
		t.Fatal("another password verified")
	}
	for _, weak := range []string{"", "worker123\n", "Ab1\n"} {
		if err := passwd(strings.NewReader(weak), &out); err == nil {
			t.Errorf("%q accepted", weak)
		}
	}
}
