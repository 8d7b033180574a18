// Package wire encodes and decodes the JSON messages on the hot path (Kafka
// records, the enricher's input and output) with goccy/go-json, a
// drop-in replacement for encoding/json that is about 2–3× faster here
// (BenchmarkEnrichCore against BenchmarkEnrichCoreStdlib in package
// enrich). It honours encoding/json struct tags and Marshaler/Unmarshaler.
// Error values differ from encoding/json's: callers that explain a
// decoding error to a client re-run encoding/json on the failure (intake).
package wire

import (
	stdjson "encoding/json"
	"sync/atomic"

	json "github.com/goccy/go-json"
)

var stdlib atomic.Bool

// UseStdlib switches the codec to encoding/json (true) or back. It exists
// so benchmarks can measure the baseline in the same run; production code
// never calls it.
func UseStdlib(on bool) { stdlib.Store(on) }

// Marshal encodes v as JSON. Unlike encoding/json it leaves <, > and &
// as they are: these messages go to Kafka, Redis and JSON.parse, never
// into an HTML page, and the escaping cost about 5 % of the enricher's
// core path.
func Marshal(v any) ([]byte, error) {
	if stdlib.Load() {
		return stdjson.Marshal(v)
	}
	return json.MarshalNoEscape(v)
}

// Unmarshal decodes JSON data into v.
func Unmarshal(data []byte, v any) error {
	if stdlib.Load() {
		return stdjson.Unmarshal(data, v)
	}
	return json.Unmarshal(data, v)
}
