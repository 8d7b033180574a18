package main

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/citybrain-ioc/citybrain/gis/sample"
)

// Both phases run, one report per request and in arrays, and every report
// acknowledged by the skeleton reaches its wall (run fails otherwise).
func TestPhasesCarryEveryReport(t *testing.T) {
	city, err := sample.Load()
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, batch := range []int{1, 20} {
		for _, phase := range []string{"http", "floor"} {
			res, err := run(phase, 0, time.Second, 300, 4, batch, true, city, log)
			if err != nil {
				t.Fatalf("%s, arrays of %d: %v", phase, batch, err)
			}
			if res.acked <= 0 || (phase == "http" && res.pushed != res.acked) || res.cpuPer1000 <= 0 {
				t.Fatalf("%s, arrays of %d: %s", phase, batch, res)
			}
			if phase == "floor" && (res.pushed <= 0 || res.p99 <= 0) {
				t.Fatalf("floor, arrays of %d: nothing pushed: %s", batch, res)
			}
			t.Logf("%-5s arrays of %2d: %s", phase, batch, res)
		}
	}
}
