package redisstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"slices"
	"time"

	"github.com/redis/go-redis/v9"
)

// The accounts that may use the system, as the api read them from its
// users file: each subject's fingerprint (auth.Fingerprint). The realtime
// gateways, which do not read the users file, close the websockets of an
// account changed or taken out (realtime: accountsLoop). One hash, replaced
// whole, and the sum of its contents, which the gateways poll.

// PutAccounts publishes accounts (subject → fingerprint), replacing what
// was there, in one transaction.
func (s *Store) PutAccounts(ctx context.Context, accounts map[string]string) error {
	pipe := s.rdb.TxPipeline()
	pipe.Del(ctx, s.key("accounts"), s.key("accounts", "sum"))
	if len(accounts) > 0 {
		args := make([]any, 0, 2*len(accounts))
		for sub, fp := range accounts {
			args = append(args, sub, fp)
		}
		pipe.HSet(ctx, s.key("accounts"), args...)
		pipe.Set(ctx, s.key("accounts", "sum"), AccountsSum(accounts), 0)
	}
	_, err := pipe.Exec(ctx)
	return err
}

// PublishedAccountsSum returns the sum of the accounts published last, ""
// when none are (never published, or the Redis lost them).
func (s *Store) PublishedAccountsSum(ctx context.Context) (string, error) {
	sum, err := s.rdb.Get(ctx, s.key("accounts", "sum")).Result()
	if errors.Is(err, redis.Nil) {
		return "", nil
	}
	return sum, err
}

// Accounts returns the published accounts and their sum (nil and "" when
// none are published).
func (s *Store) Accounts(ctx context.Context) (map[string]string, string, error) {
	pipe := s.rdb.TxPipeline()
	all := pipe.HGetAll(ctx, s.key("accounts"))
	sum := pipe.Get(ctx, s.key("accounts", "sum"))
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, "", err
	}
	if sum.Err() != nil || len(all.Val()) == 0 {
		return nil, "", nil
	}
	return all.Val(), sum.Val(), nil
}

// AccountsSum is the sum PutAccounts stores with accounts: equal maps,
// equal sums.
func AccountsSum(accounts map[string]string) string {
	subs := make([]string, 0, len(accounts))
	for sub := range accounts {
		subs = append(subs, sub)
	}
	slices.Sort(subs)
	h := sha256.New()
	for _, sub := range subs {
		h.Write([]byte(sub))
		h.Write([]byte{0})
		h.Write([]byte(accounts[sub]))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:12])
}

// LoginFailures returns how many failed logins a username has had in its
// current window, and how long that window still lasts (0 with no window).
// The count is shared by every api instance, so n instances do not allow
// n times the guesses.
func (s *Store) LoginFailures(ctx context.Context, username string) (int, time.Duration, error) {
	pipe := s.rdb.Pipeline()
	n := pipe.Get(ctx, s.key("loginfail", username))
	ttl := pipe.PTTL(ctx, s.key("loginfail", username))
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return 0, 0, err
	}
	count, _ := n.Int()
	return count, max(ttl.Val(), 0), nil
}

// LoginFailed counts a failed login of username; the first one starts a
// window of length window, at the end of which the count starts again.
func (s *Store) LoginFailed(ctx context.Context, username string, window time.Duration) error {
	pipe := s.rdb.TxPipeline()
	pipe.SetNX(ctx, s.key("loginfail", username), 0, window) // INCR keeps the TTL
	pipe.Incr(ctx, s.key("loginfail", username))
	_, err := pipe.Exec(ctx)
	return err
}
