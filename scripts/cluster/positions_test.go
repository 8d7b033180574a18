package cluster

import (
	"testing"
	"time"
)

// A position the wall saw counts with its latency; one the wall never saw
// is superseded when its worker reported again after it (the gateway sends
// each worker's latest once a second), missing otherwise.
func TestPositionLatencies(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	sent := []PositionSent{
		{Worker: "gw-1", Key: PositionKey("gw-1", 120.1, 30.1), Sent: t0},
		{Worker: "gw-1", Key: PositionKey("gw-1", 120.2, 30.2), Sent: t0.Add(300 * time.Millisecond)},
		{Worker: "gw-2", Key: PositionKey("gw-2", 120.3, 30.3), Sent: t0.Add(100 * time.Millisecond)},
		{Worker: "gw-3", Key: PositionKey("gw-3", 120.4, 30.4), Sent: t0.Add(200 * time.Millisecond)},
	}
	seen := NewSeen()
	seen.mark([]string{PositionKey("gw-1", 120.2, 30.2), PositionKey("gw-2", 120.3, 30.3)}, t0.Add(time.Second))
	got := PositionLatencies(sent, seen)
	if got.Seen != 2 || got.Superseded != 1 || got.Missing != 1 {
		t.Fatalf("seen/superseded/missing = %d/%d/%d, want 2/1/1", got.Seen, got.Superseded, got.Missing)
	}
	if got.P50 != 900*time.Millisecond || got.Max != 900*time.Millisecond {
		t.Fatalf("p50 %v max %v, want 900ms (the later of the two seen: 700ms, 900ms)", got.P50, got.Max)
	}
}

// The key survives the round trip through JSON numbers: what the load
// sends (rounded to 1e-6) is what the wall's message decodes to.
func TestPositionKeyRounding(t *testing.T) {
	for _, x := range []float64{120.1234565, 30.0000004, 119.9999996} {
		if a, b := PositionKey("w", round6(x), round6(x)), PositionKey("w", x, x); a != b {
			t.Errorf("%v: %s != %s", x, a, b)
		}
	}
}
