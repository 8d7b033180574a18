package intake

import (
	"github.com/paulmach/orb"
	"github.com/paulmach/orb/geojson"
)

func geojsonGeometry(g orb.Geometry) *geojson.Geometry { return geojson.NewGeometry(g) }
