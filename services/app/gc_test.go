package app

import "testing"

func TestGCPercentBoundsTheExtraHeap(t *testing.T) {
	const mb = 1 << 20
	for _, c := range []struct {
		live uint64
		want int
	}{
		{0, gcMaxPercent},
		{50 * mb, gcMaxPercent}, // small: 4× live is far less than the headroom
		{256 * mb, 400},
		{512 * mb, 200}, // 1 GiB beyond 512 MiB live
		{1024 * mb, 100},
		{8192 * mb, 100}, // never below Go's default
	} {
		if got := gcPercent(c.live, gcHeadroom); got != c.want {
			t.Errorf("live %d MiB: GOGC %d, want %d", c.live/mb, got, c.want)
		}
	}
}
