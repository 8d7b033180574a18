package projection

import (
	"context"
	"log/slog"
	"time"

	"github.com/citybrain-ioc/citybrain/services/redisstore"
)

// RebuildPruningEvery is rebuild for the tests.
func RebuildPruningEvery(ctx context.Context, store *redisstore.Store, brokers []string, topic string, keep time.Duration, pruneEvery int, onPrune func(), log *slog.Logger) (int, error) {
	return rebuild(ctx, store, brokers, topic, nil, keep, pruneEvery, onPrune, log)
}

// SetReplayBatch sets how many changes a rebuild applies at a time, until
// the function it returns is called.
func SetReplayBatch(n int) (restore func()) {
	was := replayBatch
	replayBatch = n
	return func() { replayBatch = was }
}

// SetProgressEvery sets how many records a rebuild replays between two
// writes of its progress, until the function it returns is called.
func SetProgressEvery(n int64) (restore func()) {
	was := progressEvery
	progressEvery = n
	return func() { progressEvery = was }
}
