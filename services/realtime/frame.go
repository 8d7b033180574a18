package realtime

import (
	"encoding/binary"
	"encoding/json"
	"hash/maphash"
	"strconv"
)

// A frame is one server→client websocket frame, encoded once and shared by
// every connection that gets it: server frames are not masked (RFC 6455
// §5.1), so the bytes are the same on every connection and a delta costs
// one encoding however many clients receive it. Frames are immutable once
// built.
type frame struct {
	b   []byte   // the whole frame: header and payload
	key string   // coalescing key within ch: an incident id, "stats", or "" (never coalesced)
	kh  uint64   // hash of key and ch (0 for no key): a cheap first comparison
	ch  channel  // the channel the message belongs to
	seq streamID // the stream position it carries; zero for snapshots, errors, reloads
}

var keySeed = maphash.MakeSeed()

// keyed sets f's coalescing key and returns f.
func (f *frame) keyed(key string) *frame {
	f.key = key
	if key != "" {
		f.kh = maphash.String(keySeed, key) ^ uint64(f.ch)<<56 | 1
	}
	return f
}

// WebSocket opcodes (RFC 6455 §5.2) with the FIN bit set.
const (
	finText  = 0x80 | 0x1
	finClose = 0x80 | 0x8
	finPing  = 0x80 | 0x9
)

var pingFrame = []byte{finPing, 0}

// appendHeader appends the header of an unmasked frame with n bytes of
// payload.
func appendHeader(b []byte, op byte, n int) []byte {
	switch {
	case n < 126:
		return append(b, op, byte(n))
	case n <= 0xffff:
		return binary.BigEndian.AppendUint16(append(b, op, 126), uint16(n))
	default:
		return binary.BigEndian.AppendUint64(append(b, op, 127), uint64(n))
	}
}

// textFrame returns a text frame carrying payload, which must be valid
// UTF-8 (every caller builds it from json.Marshal output or validated
// stream data).
func textFrame(payload []byte) []byte {
	return append(appendHeader(make([]byte, 0, len(payload)+10), finText, len(payload)), payload...)
}

// closeFrame returns a close frame with a status code and a short reason.
func closeFrame(code int, reason string) []byte {
	if len(reason) > 123 {
		reason = reason[:123] // control frames carry at most 125 bytes
	}
	b := appendHeader(make([]byte, 0, 4+len(reason)), finClose, 2+len(reason))
	b = binary.BigEndian.AppendUint16(b, uint16(code))
	return append(b, reason...)
}

// deltaFrame encodes {"type":"delta","channel":…,"seq":…,"kind":…,"data":…}
// in that key order (the wall's wire format). seq and kind are plain ASCII
// (a stream id, a fixed kind name); data is valid JSON and UTF-8.
func deltaFrame(ch channel, seq, kind, data string) []byte {
	const (
		p1 = `{"type":"delta","channel":"`
		p2 = `","seq":"`
		p3 = `","kind":"`
		p4 = `","data":`
	)
	name := ch.String()
	n := len(p1) + len(name) + len(p2) + len(seq) + len(p3) + len(kind) + len(p4) + len(data) + 1
	b := appendHeader(make([]byte, 0, n+10), finText, n)
	b = append(b, p1...)
	b = append(b, name...)
	b = append(b, p2...)
	b = append(b, seq...)
	b = append(b, p3...)
	b = append(b, kind...)
	b = append(b, p4...)
	b = append(b, data...)
	return append(b, '}')
}

// removeData is the data of a "remove" delta: the incident left the
// client's scope (e.g. its task went to another worker).
func removeData(id string, version int) string {
	q, _ := json.Marshal(id)
	return `{"id":` + string(q) + `,"version":` + strconv.Itoa(version) + `}`
}

// messageFrame encodes a control message of the protocol (error, reload).
func messageFrame(v any) []byte {
	return textFrame(mustJSON(v))
}

func errorFrame(code, message string) *frame {
	return &frame{b: messageFrame(map[string]string{"type": "error", "code": code, "message": message})}
}

func reloadFrame(ch channel, reason string) *frame {
	return &frame{ch: ch, b: messageFrame(map[string]string{"type": "reload", "channel": ch.String(), "reason": reason})}
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		return []byte(`{"type":"error","code":"internal","message":"encode failed"}`)
	}
	return b
}
