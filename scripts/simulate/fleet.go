package simulate

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/geo"

	"github.com/citybrain-ioc/citybrain/gis"
	"github.com/citybrain-ioc/citybrain/services/auth"
)

// Fleet is a patrol of grid workers (the demo roster, "gw-<grid code>",
// services/auth.GridRoster) walking their grid cells: each goes from one
// point of its cell to another, Step metres per tick, and reports its
// position through POST /api/v1/workers/position as a phone would. Their
// positions feed the wall's map and the dispatch suggestions.
type Fleet struct {
	URL    string
	Client *http.Client
	city   *gis.City
	r      *rand.Rand
	men    []*patroller
}

type patroller struct {
	id, grid, token string
	at, goal        orb.Point
}

// Step is how far a patroller moves per tick (an e-bike patrol at about
// 5 m/s, ticking every 3 s, with stops).
const Step = 15.0

// PickCells chooses n grid cells spread over the city (every k-th of the
// grid layer), deterministically.
func PickCells(city *gis.City, n int) []string {
	grids := city.Units(gis.LevelGrid)
	if n <= 0 || len(grids) == 0 {
		return nil
	}
	n = min(n, len(grids))
	out := make([]string, 0, n)
	for i := range n {
		out = append(out, grids[i*len(grids)/n].Code)
	}
	return out
}

// NewFleet logs in n roster workers (password worker123, like the demo
// workers) and places each at a random point of its cell.
func NewFleet(ctx context.Context, url string, c *http.Client, city *gis.City, n int, seed uint64) (*Fleet, error) {
	f := &Fleet{URL: url, Client: c, city: city, r: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
	for _, code := range PickCells(city, n) {
		p := &patroller{id: "gw-" + code, grid: code}
		if err := f.login(ctx, p); err != nil {
			return nil, fmt.Errorf("%w (is the grid roster enabled?)", err)
		}
		p.at, _ = city.RandomPointIn(code, f.r)
		p.goal, _ = city.RandomPointIn(code, f.r)
		f.men = append(f.men, p)
	}
	return f, nil
}

// login gets p a token (again when the one it had expired: tokens last 12
// hours and the simulator runs for days).
func (f *Fleet) login(ctx context.Context, p *patroller) error {
	var out struct{ Token string }
	st := &Staff{URL: f.URL, Client: f.Client}
	if err := st.call(ctx, "", http.MethodPost, "/api/v1/auth/login", map[string]string{"username": p.id, "password": auth.DemoWorkerPassword}, &out); err != nil {
		return fmt.Errorf("login %s: %w", p.id, err)
	}
	p.token = out.Token
	return nil
}

// Size is the number of patrollers.
func (f *Fleet) Size() int { return len(f.men) }

// move advances p one step towards its goal, choosing a new goal in its
// cell when it gets there.
func (f *Fleet) move(p *patroller) {
	d := geo.Distance(p.at, p.goal)
	if d <= Step {
		p.at = p.goal
		p.goal, _ = f.city.RandomPointIn(p.grid, f.r)
		return
	}
	t := Step / d
	next := orb.Point{p.at[0] + (p.goal[0]-p.at[0])*t, p.at[1] + (p.goal[1]-p.at[1])*t}
	// Cells are not convex: a step that would leave the cell turns to a
	// new goal instead (the patrol stays in its grid).
	if pl, err := f.city.Locate(next); err != nil || pl.Grid.Code != p.grid {
		p.goal, _ = f.city.RandomPointIn(p.grid, f.r)
		return
	}
	p.at = next
}

// Tick moves every patroller one step and reports the positions (a few at
// a time). It returns the first error.
func (f *Fleet) Tick(ctx context.Context) error {
	for _, p := range f.men {
		f.move(p)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	sem := make(chan struct{}, 4)
	st := &Staff{URL: f.URL, Client: f.Client}
	for _, p := range f.men {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			body := map[string]any{"lon": round6(p.at[0]), "lat": round6(p.at[1]), "crs": "wgs84", "on_duty": true}
			err := st.call(ctx, p.token, http.MethodPost, "/api/v1/workers/position", body, nil)
			if se := (*statusError)(nil); errors.As(err, &se) && se.code == http.StatusUnauthorized {
				if err = f.login(ctx, p); err == nil {
					err = st.call(ctx, p.token, http.MethodPost, "/api/v1/workers/position", body, nil)
				}
			}
			if err != nil {
				mu.Lock()
				if first == nil {
					first = fmt.Errorf("%s: %w", p.id, err)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return first
}
