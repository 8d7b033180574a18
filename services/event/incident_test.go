package event

import (
	"fmt"
	"slices"
	"testing"
)

func TestWithEventID(t *testing.T) {
	var ids []string
	for i := range 3 * MaxEventIDs {
		prev := slices.Clone(ids)
		next := WithEventID(ids, fmt.Sprint(i))
		if !slices.Equal(ids, prev) {
			t.Fatalf("report %d: the old list changed", i)
		}
		if want := min(i+1, MaxEventIDs); len(next) != want {
			t.Fatalf("report %d: %d ids, want %d", i, len(next), want)
		}
		if next[0] != "0" || next[len(next)-1] != fmt.Sprint(i) {
			t.Fatalf("report %d: first %s, last %s", i, next[0], next[len(next)-1])
		}
		// After the first, the latest ones in order, none missing.
		for j := 1; j < len(next); j++ {
			if want := fmt.Sprint(i - len(next) + 1 + j); next[j] != want {
				t.Fatalf("report %d: id %d is %s, want %s", i, j, next[j], want)
			}
		}
		ids = next
	}
	// A list longer than the bound (written before it) comes back bounded.
	long := make([]string, 2*MaxEventIDs)
	for i := range long {
		long[i] = fmt.Sprint(i)
	}
	if got := WithEventID(long, "x"); len(got) != MaxEventIDs || got[0] != "0" || got[1] != fmt.Sprint(MaxEventIDs+2) || got[MaxEventIDs-1] != "x" {
		t.Fatalf("long list: %v", got)
	}
}
