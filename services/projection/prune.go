package projection

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/citybrain-ioc/citybrain/services/redisstore"
)

// PruneEvery is how often Prune looks for closed incidents to remove, and
// pruneMax how many one pass removes at most (the rest wait for the next).
const (
	PruneEvery = 10 * time.Minute
	pruneMax   = 20000
)

// Prune keeps the read model to what a city works with: at start and every
// PruneEvery it removes the closed incidents whose last change is older
// than keep (redisstore.Store.PruneClosed). Every dispatcher instance runs
// it; the script checks each incident, so they do not get in each other's
// way. keep ≤ 0: it returns at once. A pass holds gate (if not nil) for
// reading, as the consumers do (kafkabus.ConsumerConfig.Gate).
func Prune(ctx context.Context, s *redisstore.Store, keep time.Duration, gate *sync.RWMutex, log *slog.Logger) {
	if keep <= 0 {
		return
	}
	t := time.NewTicker(PruneEvery)
	defer t.Stop()
	for {
		start := time.Now()
		if gate != nil {
			gate.RLock()
		}
		n, err := s.PruneClosed(ctx, start.Add(-keep), pruneMax)
		if gate != nil {
			gate.RUnlock()
		}
		switch {
		case err != nil && ctx.Err() == nil:
			log.Warn("read model: pruning closed incidents failed, next pass in "+PruneEvery.String(), "removed", n, "err", err)
		case n > 0:
			log.Info("read model: closed incidents removed", "removed", n, "closed_before", start.Add(-keep).Format(time.DateOnly), "took", time.Since(start).Round(time.Millisecond))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
