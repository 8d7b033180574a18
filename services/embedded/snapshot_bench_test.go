package embedded

import (
	"fmt"
	"testing"
)

// BenchmarkSnapshotCopy copies a store shaped like the all-in-one's read
// model (per incident a hash, a timeline list, a reports hash and two
// event → incident links): the time the consumers are paused for a
// snapshot, per key.
//
//	go test -run '^$' -bench SnapshotCopy ./services/embedded
func BenchmarkSnapshotCopy(b *testing.B) {
	r, err := StartRedis()
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	m := r.s
	const incidents = 20000
	for i := range incidents {
		id := fmt.Sprintf("INC-%06d", i)
		m.HSet("cb:inc:"+id, "version", "2", "state", "dispatched", "json", `{"id":"`+id+`","title":"占道经营","description":"路边流动摊贩占道经营，影响通行"}`, "case", `{"state":"dispatched"}`)
		if _, err := m.Push("cb:tl:"+id, `{"v":1,"action":"open"}`, `{"v":2,"action":"dispatch"}`); err != nil {
			b.Fatal(err)
		}
		m.HSet("cb:reports:"+id, "EV-"+id, `{"source":"hotline"}`)
		_ = m.Set("cb:evinc:EV-"+id, id)
		_ = m.Set("cb:evinc:EV2-"+id, id)
	}
	keys := len(m.Keys())
	for b.Loop() {
		snap, err := r.Copy(func(string) bool { return true })
		if err != nil || snap.Len() != keys {
			b.Fatalf("%d keys of %d: %v", snap.Len(), keys, err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*keys)/1000, "µs/key")
}
