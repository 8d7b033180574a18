package intake

import (
	"time"

	"github.com/citybrain-ioc/citybrain/services/event"
	"github.com/citybrain-ioc/citybrain/services/wire"
)

// rawRecord is event.Raw with the body typed as the source's input, so a
// raw record and its body decode in one pass (no copy of the body, no
// second scan of it).
type rawRecord[T any] struct {
	Schema      int          `json:"schema"`
	ID          string       `json:"id"`
	Source      event.Source `json:"source"`
	SourceRef   string       `json:"source_ref"`
	ReceivedAt  time.Time    `json:"received_at"`
	ContentType string       `json:"content_type"`
	Body        *T           `json:"body"`
}

// DecodeRaw decodes a raw.<src> record of a JSON source together with its
// body: the enricher's hot path. The returned raw has no Body; validate
// the input with ParseInput. ok is false when the one-pass decode does not
// apply — a CAP record, a record of another source, no body, or anything
// it cannot decode — and the caller decodes the record the general way
// (wire.Unmarshal, then Parse), which also explains what is wrong.
func DecodeRaw(value []byte, src event.Source) (raw event.Raw, in Input, ok bool) {
	switch src {
	case event.Hotline:
		return decodeRaw[hotlineTicket](value, src)
	case event.Grid:
		return decodeRaw[gridReport](value, src)
	case event.Emergency:
		return decodeRaw[emergencyAlarm](value, src)
	case event.Traffic:
		return decodeRaw[trafficEvent](value, src)
	}
	return event.Raw{}, nil, false
}

func decodeRaw[T any, PT interface {
	*T
	Input
}](value []byte, src event.Source) (event.Raw, Input, bool) {
	var rec rawRecord[T]
	if wire.Unmarshal(value, &rec) != nil || rec.Source != src || rec.Body == nil || rec.ContentType == CAPContentType {
		return event.Raw{}, nil, false
	}
	raw := event.Raw{Schema: rec.Schema, ID: rec.ID, Source: rec.Source, SourceRef: rec.SourceRef,
		ReceivedAt: rec.ReceivedAt, ContentType: rec.ContentType}
	return raw, PT(rec.Body), true
}
