package main

import (
	"context"
	"fmt"
	"time"

	"github.com/citybrain-ioc/citybrain/gis"
	"github.com/citybrain-ioc/citybrain/scripts/cluster"
)

// positionPoint is one rate of the positions sweep.
type positionPoint struct {
	rate     float64 // asked for
	accepted float64 // positions/s the API answered 200
	refused  int64
	failed   int64
	cpu      float64 // process CPU s per 1,000 positions
	lat      cluster.PositionLatency
}

func (p positionPoint) keptUp() bool {
	return p.accepted >= 0.9*p.rate && p.lat.Missing == 0 && p.lat.P99 <= 5*time.Second
}

// benchPositions measures the position path of one all-in-one process:
// phones → api (a Kafka record on the workers topic, the GEO set, the
// position stream) → the realtime gateway → a wall's positions message,
// once a second. Open loop at each rate of -positions, ascending, until one
// is not kept up with.
func benchPositions(ctx context.Context, o opts, city *gis.City) error {
	load0 := loadavg()
	seen := cluster.NewSeen()
	a, stop, err := startWithWall(ctx, o, nil, seen)
	if err != nil {
		return err
	}
	defer stop()

	phones := min(o.phones, len(city.Units(gis.LevelGrid)))
	run := func(rate float64, d time.Duration, profile string) (positionPoint, error) {
		l := &cluster.PositionLoad{API: a.URLs("api"), Phones: phones, Rate: rate, Workers: max(32, int(rate/20)), City: city,
			Seed: uint64(time.Now().UnixNano())}
		if err := l.Login(ctx); err != nil {
			return positionPoint{}, err
		}
		var prof chan error
		if profile != "" {
			prof = make(chan error, 1)
			go func() { prof <- a.Profile(ctx, max(time.Second, d-time.Second), profile) }()
		}
		cpu0 := a.CPU(ctx)["citybrain"]
		start := time.Now()
		lctx, cancel := context.WithTimeout(ctx, d)
		l.Run(lctx)
		cancel()
		end := time.Now()
		// The gateway sends positions once a second: two more seconds and
		// every position sent has had its message.
		time.Sleep(2 * time.Second)
		cpu1 := a.CPU(ctx)["citybrain"]
		acc, ref, fail, problems := l.Counts()
		if prof != nil {
			if err := <-prof; err != nil {
				fmt.Printf("bench: profile: %v\n", err)
			}
		}
		if acc == 0 {
			return positionPoint{}, fmt.Errorf("no position accepted: %v", problems)
		}
		return positionPoint{rate: rate, accepted: float64(acc) / end.Sub(start).Seconds(), refused: ref, failed: fail,
			cpu: (cpu1 - cpu0) / float64(acc) * 1000, lat: cluster.PositionLatencies(l.Sent(), seen)}, nil
	}
	if _, err := run(200, 5*time.Second, ""); err != nil {
		return fmt.Errorf("warm-up: %w", err)
	}
	var pts []positionPoint
	for i, r := range o.positions {
		var best []positionPoint
		for k := range o.runs {
			profile := ""
			if i == 0 && k == 0 {
				profile = o.pprof
			}
			p, err := run(r, o.duration, profile)
			if err != nil {
				return fmt.Errorf("%.0f positions/s: %w", r, err)
			}
			fmt.Printf("bench: positions at %.0f/s: accepted %.0f/s (refused %d, failed %d), seen %d, superseded %d, missing %d, p50 %v p99 %v max %v, citybrain %.2f CPU s per 1,000 (load average %s)\n",
				r, p.accepted, p.refused, p.failed, p.lat.Seen, p.lat.Superseded, p.lat.Missing,
				p.lat.P50.Round(time.Millisecond), p.lat.P99.Round(time.Millisecond), p.lat.Max.Round(time.Millisecond), p.cpu, loadavg())
			best = append(best, p)
		}
		pts = append(pts, medianPoint(best))
		if !pts[len(pts)-1].keptUp() || ctx.Err() != nil {
			break
		}
	}
	fmt.Printf("\n=== positions benchmark: citybrain -target=all (embedded broker with %s), %d phones (the demo roster, one a cell) reporting round robin, a wall following\n", brokerSync(), phones)
	fmt.Printf("%d cores, load average %s at the start, %s at the end; medians of %d runs of %v each; latency is POST start → the wall's positions message (sent once a second)\n",
		nproc(), load0, loadavg(), o.runs, o.duration)
	fmt.Printf("%10s %10s %10s %10s %10s %10s %10s %14s\n", "rate", "accepted/s", "superseded", "missing", "p50", "p99", "max", "CPU s/1,000")
	for _, p := range pts {
		mark := ""
		if !p.keptUp() {
			mark = "  not kept up with"
		}
		fmt.Printf("%8.0f/s %10.0f %10d %10d %10v %10v %10v %14.2f%s\n", p.rate, p.accepted, p.lat.Superseded, p.lat.Missing,
			p.lat.P50.Round(time.Millisecond), p.lat.P99.Round(time.Millisecond), p.lat.Max.Round(time.Millisecond), p.cpu, mark)
	}
	if o.pprof != "" {
		fmt.Printf("\nCPU profile of the first run at %.0f/s: %s\n", o.positions[0], o.pprof)
	}
	return nil
}

// medianPoint takes the run with the median p99 (its other figures with it).
func medianPoint(ps []positionPoint) positionPoint {
	s := append([]positionPoint(nil), ps...)
	for i := range s {
		for j := i + 1; j < len(s); j++ {
			if s[j].lat.P99 < s[i].lat.P99 {
				s[i], s[j] = s[j], s[i]
			}
		}
	}
	return s[len(s)/2]
}
