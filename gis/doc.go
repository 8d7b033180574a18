// Package gis turns a point into a place: it loads a city's administrative
// layers (district → town/street → village/community → grid cell), roads
// and resources from GeoJSON, validates and indexes them, and answers
// Locate, Nearest, Within and Geocode queries. Coordinates are WGS-84
// [lon, lat] (orb.Point) throughout; see package crs for GCJ-02 and BD-09
// conversion, and package sample for the sample city 泰州市姜堰区.
//
// # Layers
//
// Load reads a directory of GeoJSON files: city.json (optional manifest,
// which may declare the files' CRS), district.geojson (required),
// towns.geojson, villages.geojson, grids.geojson, roads.geojson and
// resources.geojson. The properties each file needs are listed on Load's
// file constants; at least code and name for units, id, kind and name for
// resources. Load reports every problem it finds — self-intersections,
// unclosed rings, NaN or infinite coordinates, coordinates outside the
// WGS-84 range (projected metres, swapped lat/lon), missing code or name,
// duplicate codes, unknown parents, a unit not inside its parent — with
// layer, feature index and code, in one *ValidationError.
//
// # Boundary rule
//
// A point on a boundary shared by two units belongs to exactly one of them,
// always the same one: the unit to its east, or, on an east–west boundary,
// the unit to its north (a half-open crossing rule; see shape). Points on
// the city's own west and south boundaries are inside, on its east and
// north boundaries outside.
//
// # Speed
//
// Locate is an exact point-in-polygon search made cheap by a bucket grid
// (see polyIndex): most lookups read one precomputed bucket, the rest test
// two or three candidate polygons through a strip index of their edges.
// On the sample city it answers in about 100 ns (over 5 million lookups
// per second on one core, several hundred times a brute-force scan).
// Nearest uses a k-d tree over unit vectors (exact great-circle order).
//
// # Concurrency
//
// A *City is immutable after Load; every method is safe for concurrent use.
package gis
