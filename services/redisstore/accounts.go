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

// LoginAttempt counts a login attempt of username and returns the count
// in the current window (this attempt included) and how long the window
// still lasts. The first attempt starts a window of length window; a
// successful login takes its attempt back (LoginSucceeded), so the count
// is of the failed ones and of those still being checked — counted before
// the password is checked, so that guesses sent all at once are counted
// one by one. The count is shared by every api instance, so n instances
// do not allow n times the guesses.
func (s *Store) LoginAttempt(ctx context.Context, username string, window time.Duration) (int, time.Duration, error) {
	k := s.key("loginfail", username)
	pipe := s.rdb.TxPipeline()
	pipe.SetNX(ctx, k, 0, window) // INCR keeps the TTL
	n := pipe.Incr(ctx, k)
	ttl := pipe.PTTL(ctx, k)
	if _, err := pipe.Exec(ctx); err != nil {
		return 0, 0, err
	}
	return int(n.Val()), max(ttl.Val(), 0), nil
}

// LoginSucceeded takes back the attempt LoginAttempt counted (unless its
// window has ended meanwhile).
func (s *Store) LoginSucceeded(ctx context.Context, username string) error {
	const lua = `if redis.call('EXISTS', KEYS[1]) == 1 then return redis.call('DECR', KEYS[1]) end return 0`
	return s.rdb.Eval(ctx, lua, []string{s.key("loginfail", username)}).Err()
}
