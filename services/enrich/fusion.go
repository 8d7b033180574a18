package enrich

import (
	"time"

	"github.com/citybrain-ioc/citybrain/services/routing"
	"github.com/citybrain-ioc/citybrain/services/taxonomy"
)

// FusionRule says when two reports of one category family are the same
// problem: within RadiusM metres of an open incident that had a report in
// the last Window. A zero radius never fuses (e.g. two labour disputes in
// one building are two cases).
type FusionRule struct {
	RadiusM float64
	Window  time.Duration
}

// FusionRules are the rules per category family (docs/fusion.md). Families
// not listed use DefaultFusion.
var FusionRules = map[string]FusionRule{
	"fire":             {300, 6 * time.Hour},
	"gas":              {200, 6 * time.Hour},
	"medical":          {100, time.Hour},
	"public_security":  {200, 2 * time.Hour},
	"traffic_accident": {300, 2 * time.Hour},
	"traffic_flow":     {500, time.Hour},
	"water":            {300, 12 * time.Hour},
	"weather":          {0, 0}, // CAP areas are handled as areas, not points
	"consult":          {0, 0},
	"labour":           {0, 0},
	"market":           {0, 0},
	"property":         {0, 0},
	"other":            {0, 0},
}

// DefaultFusion covers street and asset problems: the same pothole or pile
// of garbage is reported again over days.
var DefaultFusion = FusionRule{100, 72 * time.Hour}

// ruleFor returns the family and rule of a category code: the routing
// file's fusion section first, then FusionRules, then DefaultFusion.
func ruleFor(category string, rules *routing.Rules) (string, FusionRule) {
	c, err := taxonomy.Lookup(category)
	if err != nil {
		return "other", FusionRule{}
	}
	if rules != nil {
		if f, ok := rules.FusionFor(c.Family); ok {
			return c.Family, FusionRule{f.RadiusM, f.Window}
		}
	}
	if r, ok := FusionRules[c.Family]; ok {
		return c.Family, r
	}
	return c.Family, DefaultFusion
}
