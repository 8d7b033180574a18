package intake

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/paulmach/orb"
)

// CAP 1.2 (OASIS, 2010) and its Chinese profile GB/T 35965.1-2018.

// CAPNamespace is the only CAP namespace accepted.
const CAPNamespace = "urn:oasis:names:tc:emergency:cap:1.2"

// CAPContentType marks a raw record whose Text is a CAP document.
const CAPContentType = "application/cap+xml"

// MaxCAPBytes bounds one CAP document.
const MaxCAPBytes = 1 << 20

// Alert is a parsed CAP alert with its areas as WGS-84 geometry.
type Alert struct {
	Identifier string
	Sender     string
	Sent       time.Time
	Status     string // Actual, Exercise, System, Test, Draft
	MsgType    string // Alert, Update, Cancel, Ack, Error
	Scope      string
	References []Reference
	Incidents  string
	Infos      []Info
	// GBT35965 holds the parts of a GB/T 35965.1 identifier (area code,
	// time, sequence) when the identifier has that form.
	GBT35965 *GBIdentifier
}

// Reference names an earlier alert: sender, identifier, sent (as given).
type Reference struct{ Sender, Identifier, Sent string }

// GBIdentifier is a GB/T 35965.1 alert identifier: 6-digit admin code of
// the issuing area, agency code, 14-digit time, sequence.
type GBIdentifier struct {
	AreaCode string
	Agency   string
	Time     string
	Sequence string
}

// Info is one info block (one language).
type Info struct {
	Language    string
	Categories  []string
	Event       string
	Urgency     string
	Severity    string
	Certainty   string
	Onset       time.Time
	Expires     time.Time
	SenderName  string
	Headline    string
	Description string
	Instruction string
	Parameters  map[string]string
	Areas       []Area
}

// Area is one CAP area: polygons ("lat,lon" pairs, converted to [lon, lat]),
// circles and geocodes.
type Area struct {
	Desc     string
	Polygons []orb.Polygon
	Circles  []Circle
	Geocodes []Geocode
}

// Circle is a centre and a radius in metres.
type Circle struct {
	Centre  orb.Point
	RadiusM float64
}

// Geocode is a valueName/value pair, e.g. GB/T 2260 admin codes.
type Geocode struct{ Name, Value string }

type capValue struct {
	Name  string `xml:"valueName"`
	Value string `xml:"value"`
}

type capArea struct {
	Desc     string     `xml:"areaDesc"`
	Polygons []string   `xml:"polygon"`
	Circles  []string   `xml:"circle"`
	Geocodes []capValue `xml:"geocode"`
}

type capInfo struct {
	Language    string     `xml:"language"`
	Categories  []string   `xml:"category"`
	Event       string     `xml:"event"`
	Urgency     string     `xml:"urgency"`
	Severity    string     `xml:"severity"`
	Certainty   string     `xml:"certainty"`
	Onset       string     `xml:"onset"`
	Expires     string     `xml:"expires"`
	SenderName  string     `xml:"senderName"`
	Headline    string     `xml:"headline"`
	Description string     `xml:"description"`
	Instruction string     `xml:"instruction"`
	Parameters  []capValue `xml:"parameter"`
	Areas       []capArea  `xml:"area"`
}

type capAlert struct {
	XMLName    xml.Name  `xml:"alert"`
	Identifier string    `xml:"identifier"`
	Sender     string    `xml:"sender"`
	Sent       string    `xml:"sent"`
	Status     string    `xml:"status"`
	MsgType    string    `xml:"msgType"`
	Scope      string    `xml:"scope"`
	References *string   `xml:"references"`
	Incidents  string    `xml:"incidents"`
	Infos      []capInfo `xml:"info"`
}

var (
	statuses   = []string{"Actual", "Exercise", "System", "Test", "Draft"}
	msgTypes   = []string{"Alert", "Update", "Cancel", "Ack", "Error"}
	scopes     = []string{"Public", "Restricted", "Private"}
	categories = []string{"Geo", "Met", "Safety", "Security", "Rescue", "Fire", "Health", "Env", "Transport", "Infra", "CBRNE", "Other"}
	urgencies  = []string{"Immediate", "Expected", "Future", "Past", "Unknown"}
	severities = []string{"Extreme", "Severe", "Moderate", "Minor", "Unknown"}
	certainty  = []string{"Observed", "Likely", "Possible", "Unlikely", "Unknown", "Very Likely"}
)

// ParseCAP parses and validates a CAP 1.2 document. It never resolves
// entities or fetches anything: a document with a DTD is refused, as is
// any encoding but UTF-8 (a BOM is allowed). The error is Errors.
func ParseCAP(b []byte) (Alert, error) {
	var es Errors
	var a Alert
	if len(b) > MaxCAPBytes {
		es.add("body", "CAP document larger than %d bytes", MaxCAPBytes)
		return a, es
	}
	b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))
	if !utf8.Valid(b) {
		es.add("body", "not valid UTF-8 (CAP is accepted in UTF-8 only)")
		return a, es
	}
	if err := checkTokens(b); err != nil {
		es.add("body", "%v", err)
		return a, es
	}
	var in capAlert
	dec := xml.NewDecoder(bytes.NewReader(b))
	dec.Strict = true
	dec.CharsetReader = func(label string, r io.Reader) (io.Reader, error) {
		if strings.EqualFold(label, "utf-8") || strings.EqualFold(label, "utf8") {
			return r, nil
		}
		return nil, fmt.Errorf("encoding %q is not supported (send UTF-8)", label)
	}
	if err := dec.Decode(&in); err != nil {
		es.add("body", "malformed CAP XML: %v", err)
		return a, es
	}
	switch in.XMLName.Space {
	case CAPNamespace:
	case "urn:oasis:names:tc:emergency:cap:1.1", "http://www.incident.com/cap/1.0":
		es.add("alert", "namespace %q is an older CAP version: send CAP 1.2 (%s)", in.XMLName.Space, CAPNamespace)
		return a, es
	default:
		es.add("alert", "namespace %q is not CAP 1.2 (%s)", in.XMLName.Space, CAPNamespace)
		return a, es
	}
	a.Identifier = capText(&es, "identifier", in.Identifier, true, 256)
	if strings.ContainsAny(a.Identifier, " ,<&") {
		es.add("identifier", "must not contain spaces, commas or restricted characters")
	}
	a.Sender = capText(&es, "sender", in.Sender, true, 256)
	a.Sent = capTime(&es, "sent", in.Sent, true)
	a.Status = capEnum(&es, "status", in.Status, statuses, true)
	a.MsgType = capEnum(&es, "msgType", in.MsgType, msgTypes, true)
	a.Scope = capEnum(&es, "scope", in.Scope, scopes, true)
	a.Incidents = strings.TrimSpace(in.Incidents)
	if in.References != nil {
		refs := strings.Fields(*in.References)
		if len(refs) == 0 {
			es.add("references", "present but empty")
		}
		for _, r := range refs {
			parts := strings.Split(r, ",")
			if len(parts) != 3 || parts[1] == "" {
				es.add("references", "%q is not sender,identifier,sent", r)
				continue
			}
			a.References = append(a.References, Reference{parts[0], parts[1], parts[2]})
		}
	}
	if (a.MsgType == "Update" || a.MsgType == "Cancel") && len(a.References) == 0 && in.References == nil {
		es.add("references", "required for msgType %s", a.MsgType)
	}
	a.GBT35965 = parseGBIdentifier(a.Identifier)
	for i, ii := range in.Infos {
		a.Infos = append(a.Infos, parseInfo(&es, fmt.Sprintf("info[%d]", i), ii))
	}
	if len(a.Infos) == 0 && a.MsgType == "Alert" {
		es.add("info", "an Alert needs at least one info block")
	}
	return a, es.err()
}

// checkTokens refuses DTDs (and so every entity trick: XXE, billion laughs)
// and XInclude. Processing instructions such as xml-stylesheet are inert
// here (nothing is ever fetched) and real feeds carry them, so they pass.
func checkTokens(b []byte) error {
	dec := xml.NewDecoder(bytes.NewReader(b))
	dec.Strict = true
	dec.CharsetReader = func(label string, r io.Reader) (io.Reader, error) { return r, nil }
	for {
		tok, err := dec.RawToken()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("malformed XML: %w", err)
		}
		switch t := tok.(type) {
		case xml.Directive:
			return errors.New("a DOCTYPE or other directive is not allowed in CAP (no DTDs, no entities)")
		case xml.StartElement:
			if t.Name.Local == "include" && strings.Contains(t.Name.Space, "XInclude") {
				return errors.New("XInclude is not allowed")
			}
		}
	}
}

func parseInfo(es *Errors, at string, in capInfo) Info {
	info := Info{
		Language:    strings.TrimSpace(in.Language),
		Event:       capText(es, at+".event", in.Event, true, 200),
		Urgency:     capEnum(es, at+".urgency", in.Urgency, urgencies, true),
		Severity:    capEnum(es, at+".severity", in.Severity, severities, true),
		Certainty:   capEnum(es, at+".certainty", in.Certainty, certainty, true),
		Onset:       capTime(es, at+".onset", in.Onset, false),
		Expires:     capTime(es, at+".expires", in.Expires, false),
		SenderName:  capText(es, at+".senderName", in.SenderName, false, 200),
		Headline:    capText(es, at+".headline", in.Headline, false, 500),
		Description: capText(es, at+".description", in.Description, false, 8000),
		Instruction: capText(es, at+".instruction", in.Instruction, false, 8000),
		Parameters:  map[string]string{},
	}
	if info.Language == "" {
		info.Language = "en-US" // the CAP default
	}
	if len(in.Categories) == 0 {
		es.add(at+".category", "required")
	}
	for _, c := range in.Categories {
		info.Categories = append(info.Categories, capEnum(es, at+".category", c, categories, true))
	}
	for _, p := range in.Parameters {
		info.Parameters[strings.TrimSpace(p.Name)] = strings.TrimSpace(p.Value)
	}
	for j, ar := range in.Areas {
		info.Areas = append(info.Areas, parseArea(es, fmt.Sprintf("%s.area[%d]", at, j), ar))
	}
	return info
}

func parseArea(es *Errors, at string, in capArea) Area {
	a := Area{Desc: capText(es, at+".areaDesc", in.Desc, true, 500)}
	for k, p := range in.Polygons {
		if strings.TrimSpace(p) == "" {
			es.add(fmt.Sprintf("%s.polygon[%d]", at, k), "empty polygon")
			continue
		}
		ring, err := parsePolygon(p)
		if err != nil {
			es.add(fmt.Sprintf("%s.polygon[%d]", at, k), "%v", err)
			continue
		}
		a.Polygons = append(a.Polygons, orb.Polygon{ring})
	}
	for k, c := range in.Circles {
		circle, err := parseCircle(c)
		if err != nil {
			es.add(fmt.Sprintf("%s.circle[%d]", at, k), "%v", err)
			continue
		}
		a.Circles = append(a.Circles, circle)
	}
	for _, g := range in.Geocodes {
		if v := strings.TrimSpace(g.Value); v != "" {
			a.Geocodes = append(a.Geocodes, Geocode{strings.TrimSpace(g.Name), v})
		}
	}
	return a
}

// parsePolygon reads "lat,lon lat,lon …" (CAP puts latitude first) into a
// closed [lon, lat] ring of at least four points.
func parsePolygon(s string) (orb.Ring, error) {
	var ring orb.Ring
	for _, pair := range strings.Fields(s) {
		p, err := latLon(pair)
		if err != nil {
			return nil, err
		}
		ring = append(ring, p)
	}
	if len(ring) < 4 {
		return nil, fmt.Errorf("a polygon needs at least 4 points, got %d", len(ring))
	}
	if ring[0] != ring[len(ring)-1] {
		return nil, errors.New("polygon is not closed: the first and last points differ")
	}
	return ring, nil
}

// parseCircle reads "lat,lon radius_km".
func parseCircle(s string) (Circle, error) {
	f := strings.Fields(s)
	if len(f) != 2 {
		return Circle{}, fmt.Errorf("%q is not \"lat,lon radius_km\"", s)
	}
	p, err := latLon(f[0])
	if err != nil {
		return Circle{}, err
	}
	r, err := strconv.ParseFloat(f[1], 64)
	if err != nil || r < 0 || math.IsNaN(r) || math.IsInf(r, 0) || r > 5000 {
		return Circle{}, fmt.Errorf("radius %q is not a distance in km (0 … 5000)", f[1])
	}
	return Circle{Centre: p, RadiusM: r * 1000}, nil
}

func latLon(pair string) (orb.Point, error) {
	a, b, ok := strings.Cut(pair, ",")
	lat, err1 := strconv.ParseFloat(a, 64)
	lon, err2 := strconv.ParseFloat(b, 64)
	if !ok || err1 != nil || err2 != nil || math.IsNaN(lat) || math.IsNaN(lon) || math.IsInf(lat, 0) || math.IsInf(lon, 0) {
		return orb.Point{}, fmt.Errorf("%q is not \"lat,lon\"", pair)
	}
	if lat < -90 || lat > 90 || lon < -180 || lon > 180 {
		return orb.Point{}, fmt.Errorf("%q is out of range (CAP gives latitude first)", pair)
	}
	return orb.Point{lon, lat}, nil
}

func capText(es *Errors, field, v string, required bool, max int) string {
	v = strings.TrimSpace(v)
	if v == "" {
		if required {
			es.add(field, "required")
		}
		return ""
	}
	if n := utf8.RuneCountInString(v); n > max {
		es.add(field, "too long: %d characters, at most %d", n, max)
		return ""
	}
	return v
}

func capEnum(es *Errors, field, v string, allowed []string, required bool) string {
	v = strings.TrimSpace(v)
	if v == "" {
		if required {
			es.add(field, "required: one of %s", strings.Join(allowed, ", "))
		}
		return ""
	}
	for _, a := range allowed {
		if v == a {
			return v
		}
	}
	es.add(field, "%q is not one of %s", v, strings.Join(allowed, ", "))
	return ""
}

// capTime reads a CAP dateTime: RFC 3339 with an explicit offset.
func capTime(es *Errors, field, v string, required bool) time.Time {
	v = strings.TrimSpace(v)
	if v == "" {
		if required {
			es.add(field, "required")
		}
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		es.add(field, "%q is not a CAP dateTime (e.g. 2026-11-22T14:23:00+08:00)", v)
		return time.Time{}
	}
	return t.UTC()
}

// parseGBIdentifier recognises a GB/T 35965.1 identifier: 6-digit area
// code, agency code, 14-digit time (yyyyMMddHHmmss) and a sequence — 31
// characters in the national profile.
func parseGBIdentifier(id string) *GBIdentifier {
	if len(id) < 26 || !digits(id[:6]) {
		return nil
	}
	// Find the 14-digit time after the agency code.
	for i := 6; i+14 <= len(id); i++ {
		if digits(id[i:i+14]) && strings.HasPrefix(id[i:], "20") {
			if _, err := time.Parse("20060102150405", id[i:i+14]); err == nil && i+14 < len(id) {
				return &GBIdentifier{AreaCode: id[:6], Agency: id[6:i], Time: id[i : i+14], Sequence: id[i+14:]}
			}
		}
	}
	return nil
}

func digits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}

// Main returns the info block to act on: the first in Chinese, else the
// first. ok is false for an alert without info (a bare Cancel).
func (a Alert) Main() (Info, bool) {
	for _, in := range a.Infos {
		if strings.HasPrefix(strings.ToLower(in.Language), "zh") {
			return in, true
		}
	}
	if len(a.Infos) == 0 {
		return Info{}, false
	}
	return a.Infos[0], true
}
