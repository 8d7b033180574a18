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

// Marshal encodes v as JSON. It escapes <, > and & as encoding/json does:
// goccy's MarshalNoEscape, used here before, was meant to skip them and a
// heap escape, and is now (as deprecated) the same as Marshal — checked
// 2026-12-06, the output is byte for byte encoding/json's for them.
func Marshal(v any) ([]byte, error) {
	if stdlib.Load() {
		return stdjson.Marshal(v)
	}
	return json.Marshal(v)
}

// Unmarshal decodes JSON data into v.
func Unmarshal(data []byte, v any) error {
	if stdlib.Load() {
		return stdjson.Unmarshal(data, v)
	}
	return json.Unmarshal(data, v)
}
