// Package gis turns a point into a place: it loads a city's administrative
// layers (district → town/street → village/community → grid cell) and its
// resources from GeoJSON, indexes them, and answers Locate, Nearest and
// Within queries. Coordinates are WGS-84 [lon, lat] (orb.Point) throughout;
// see package crs for GCJ-02 and BD-09 conversion.
package gis
