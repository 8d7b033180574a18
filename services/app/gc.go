package app

import (
	"context"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// All-in-one mode keeps the broker's log and the projections in its own
// heap, and allocates for every report in the embedded Redis's Lua states:
// at Go's default (GOGC=100) the collector took a sixth of the process's
// CPU under load. tuneGC lets the heap grow up to gcHeadroom beyond what is
// live before a collection (GOGC up to gcMaxPercent while the live heap is
// small, back to 100 as it grows), so the extra memory stays bounded
// however long a trial runs. A GOGC or GOMEMLIMIT set in the environment
// wins: then nothing is tuned. Measured in docs/capacity.md.
const (
	gcHeadroom   = 1 << 30
	gcMaxPercent = 400
	gcEvery      = 10 * time.Second
)

// gcPercent is the GOGC that lets a heap of live bytes grow by about
// headroom: between 100 and gcMaxPercent.
func gcPercent(live, headroom uint64) int {
	if live == 0 {
		return gcMaxPercent
	}
	return int(min(max(100*headroom/live, 100), gcMaxPercent))
}

// tuneGC sets GOGC from the live heap now and every gcEvery until ctx ends.
func tuneGC(ctx context.Context) {
	if os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	live := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	last := 0
	set := func() {
		metrics.Read(live)
		if live[0].Value.Kind() != metrics.KindUint64 {
			return
		}
		if p := gcPercent(live[0].Value.Uint64(), gcHeadroom); p-last > 10 || last-p > 10 {
			debug.SetGCPercent(p)
			last = p
		}
	}
	set()
	t := time.NewTicker(gcEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			set()
		}
	}
}
