package enrich

import "github.com/citybrain-ioc/citybrain/services/taxonomy"

func family(code string) string {
	c, err := taxonomy.Lookup(code)
	if err != nil {
		return ""
	}
	return c.Family
}
