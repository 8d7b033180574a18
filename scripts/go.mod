module github.com/citybrain-ioc/citybrain/scripts

go 1.26.0

require (
	github.com/citybrain-ioc/citybrain/gis v0.0.0
	github.com/paulmach/orb v0.14.0
)

replace github.com/citybrain-ioc/citybrain/gis => ../gis
