package main

import "github.com/citybrain-ioc/citybrain/gis"

func writeExtras(dir string, c *gis.City, g *genCity) error { return nil }
