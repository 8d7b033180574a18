package event

import (
	"crypto/sha256"
	"encoding/base32"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/paulmach/orb/geojson"

	"github.com/citybrain-ioc/citybrain/gis"
)

// Schema is the version of every message this package defines.
const Schema = 1

// Source is where a report came from.
type Source string

// The four sources.
const (
	Hotline   Source = "hotline"   // 12345 政务服务便民热线
	Grid      Source = "grid"      // 网格员 patrol reports
	Emergency Source = "emergency" // 110/119/120 linkage, IoT alarms, warnings
	Traffic   Source = "traffic"   // TOCC, cameras, loop detectors
)

// Sources lists every source in display order.
var Sources = []Source{Hotline, Grid, Emergency, Traffic}

// ParseSource validates a source name.
func ParseSource(s string) (Source, error) {
	for _, src := range Sources {
		if string(src) == s {
			return src, nil
		}
	}
	return "", fmt.Errorf("unknown source %q (want hotline, grid, emergency or traffic)", s)
}

// Point is a WGS-84 position in degrees.
type Point struct {
	Lon float64 `json:"lon"`
	Lat float64 `json:"lat"`
}

// Valid reports whether both coordinates are finite and in range.
func (p Point) Valid() bool {
	return !math.IsNaN(p.Lon) && !math.IsNaN(p.Lat) && !math.IsInf(p.Lon, 0) && !math.IsInf(p.Lat, 0) &&
		p.Lon >= -180 && p.Lon <= 180 && p.Lat >= -90 && p.Lat <= 90
}

// Raw is the message on raw.<source>: the input exactly as accepted, plus
// receipt metadata. Key: the event id.
type Raw struct {
	Schema      int             `json:"schema"`
	ID          string          `json:"id"`
	Source      Source          `json:"source"`
	SourceRef   string          `json:"source_ref"`
	ReceivedAt  time.Time       `json:"received_at"`
	ContentType string          `json:"content_type"`
	Body        json.RawMessage `json:"body,omitempty"` // JSON inputs
	Text        string          `json:"text,omitempty"` // XML inputs (CAP), as received
}

// Reporter is who reported an event. Phone and IDNumber are personal data:
// mask them (Mask…) for every role that does not need the full value.
type Reporter struct {
	Name     string `json:"name,omitempty"`
	Phone    string `json:"phone,omitempty"`
	IDNumber string `json:"id_number,omitempty"`
	WorkerID string `json:"worker_id,omitempty"`
	Grid     string `json:"grid,omitempty"` // a grid worker's own grid cell
}

// Event is one report from one source, normalised and enriched: the message
// on the events topic. Key: the incident id.
type Event struct {
	Schema       int          `json:"schema"`
	ID           string       `json:"id"`
	IncidentID   string       `json:"incident_id"`
	Source       Source       `json:"source"`
	SourceRef    string       `json:"source_ref"`
	Category     string       `json:"category"`
	CategoryName string       `json:"category_name"`
	Kind         string       `json:"kind,omitempty"` // source's own type, e.g. 投诉, 119, congestion
	Title        string       `json:"title"`
	Description  string       `json:"description,omitempty"`
	Severity     int          `json:"severity"` // 1 = I 特别重大 … 4 = IV 一般
	Location     *Point       `json:"location"` // nil: not located (address only, geocoding failed)
	OriginalCRS  string       `json:"original_crs"`
	Address      string       `json:"address,omitempty"`
	OccurredAt   time.Time    `json:"occurred_at"`
	ReceivedAt   time.Time    `json:"received_at"`
	Reporter     Reporter     `json:"reporter,omitempty"`
	Attachments  []string     `json:"attachments,omitempty"`
	Place        gis.Place    `json:"place"`
	Nearby       []gis.Nearby `json:"nearby,omitempty"`
	Department   string       `json:"department"`
	// Warning areas (CAP): the area in WGS-84, the admin codes it named,
	// the grid cells inside it, its expiry, and the alerts it updates or
	// cancels (as event ids).
	Area          *geojson.Geometry `json:"area,omitempty"`
	AreaCodes     []string          `json:"area_codes,omitempty"`
	AffectedGrids []string          `json:"affected_grids,omitempty"`
	Expires       *time.Time        `json:"expires,omitempty"`
	References    []string          `json:"references,omitempty"`
}

// EventID derives the event id from the source and its own reference, so
// the same ticket sent twice has the same id everywhere (idempotency).
func EventID(src Source, ref string) string { return "EV-" + digest(string(src), ref) }

// IncidentIDFor derives the id of the incident an event opens.
func IncidentIDFor(eventID string) string { return "INC-" + strings.TrimPrefix(eventID, "EV-") }

// SplitIncidentID derives the id of the incident a report split out of its
// incident opens (拆分): from the report and the command, so a re-delivered
// command names the same incident and a report split out twice (after
// being merged back) gets a new one.
func SplitIncidentID(eventID, commandID string) string {
	return "INC-" + digest("split", eventID, commandID)
}

// TaskIDFor derives the id of the n-th task (1-based) of an incident.
func TaskIDFor(incidentID string, n int) string {
	return fmt.Sprintf("TSK-%s-%d", strings.TrimPrefix(incidentID, "INC-"), n)
}

func digest(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return strings.ToUpper(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(h.Sum(nil))[:20])
}

// MaskPhone keeps the first three and last four digits: 138****5678.
func MaskPhone(s string) string {
	r := []rune(s)
	if len(r) < 7 {
		return strings.Repeat("*", len(r))
	}
	return string(r[:3]) + strings.Repeat("*", len(r)-7) + string(r[len(r)-4:])
}

// MaskID keeps the first six and last four characters of an ID number:
// 110105********1234.
func MaskID(s string) string {
	r := []rune(s)
	if len(r) < 10 {
		return strings.Repeat("*", len(r))
	}
	return string(r[:6]) + strings.Repeat("*", len(r)-10) + string(r[len(r)-4:])
}

// Masked returns the reporter with personal data masked.
func (r Reporter) Masked() Reporter {
	r.Phone = MaskPhone(r.Phone)
	r.IDNumber = MaskID(r.IDNumber)
	if n := []rune(r.Name); len(n) > 1 {
		r.Name = string(n[:1]) + strings.Repeat("*", len(n)-1)
	}
	return r
}
