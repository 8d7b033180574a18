package gis

import (
	"errors"

	"github.com/paulmach/orb"
)

// ErrOutside is returned by Locate for a point outside the service area.
var ErrOutside = errors.New("gis: point outside the service area")

// Level names one level of the administrative hierarchy.
type Level string

// The levels of the hierarchy, from the top.
const (
	LevelDistrict Level = "district"
	LevelTown     Level = "town"
	LevelVillage  Level = "village"
	LevelGrid     Level = "grid"
)

// Unit is one administrative unit: its 12-digit code (grid codes extend
// the village code), its name, and whether its boundary is schematic (示意,
// generated because no open boundary exists).
type Unit struct {
	Code      string `json:"code"`
	Name      string `json:"name"`
	Schematic bool   `json:"schematic,omitempty"`
}

// Place is the admin hierarchy of a point. Every level is filled for a
// point inside the service area.
type Place struct {
	District Unit `json:"district"`
	Town     Unit `json:"town"`
	Village  Unit `json:"village"`
	Grid     Unit `json:"grid"`
}

// Nearby is a resource found by Nearest, with its great-circle distance
// from the query point in metres.
type Nearby struct {
	ID        string    `json:"id"`
	Kind      string    `json:"kind"`
	Name      string    `json:"name"`
	Point     orb.Point `json:"point"`
	DistanceM float64   `json:"distance_m"`
}
