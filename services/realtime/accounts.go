package realtime

import (
	"context"
	"time"

	"github.com/gorilla/websocket"
)

// Accounts changed or taken out. The api checks every request's token
// against its users file (a token of an account changed since it was
// issued is refused); a websocket, authenticated once at its upgrade,
// would outlive that by hours. The api publishes each account's
// fingerprint to Redis (redisstore.PutAccounts) and the gateway, which
// does not read the users file (in a cluster it runs elsewhere), polls
// the sum of what was published and, when it changes, closes every
// connection whose account is no longer there or no longer the same. The
// client reconnects, its ticket is refused (401), and it asks its user to
// log in again. Anonymous wall viewers have no account and are not
// concerned. While nothing is published (a Redis that lost it, until the
// api publishes again) nothing is closed: every connection was checked at
// its upgrade.

// accountsEvery is how often the gateway looks at the published accounts
// (at most: statsLoop ticks every statsEvery).
const accountsEvery = 5 * time.Second

// accountGone is the close reason of a connection whose account changed.
const accountGone = "account changed or removed: log in again"

// refreshAccounts looks at the published accounts (statsLoop calls it
// every accountsEvery) and, when they changed, closes the connections of
// the accounts changed or removed.
func (g *Gateway) refreshAccounts(ctx context.Context) {
	sum, err := g.store.PublishedAccountsSum(ctx)
	if err != nil || sum == "" || sum == g.accountsSum {
		return
	}
	m, sum, err := g.store.Accounts(ctx)
	if err != nil || sum == "" {
		return
	}
	g.accountsSum = sum
	g.accounts.Store(&m)
	if n := g.closeChangedAccounts(m); n > 0 {
		g.log.Info("realtime: closed the connections of accounts changed or removed", "connections", n)
	}
}

// accountValid reports whether v's account is as published (true when v
// has no account, or when nothing is published).
func (g *Gateway) accountValid(v viewer) bool {
	m := g.accounts.Load()
	return v.account == "" || m == nil || (*m)[v.subject] == v.account
}

// closeChangedAccounts closes the connections whose account is not in m
// as they were authenticated; it returns how many.
func (g *Gateway) closeChangedAccounts(m map[string]string) int {
	var gone []*client
	g.mu.Lock()
	for c := range g.conns {
		if c.viewer.account != "" && m[c.viewer.subject] != c.viewer.account {
			gone = append(gone, c)
		}
	}
	g.mu.Unlock()
	for _, c := range gone {
		c.close(websocket.ClosePolicyViolation, accountGone)
	}
	return len(gone)
}
