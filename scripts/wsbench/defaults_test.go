package main

import (
	"testing"

	"github.com/citybrain-ioc/citybrain/gis"
	"github.com/citybrain-ioc/citybrain/gis/sample"
)

// The benchmark spreads its workers over the sample city's grid cells.
func TestDefaultGridsAreTheSampleCitys(t *testing.T) {
	city, err := sample.Load()
	if err != nil {
		t.Fatal(err)
	}
	if n := len(city.Units(gis.LevelGrid)); n != sampleGrids {
		t.Errorf("the sample city has %d grid cells, wsbench's default is %d", n, sampleGrids)
	}
}
