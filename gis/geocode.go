package gis

type gazetteer struct{}

func newGazetteer(c *City) *gazetteer { return &gazetteer{} }
