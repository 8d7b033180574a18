package projection

import (
	"context"
	"log/slog"
	"time"

	"github.com/citybrain-ioc/citybrain/services/redisstore"
)

// RebuildPruningEvery is Rebuild with a prune after every pruneEvery
// records (0: only at the end), and onPrune called after each of those.
func RebuildPruningEvery(ctx context.Context, store *redisstore.Store, brokers []string, topic string, keep time.Duration, pruneEvery int, onPrune func(), log *slog.Logger) (int, error) {
	testOnPrune = onPrune
	defer func() { testOnPrune = nil }()
	return rebuild(ctx, store, brokers, topic, keep, pruneEvery, log)
}
