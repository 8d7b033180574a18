package main

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/citybrain-ioc/citybrain/gis/sample"
)

// Both phases run, one report per request, in arrays and with a longer
// produce linger, and every report acknowledged by the skeleton reaches its
// wall (run fails otherwise).
func TestPhasesCarryEveryReport(t *testing.T) {
	city, err := sample.Load()
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, tc := range []struct {
		batch  int
		linger time.Duration
	}{{1, 0}, {20, 0}, {1, 5 * time.Millisecond}} {
		for _, phase := range []string{"http", "floor"} {
			res, err := run(phase, 0, time.Second, 300, 4, tc.batch, tc.linger, true, city, log)
			if err != nil {
				t.Fatalf("%s, %+v: %v", phase, tc, err)
			}
			if res.acked <= 0 || (phase == "http" && res.pushed != res.acked) || res.cpuPer1000 <= 0 {
				t.Fatalf("%s, %+v: %s", phase, tc, res)
			}
			if phase == "floor" && (res.pushed <= 0 || res.p99 <= 0) {
				t.Fatalf("floor, %+v: nothing pushed: %s", tc, res)
			}
			t.Logf("%-5s %+v: %s", phase, tc, res)
		}
	}
}
