package intake

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/citybrain-ioc/citybrain/gis/crs"
	"github.com/citybrain-ioc/citybrain/services/event"
	"github.com/citybrain-ioc/citybrain/services/taxonomy"
	"github.com/citybrain-ioc/citybrain/services/wire"
	"github.com/paulmach/orb"
)

// Limits on free text, in characters.
const (
	maxRef   = 128
	maxTitle = 200
	maxText  = 4000
	maxAddr  = 300
)

// Report is a parsed, validated input: an event.Event without enrichment
// and without its ID (event.EventID of source and SourceRef; the caller
// sets it, the enricher from the raw record).
// Location is in WGS-84 (converted from OriginalCRS); nil when the source
// gave only an address.
type Report = event.Event

// SplitArray returns the items of a body that is either one JSON object or
// an array of objects. Each item is a copy of its bytes.
func SplitArray(body []byte) ([][]byte, error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return nil, Errors{{Field: "body", Reason: "empty body"}}
	}
	if !utf8.Valid(body) {
		return nil, Errors{{Field: "body", Reason: "not valid UTF-8"}}
	}
	if body[0] != '[' {
		if body[0] != '{' {
			return nil, Errors{{Field: "body", Reason: "want a JSON object or an array of objects"}}
		}
		var probe json.RawMessage
		if err := json.Unmarshal(body, &probe); err != nil {
			return nil, Errors{{Field: "body", Reason: jsonReason(err)}}
		}
		return [][]byte{bytes.Clone(body)}, nil
	}
	var items []json.RawMessage
	if err := json.Unmarshal(body, &items); err != nil {
		return nil, Errors{{Field: "body", Reason: jsonReason(err)}}
	}
	if len(items) == 0 {
		return nil, Errors{{Field: "body", Reason: "empty array"}}
	}
	out := make([][]byte, len(items))
	for i, it := range items {
		out[i] = bytes.Clone(it)
	}
	return out, nil
}

// common holds the fields every source schema shares.
type common struct {
	Lon      *float64 `json:"lon"`
	Lat      *float64 `json:"lat"`
	CRS      string   `json:"crs"`
	Address  string   `json:"address"`
	Category string   `json:"category"`
}

// hotlineTicket is a 12345 工单 as the call-center system sends it.
type hotlineTicket struct {
	common
	TicketNo   string `json:"ticket_no"`   // 工单编号
	CallTime   string `json:"call_time"`   // 来电时间
	AppealType string `json:"appeal_type"` // 诉求类型: 咨询/求助/投诉/举报/建议
	Title      string `json:"title"`
	Content    string `json:"content"`      // 诉求内容
	CallerName string `json:"caller_name"`  // 来电人
	CallerTel  string `json:"caller_phone"` // 来电号码
	Channel    string `json:"channel"`      // 电话/网站/APP/微信
}

// gridReport is a 网格员 patrol report from the mobile app.
type gridReport struct {
	common
	ReportID    string   `json:"report_id"`
	WorkerID    string   `json:"worker_id"`
	GridCode    string   `json:"grid_code"`
	Description string   `json:"description"`
	Photos      []string `json:"photos"`
	ReportedAt  string   `json:"reported_at"`
}

// emergencyAlarm is a 110/119/120 linkage record or an IoT alarm.
type emergencyAlarm struct {
	common
	AlarmID     string `json:"alarm_id"`
	AlarmType   string `json:"alarm_type"` // 110, 119, 120, smoke, gas, water_level …
	Level       int    `json:"level"`      // 1 (I) … 4 (IV); 0 = category default
	DeviceID    string `json:"device_id"`
	Description string `json:"description"`
	OccurredAt  string `json:"occurred_at"`
	CallerTel   string `json:"caller_phone"`
}

// trafficEvent is an incident or observation on a road segment (TOCC).
type trafficEvent struct {
	common
	EventID     string  `json:"event_id"`
	EventType   string  `json:"event_type"` // accident, congestion, closure, signal, overload
	Road        string  `json:"road"`
	SegmentID   string  `json:"segment_id"`
	Level       int     `json:"level"`
	SpeedKmh    float64 `json:"speed_kmh"`
	Description string  `json:"description"`
	OccurredAt  string  `json:"occurred_at"`
}

// Input is a source's item decoded but not yet validated: what DecodeRaw
// returns for ParseInput.
type Input interface {
	// validate checks the source's own fields into r and returns the
	// fields every source shares.
	validate(es *Errors, r *Report, received time.Time, loc *time.Location) *common
}

// newInput returns an empty input of the source, nil for an unknown one.
func newInput(src event.Source) Input {
	switch src {
	case event.Hotline:
		return new(hotlineTicket)
	case event.Grid:
		return new(gridReport)
	case event.Emergency:
		return new(emergencyAlarm)
	case event.Traffic:
		return new(trafficEvent)
	}
	return nil
}

// Parse validates one JSON item of a source and returns the report. The
// returned error is Errors (every field problem) or nil. loc is the city's
// time zone, used for local times without a zone.
func Parse(src event.Source, item []byte, received time.Time, loc *time.Location) (Report, error) {
	r := Report{Schema: event.Schema, Source: src, ReceivedAt: received.UTC()}
	in := newInput(src)
	if in == nil {
		return r, Errors{{Field: "source", Reason: fmt.Sprintf("unknown source %q", src)}}
	}
	if wire.Unmarshal(item, in) != nil {
		// Explain the failure with encoding/json's precise errors.
		in = newInput(src)
		if err := json.Unmarshal(item, in); err != nil {
			return r, Errors{{Field: fieldOf(err), Reason: jsonReason(err)}}
		}
	}
	return ParseInput(src, in, received, loc)
}

func (in *hotlineTicket) validate(es *Errors, r *Report, received time.Time, loc *time.Location) *common {
	r.SourceRef = required(es, "ticket_no", in.TicketNo, maxRef)
	r.Kind = in.AppealType
	switch in.AppealType {
	case "咨询", "求助", "投诉", "举报", "建议":
	case "":
		es.add("appeal_type", "required: one of 咨询, 求助, 投诉, 举报, 建议")
	default:
		es.add("appeal_type", "%q is not one of 咨询, 求助, 投诉, 举报, 建议", in.AppealType)
	}
	r.Description = required(es, "content", in.Content, maxText)
	r.Title = optional(es, "title", in.Title, maxTitle)
	r.OccurredAt = parseTime(es, "call_time", in.CallTime, received, loc)
	r.Reporter = event.Reporter{Name: optional(es, "caller_name", in.CallerName, 50), Phone: phone(es, "caller_phone", in.CallerTel)}
	if in.Category == "" {
		in.Category = "other"
		if in.AppealType == "咨询" {
			in.Category = "service.consult"
		}
	}
	return &in.common
}

func (in *gridReport) validate(es *Errors, r *Report, received time.Time, loc *time.Location) *common {
	r.SourceRef = required(es, "report_id", in.ReportID, maxRef)
	r.Reporter = event.Reporter{WorkerID: required(es, "worker_id", in.WorkerID, 64), Grid: optional(es, "grid_code", in.GridCode, 20)}
	r.Description = optional(es, "description", in.Description, maxText)
	r.OccurredAt = parseTime(es, "reported_at", in.ReportedAt, received, loc)
	if len(in.Photos) > 9 {
		es.add("photos", "at most 9 photos, got %d", len(in.Photos))
	}
	for i, p := range in.Photos {
		var pes Errors
		if optional(&pes, "photo", p, 500); len(pes) > 0 {
			es.add(fmt.Sprintf("photos[%d]", i), "%s", pes[0].Reason)
		}
	}
	r.Attachments = in.Photos
	if in.Category == "" {
		es.add("category", "required")
	}
	if in.Lon == nil || in.Lat == nil {
		es.add("lon", "required: a grid report carries the worker's GPS position")
	}
	return &in.common
}

func (in *emergencyAlarm) validate(es *Errors, r *Report, received time.Time, loc *time.Location) *common {
	r.SourceRef = required(es, "alarm_id", in.AlarmID, maxRef)
	r.Kind = required(es, "alarm_type", in.AlarmType, 32)
	if in.Category == "" {
		in.Category = in.AlarmType
	}
	if in.Level < 0 || in.Level > 4 {
		es.add("level", "want 1 (I 特别重大) … 4 (IV 一般), got %d", in.Level)
	}
	r.Severity = in.Level
	r.Description = optional(es, "description", in.Description, maxText)
	r.OccurredAt = parseTime(es, "occurred_at", in.OccurredAt, received, loc)
	r.Reporter = event.Reporter{Phone: phone(es, "caller_phone", in.CallerTel)}
	if in.DeviceID != "" {
		r.Reporter.Name = optional(es, "device_id", in.DeviceID, 64)
	}
	return &in.common
}

func (in *trafficEvent) validate(es *Errors, r *Report, received time.Time, loc *time.Location) *common {
	r.SourceRef = required(es, "event_id", in.EventID, maxRef)
	r.Kind = required(es, "event_type", in.EventType, 32)
	if in.Category == "" {
		in.Category = in.EventType
	}
	if in.Level < 0 || in.Level > 4 {
		es.add("level", "want 1 … 4, got %d", in.Level)
	}
	if math.IsNaN(in.SpeedKmh) || in.SpeedKmh < 0 || in.SpeedKmh > 300 {
		es.add("speed_kmh", "want 0 … 300")
	}
	r.Severity = in.Level
	road := optional(es, "road", in.Road, 100)
	r.Description = optional(es, "description", in.Description, maxText)
	if r.Description == "" && road != "" {
		r.Description = road
	}
	if in.Address == "" {
		in.Address = road
	}
	r.OccurredAt = parseTime(es, "occurred_at", in.OccurredAt, received, loc)
	if in.Lon == nil || in.Lat == nil {
		es.add("lon", "required: a traffic event carries the segment's position")
	}
	return &in.common
}

// ParseInput validates a decoded item of source src (from DecodeRaw) and
// returns the report, as Parse does.
func ParseInput(src event.Source, in Input, received time.Time, loc *time.Location) (Report, error) {
	var es Errors
	r := Report{Schema: event.Schema, Source: src, ReceivedAt: received.UTC()}
	// A type switch, not an interface call: r and es then stay on the
	// stack (the enricher's hot path).
	var c *common
	switch in := in.(type) {
	case *hotlineTicket:
		c = in.validate(&es, &r, received, loc)
	case *gridReport:
		c = in.validate(&es, &r, received, loc)
	case *emergencyAlarm:
		c = in.validate(&es, &r, received, loc)
	case *trafficEvent:
		c = in.validate(&es, &r, received, loc)
	default:
		return r, Errors{{Field: "body", Reason: fmt.Sprintf("no validation for %T", in)}}
	}

	cat, err := taxonomy.Lookup(c.Category)
	if err != nil {
		es.add("category", "%v; see GET /api/v1/categories", err)
	} else {
		r.Category, r.CategoryName = cat.Code, cat.Name
		if r.Severity == 0 {
			r.Severity = cat.Severity
		}
		r.Department = cat.Department
	}
	r.Address = optional(&es, "address", c.Address, maxAddr)
	r.OriginalCRS = "wgs84"
	sys, err := crs.Parse(c.CRS)
	if err != nil {
		es.add("crs", "%v", err)
	} else {
		r.OriginalCRS = string(sys)
	}
	switch {
	case c.Lon == nil && c.Lat == nil:
		if r.Address == "" && src == event.Hotline {
			es.add("address", "required when lon/lat are missing")
		}
	case c.Lon == nil || c.Lat == nil:
		es.add("lon", "lon and lat come together")
	default:
		p := event.Point{Lon: *c.Lon, Lat: *c.Lat}
		if !p.Valid() {
			es.add("lon", "coordinates must be finite, lon in [-180,180], lat in [-90,90]")
		} else {
			w := crs.ToWGS84(orb.Point{p.Lon, p.Lat}, sys)
			r.Location = &event.Point{Lon: w[0], Lat: w[1]}
		}
	}
	if r.Title == "" {
		r.Title = title(r)
	}
	return r, es.err()
}

func title(r Report) string {
	t := r.CategoryName
	if r.Address != "" {
		t = r.Address + " " + t
	}
	return truncate(t, maxTitle)
}

func required(es *Errors, field, v string, max int) string {
	v = strings.TrimSpace(v)
	if v == "" {
		es.add(field, "required")
		return ""
	}
	return optional(es, field, v, max)
}

func optional(es *Errors, field, v string, max int) string {
	v = strings.TrimSpace(v)
	if !utf8.ValidString(v) {
		es.add(field, "not valid UTF-8")
		return ""
	}
	if n := utf8.RuneCountInString(v); n > max {
		es.add(field, "too long: %d characters, at most %d", n, max)
		return ""
	}
	if strings.ContainsRune(v, 0) {
		es.add(field, "contains a NUL character")
		return ""
	}
	return v
}

func phone(es *Errors, field, v string) string {
	v = strings.TrimSpace(v)
	for _, r := range v {
		if (r < '0' || r > '9') && r != '-' && r != '+' && r != ' ' {
			es.add(field, "not a phone number")
			return ""
		}
	}
	if len(v) > 20 {
		es.add(field, "too long")
		return ""
	}
	return v
}

var layouts = []string{time.RFC3339Nano, "2006-01-02 15:04:05", "2006-01-02T15:04:05", "2006/01/02 15:04:05", "2006-01-02 15:04"}

func parseTime(es *Errors, field, v string, def time.Time, loc *time.Location) time.Time {
	v = strings.TrimSpace(v)
	if v == "" {
		return def.UTC()
	}
	ls := layouts
	if len(v) > 10 && v[10] == ' ' {
		// 2006-01-02 15:04:05, what call centres send: skip RFC 3339,
		// whose failure costs an error value each time.
		ls = layouts[1:]
	}
	for _, l := range ls {
		if t, err := time.ParseInLocation(l, v, loc); err == nil {
			if t.After(def.Add(24 * time.Hour)) {
				es.add(field, "%s is in the future", v)
			}
			return t.UTC()
		}
	}
	es.add(field, "%q is not a time (want RFC 3339 or 2006-01-02 15:04:05 local)", v)
	return def.UTC()
}

func truncate(s string, n int) string {
	for i := range s {
		if n == 0 {
			return s[:i]
		}
		n--
	}
	return s
}

func fieldOf(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		return strings.TrimPrefix(te.Field, "common.") // shared fields are embedded
	}
	return "body"
}

func jsonReason(err error) string {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te):
		return fmt.Sprintf("wrong type: got JSON %s, want %s", te.Value, te.Type)
	case errors.As(err, &se):
		return fmt.Sprintf("malformed JSON at byte %d: %v", se.Offset, se)
	}
	return "malformed JSON: " + err.Error()
}
