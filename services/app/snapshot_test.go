package app

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/citybrain-ioc/citybrain/services/config"
	"github.com/citybrain-ioc/citybrain/services/kafkabus"
	"github.com/citybrain-ioc/citybrain/services/redisstore"
)

// A snapshot of another key layout, Redis prefix or tasks topic is refused
// before anything is replayed (the start then rebuilds from Kafka).
func TestSnapshotOfAnotherKindIsRefused(t *testing.T) {
	d := &Deps{Cfg: config.Config{RedisPrefix: "cb:"}, Topics: kafkabus.Topics{Prefix: "citybrain."}}
	for want, m := range map[string]snapshotMeta{
		"layout": {Layout: "2020-01-01", Prefix: "cb:", Topic: "citybrain.tasks"},
		"prefix": {Layout: redisstore.Layout, Prefix: "other:", Topic: "citybrain.tasks"},
		"topic":  {Layout: redisstore.Layout, Prefix: "cb:", Topic: "x.tasks"},
	} {
		raw, _ := json.Marshal(m)
		if _, err := d.resume(t.Context(), raw, 0); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("a snapshot of another %s: %v", want, err)
		}
	}
	if _, err := d.resume(t.Context(), []byte("{"), 0); err == nil {
		t.Error("meta that does not decode was accepted")
	}
}
