package main

import (
	"context"
	"fmt"
	"strings"
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
	cpu      map[string]float64 // CPU s per 1,000 positions, by process (system.CPUNames)
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
	pts, phones, err := positionSweep(ctx, o, city, a, seen, a.Profile, "")
	if err != nil {
		return err
	}
	fmt.Printf("\n=== positions benchmark: citybrain -target=all (embedded broker with %s), %d phones (the demo roster, one a cell) reporting round robin, a wall following\n", brokerSync(), phones)
	printPositions(o, load0, pts, []string{"citybrain"})
	if o.pprof != "" {
		fmt.Printf("\nCPU profile of the first run at %.0f/s: %s\n", o.positions[0], o.pprof)
	}
	return nil
}

// benchPositionsCluster is benchPositions for a local cluster (real Kafka
// and Redis, -n processes per target): the CPU of each target per 1,000
// positions, for the capacity guide's api and realtime.
func benchPositionsCluster(ctx context.Context, o opts, city *gis.City) error {
	load0 := loadavg()
	for _, n := range o.ns {
		cl, stopCluster, err := startCluster(ctx, o, n)
		if err != nil {
			return err
		}
		sys, seen := clusterSystem{cl}, cluster.NewSeen()
		stopWall := followWalls(ctx, sys, 1, nil, seen)
		pts, phones, err := positionSweep(ctx, o, city, sys, seen, nil, fmt.Sprintf("n=%d ", n))
		stopWall()
		stopCluster()
		if err != nil {
			return err
		}
		fmt.Printf("\n=== positions benchmark: a local cluster, %d process(es) per target, real Kafka and Redis; %d phones (the demo roster) reporting round robin, a wall following\n", n, phones)
		printPositions(o, load0, pts, sys.CPUNames())
	}
	return nil
}

// positionSweep runs the warm-up and then each rate of -positions (-runs
// times, the run with the median p99 kept) until one is not kept up with.
func positionSweep(ctx context.Context, o opts, city *gis.City, sys system, seen *cluster.Seen,
	profile func(context.Context, time.Duration, string) error, tag string) ([]positionPoint, int, error) {
	phones := min(o.phones, len(city.Units(gis.LevelGrid)))
	run := func(rate float64, d time.Duration, path string) (positionPoint, error) {
		l := &cluster.PositionLoad{API: sys.URLs("api"), Phones: phones, Rate: rate, Workers: max(32, int(rate/20)), City: city,
			Seed: uint64(time.Now().UnixNano())}
		if err := l.Login(ctx); err != nil {
			return positionPoint{}, err
		}
		var prof chan error
		if path != "" && profile != nil {
			prof = make(chan error, 1)
			go func() { prof <- profile(ctx, max(time.Second, d-time.Second), path) }()
		}
		cpu0 := sys.CPU(ctx)
		start := time.Now()
		lctx, cancel := context.WithTimeout(ctx, d)
		l.Run(lctx)
		cancel()
		end := time.Now()
		// The gateway sends positions once a second: two more seconds and
		// every position sent has had its message.
		time.Sleep(2 * time.Second)
		cpu1 := sys.CPU(ctx)
		acc, ref, fail, problems := l.Counts()
		if prof != nil {
			if err := <-prof; err != nil {
				fmt.Printf("bench: profile: %v\n", err)
			}
		}
		if acc == 0 {
			return positionPoint{}, fmt.Errorf("no position accepted: %v", problems)
		}
		p := positionPoint{rate: rate, accepted: float64(acc) / end.Sub(start).Seconds(), refused: ref, failed: fail,
			cpu: map[string]float64{}, lat: cluster.PositionLatencies(l.Sent(), seen)}
		for k, v := range cpu1 {
			p.cpu[k] = (v - cpu0[k]) / float64(acc) * 1000
		}
		return p, nil
	}
	if _, err := run(200, 5*time.Second, ""); err != nil {
		return nil, 0, fmt.Errorf("warm-up: %w", err)
	}
	var pts []positionPoint
	for i, r := range o.positions {
		var runs []positionPoint
		for k := range o.runs {
			path := ""
			if i == 0 && k == 0 {
				path = o.pprof
			}
			p, err := run(r, o.duration, path)
			if err != nil {
				return nil, 0, fmt.Errorf("%.0f positions/s: %w", r, err)
			}
			fmt.Printf("bench: %spositions at %.0f/s: accepted %.0f/s (refused %d, failed %d), seen %d, superseded %d, missing %d, p50 %v p99 %v max %v, CPU s per 1,000 %s (load average %s)\n",
				tag, r, p.accepted, p.refused, p.failed, p.lat.Seen, p.lat.Superseded, p.lat.Missing,
				p.lat.P50.Round(time.Millisecond), p.lat.P99.Round(time.Millisecond), p.lat.Max.Round(time.Millisecond), cpuList(p.cpu, sys.CPUNames()), loadavg())
			runs = append(runs, p)
		}
		pts = append(pts, medianPoint(runs))
		if !pts[len(pts)-1].keptUp() || ctx.Err() != nil {
			break
		}
	}
	return pts, phones, nil
}

// printPositions prints the sweep's table, with the CPU of the named
// processes.
func printPositions(o opts, load0 string, pts []positionPoint, names []string) {
	fmt.Printf("%d cores, load average %s at the start, %s at the end; medians of %d runs of %v each; latency is POST start → the wall's positions message (sent once a second)\n",
		nproc(), load0, loadavg(), o.runs, o.duration)
	fmt.Printf("%10s %10s %10s %10s %10s %10s %10s   %s\n", "rate", "accepted/s", "superseded", "missing", "p50", "p99", "max", "CPU s per 1,000")
	for _, p := range pts {
		mark := ""
		if !p.keptUp() {
			mark = "  not kept up with"
		}
		fmt.Printf("%8.0f/s %10.0f %10d %10d %10v %10v %10v   %s%s\n", p.rate, p.accepted, p.lat.Superseded, p.lat.Missing,
			p.lat.P50.Round(time.Millisecond), p.lat.P99.Round(time.Millisecond), p.lat.Max.Round(time.Millisecond), cpuList(p.cpu, names), mark)
	}
}

// cpuList formats the CPU figures of names that used any.
func cpuList(cpu map[string]float64, names []string) string {
	var parts []string
	for _, n := range names {
		if v := cpu[n]; v >= 0.005 {
			parts = append(parts, fmt.Sprintf("%s %.2f", n, v))
		}
	}
	return strings.Join(parts, ", ")
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
