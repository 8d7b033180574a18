package redisstore_test

import (
	"maps"
	"testing"
	"time"

	"github.com/citybrain-ioc/citybrain/services/internal/testenv"
	"github.com/citybrain-ioc/citybrain/services/redisstore"
)

// The published accounts are replaced whole, with a sum equal maps share;
// nothing published reads as nil and "".
func TestSuiteStoreAccounts(t *testing.T) {
	s := testenv.Store(t)
	ctx := t.Context()
	if m, sum, err := s.Accounts(ctx); err != nil || m != nil || sum != "" {
		t.Fatalf("nothing published: %v %q %v", m, sum, err)
	}
	one := map[string]string{"admin": "fa", "dispatcher": "fd", "gw-321204004012004": "fw"}
	if err := s.PutAccounts(ctx, one); err != nil {
		t.Fatal(err)
	}
	m, sum, err := s.Accounts(ctx)
	if err != nil || !maps.Equal(m, one) || sum != redisstore.AccountsSum(one) {
		t.Fatalf("published: %v %q %v", m, sum, err)
	}
	two := map[string]string{"admin": "fa2"}
	if err := s.PutAccounts(ctx, two); err != nil {
		t.Fatal(err)
	}
	if m, _, _ := s.Accounts(ctx); !maps.Equal(m, two) {
		t.Fatalf("replaced: %v", m)
	}
	if got, err := s.PublishedAccountsSum(ctx); err != nil || got != redisstore.AccountsSum(two) || got == sum {
		t.Fatalf("sum %q %v", got, err)
	}
	if err := s.PutAccounts(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if got, err := s.PublishedAccountsSum(ctx); err != nil || got != "" {
		t.Fatalf("sum of nothing %q %v", got, err)
	}
}

// Login attempts count up within a window; a success takes its attempt
// back; the window has a TTL.
func TestSuiteStoreLoginAttempts(t *testing.T) {
	s := testenv.Store(t)
	ctx := t.Context()
	for want := 1; want <= 3; want++ {
		n, left, err := s.LoginAttempt(ctx, "admin", 5*time.Minute)
		if err != nil || n != want || left <= 4*time.Minute || left > 5*time.Minute {
			t.Fatalf("attempt %d: %d %v %v", want, n, left, err)
		}
	}
	if err := s.LoginSucceeded(ctx, "admin"); err != nil {
		t.Fatal(err)
	}
	if n, _, _ := s.LoginAttempt(ctx, "admin", 5*time.Minute); n != 3 {
		t.Fatalf("after a success: %d", n)
	}
	if n, _, _ := s.LoginAttempt(ctx, "other", 5*time.Minute); n != 1 {
		t.Fatalf("another user: %d", n)
	}
	// A success after the window ended does not leave a count behind.
	if err := s.LoginSucceeded(ctx, "nobody"); err != nil {
		t.Fatal(err)
	}
	if n, _, _ := s.LoginAttempt(ctx, "nobody", 5*time.Minute); n != 1 {
		t.Fatalf("a success without a window: %d", n)
	}
}
