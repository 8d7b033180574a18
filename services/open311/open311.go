// Package open311 serves the Open311 GeoReport v2 API over the platform:
// service discovery from the category taxonomy, service requests posted
// (form-encoded as the spec says, or JSON) into the hotline intake, and
// requests read back with their status derived from the case state
// (everything before closed is "open") and expected_datetime from the
// task's deadline. JSON and XML, chosen by the .json/.xml suffix.
package open311

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/citybrain-ioc/citybrain/services/event"
	"github.com/citybrain-ioc/citybrain/services/ingest"
	"github.com/citybrain-ioc/citybrain/services/intake"
	"github.com/citybrain-ioc/citybrain/services/redisstore"
	"github.com/citybrain-ioc/citybrain/services/taxonomy"
)

// Acceptor takes validated intake; ingest.Service is one.
type Acceptor interface {
	Accept(ctx context.Context, src event.Source, items [][]byte) ([]ingest.Accepted, error)
}

// Store is what the API reads; redisstore.Store is one.
type Store interface {
	Incident(ctx context.Context, id string) (event.Incident, error)
	IncidentOf(ctx context.Context, eventID string) (string, error)
	Incidents(ctx context.Context, q redisstore.Query) ([]event.Incident, int, error)
}

// API is the Open311 endpoint set.
type API struct {
	acc   Acceptor
	store Store
	loc   *time.Location
	// hold, when set, says why the requests' status cannot be read now
	// (nil: it can): GET requests answer 503 with it and Retry-After
	// retryAfter. Posting a request is never held.
	hold       func(context.Context) error
	retryAfter string
}

// New returns the API.
func New(acc Acceptor, store Store, loc *time.Location) *API {
	return &API{acc: acc, store: store, loc: loc}
}

// WithHold sets what holds the reads of requests back (see API.hold) and
// returns a.
func (a *API) WithHold(hold func(context.Context) error, retryAfter string) *API {
	a.hold, a.retryAfter = hold, retryAfter
	return a
}

// held answers 503 when the reads are held back, and reports whether it
// did.
func (a *API) held(c *fiber.Ctx, f string) (bool, error) {
	if a.hold == nil {
		return false, nil
	}
	err := a.hold(c.UserContext())
	if err == nil {
		return false, nil
	}
	c.Set(fiber.HeaderRetryAfter, a.retryAfter)
	return true, fail(c, f, fiber.StatusServiceUnavailable, err.Error())
}

// Register adds the routes.
func (a *API) Register(r fiber.Router) {
	r.Get("/open311/v2/services.:format", a.services)
	r.Get("/open311/v2/services/:file", a.service) // codes contain dots: split the suffix ourselves
	r.Post("/open311/v2/requests.:format", a.post)
	r.Get("/open311/v2/requests.:format", a.list)
	r.Get("/open311/v2/requests/:id.:format", a.get)
}

// Service is one entry of GET services.
type Service struct {
	XMLName     xml.Name `json:"-" xml:"service"`
	Code        string   `json:"service_code" xml:"service_code"`
	Name        string   `json:"service_name" xml:"service_name"`
	Description string   `json:"description" xml:"description"`
	Metadata    bool     `json:"metadata" xml:"metadata"`
	Type        string   `json:"type" xml:"type"`
	Keywords    string   `json:"keywords" xml:"keywords"`
	Group       string   `json:"group" xml:"group"`
}

// Request is one service request as GeoReport v2 shows it.
type Request struct {
	XMLName           xml.Name `json:"-" xml:"request"`
	ID                string   `json:"service_request_id" xml:"service_request_id"`
	Status            string   `json:"status" xml:"status"`
	StatusNotes       string   `json:"status_notes" xml:"status_notes"`
	ServiceName       string   `json:"service_name" xml:"service_name"`
	ServiceCode       string   `json:"service_code" xml:"service_code"`
	Description       string   `json:"description" xml:"description"`
	AgencyResponsible string   `json:"agency_responsible" xml:"agency_responsible"`
	ServiceNotice     string   `json:"service_notice" xml:"service_notice"`
	RequestedDatetime string   `json:"requested_datetime" xml:"requested_datetime"`
	UpdatedDatetime   string   `json:"updated_datetime" xml:"updated_datetime"`
	ExpectedDatetime  string   `json:"expected_datetime" xml:"expected_datetime"`
	Address           string   `json:"address" xml:"address"`
	AddressID         string   `json:"address_id" xml:"address_id"`
	Zipcode           string   `json:"zipcode" xml:"zipcode"`
	Lat               *float64 `json:"lat" xml:"lat,omitempty"`
	Long              *float64 `json:"long" xml:"long,omitempty"`
	MediaURL          string   `json:"media_url" xml:"media_url"`
}

// problem is one GeoReport error.
type problem struct {
	XMLName     xml.Name `json:"-" xml:"error"`
	Code        int      `json:"code" xml:"code"`
	Description string   `json:"description" xml:"description"`
}

func format(c *fiber.Ctx) (string, error) {
	switch f := c.Params("format"); f {
	case "json", "xml":
		return f, nil
	default:
		return "", fail(c, "json", fiber.StatusNotFound, "format ."+f+" is not served: use .json or .xml")
	}
}

func fail(c *fiber.Ctx, f string, status int, msg string) error {
	errs := []problem{{Code: status, Description: msg}}
	if f == "xml" {
		return send(c, "xml", status, struct {
			XMLName xml.Name  `xml:"errors"`
			Errors  []problem `xml:"error"`
		}{Errors: errs})
	}
	return c.Status(status).JSON(errs)
}

func send(c *fiber.Ctx, f string, status int, v any) error {
	if f == "json" {
		return c.Status(status).JSON(v)
	}
	b, err := xml.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	c.Set("Content-Type", "text/xml; charset=utf-8")
	return c.Status(status).Send(append([]byte(xml.Header), b...))
}

func (a *API) services(c *fiber.Ctx) error {
	f, err := format(c)
	if err != nil {
		return err
	}
	var out []Service
	for _, t := range taxonomy.All() {
		out = append(out, serviceOf(t))
	}
	if f == "xml" {
		return send(c, f, 200, struct {
			XMLName  xml.Name  `xml:"services"`
			Services []Service `xml:"service"`
		}{Services: out})
	}
	return c.JSON(out)
}

func serviceOf(t taxonomy.Category) Service {
	return Service{Code: t.Code, Name: t.Name, Description: fmt.Sprintf("%s（责任单位：%s，办理时限 %.0f 小时）", t.Name, t.Department, t.Allowed.Hours()),
		Metadata: false, Type: "realtime", Keywords: strings.Join(t.Aliases, ","), Group: t.Family}
}

func (a *API) service(c *fiber.Ctx) error {
	file := c.Params("file")
	i := strings.LastIndexByte(file, '.')
	if i < 0 {
		return fail(c, "json", fiber.StatusNotFound, "want /open311/v2/services/{service_code}.json or .xml")
	}
	code, f := file[:i], file[i+1:]
	if f != "json" && f != "xml" {
		return fail(c, "json", fiber.StatusNotFound, "format ."+f+" is not served: use .json or .xml")
	}
	t, err := taxonomy.Lookup(code)
	if err != nil {
		return fail(c, f, fiber.StatusNotFound, "service_code "+code+" not found")
	}
	def := struct {
		XMLName    xml.Name `json:"-" xml:"service_definition"`
		Code       string   `json:"service_code" xml:"service_code"`
		Attributes []any    `json:"attributes" xml:"attributes"`
	}{Code: t.Code, Attributes: []any{}}
	return send(c, f, 200, def)
}

// post accepts a service request: form-encoded (the spec) or JSON. It goes
// into the hotline intake with channel Open311; the request id is the
// event id, derived from the request's content, so a retried POST is the
// same request.
func (a *API) post(c *fiber.Ctx) error {
	f, err := format(c)
	if err != nil {
		return err
	}
	get := c.FormValue
	if strings.HasPrefix(string(c.Request().Header.ContentType()), "application/json") {
		var m map[string]any
		if err := json.Unmarshal(c.Body(), &m); err != nil {
			return fail(c, f, fiber.StatusBadRequest, "malformed JSON: "+err.Error())
		}
		get = func(k string, _ ...string) string {
			if v, ok := m[k]; ok && v != nil {
				return fmt.Sprint(v)
			}
			return ""
		}
	}
	code := strings.TrimSpace(get("service_code"))
	if code == "" {
		return fail(c, f, fiber.StatusBadRequest, "service_code: required")
	}
	if _, err := taxonomy.Lookup(code); err != nil {
		return fail(c, f, fiber.StatusBadRequest, "service_code "+code+" not found (GET /open311/v2/services.json)")
	}
	desc := get("description")
	if len([]rune(desc)) > 4000 {
		return fail(c, f, fiber.StatusBadRequest, "description: at most 4000 characters")
	}
	ticket := map[string]any{
		"appeal_type": "投诉", "category": code, "content": desc, "address": get("address_string"),
		"caller_name": strings.TrimSpace(get("last_name") + get("first_name")), "caller_phone": get("phone"), "channel": "Open311",
	}
	if ticket["content"] == "" {
		ticket["content"] = code
	}
	lat, long := get("lat"), get("long")
	if lat != "" || long != "" {
		la, err1 := strconv.ParseFloat(lat, 64)
		lo, err2 := strconv.ParseFloat(long, 64)
		if err1 != nil || err2 != nil {
			return fail(c, f, fiber.StatusBadRequest, "lat/long: want decimal degrees (WGS-84)")
		}
		ticket["lat"], ticket["long"] = la, lo
		ticket["lon"] = lo
		delete(ticket, "long")
	} else if get("address_string") == "" && get("address_id") == "" {
		return fail(c, f, fiber.StatusBadRequest, "a location is required: lat and long, address_string or address_id")
	}
	if m := get("media_url"); m != "" {
		ticket["content"] = fmt.Sprint(ticket["content"]) + "\n附件: " + strings.TrimSpace(m)
	}
	sum := sha256.Sum256([]byte(code + "\x00" + lat + "\x00" + long + "\x00" + get("address_string") + "\x00" + desc + "\x00" + get("email") + get("phone") + get("device_id")))
	ticket["ticket_no"] = "O311-" + hex.EncodeToString(sum[:10])
	body, _ := json.Marshal(ticket)
	acc, err := a.acc.Accept(c.UserContext(), event.Hotline, [][]byte{body})
	var fe intake.Errors
	switch {
	case errors.As(err, &fe):
		return fail(c, f, fiber.StatusBadRequest, fe.Error())
	case err != nil:
		var fiberErr *fiber.Error
		if errors.As(err, &fiberErr) {
			return fail(c, f, fiberErr.Code, fiberErr.Message)
		}
		return err
	}
	type created struct {
		XMLName       xml.Name `json:"-" xml:"request"`
		ID            string   `json:"service_request_id" xml:"service_request_id"`
		ServiceNotice string   `json:"service_notice" xml:"service_notice"`
		AccountID     *string  `json:"account_id" xml:"account_id"`
	}
	out := []created{{ID: acc[0].ID, ServiceNotice: "已受理，我们将按时限办理并回复。"}}
	if f == "xml" {
		return send(c, f, fiber.StatusCreated, struct {
			XMLName  xml.Name  `xml:"service_requests"`
			Requests []created `xml:"request"`
		}{Requests: out})
	}
	return c.Status(fiber.StatusCreated).JSON(out)
}

func (a *API) get(c *fiber.Ctx) error {
	f, err := format(c)
	if err != nil {
		return err
	}
	if held, err := a.held(c, f); held {
		return err
	}
	req, ok, err := a.lookup(c.UserContext(), c.Params("id"))
	if err != nil {
		return err
	}
	if !ok {
		return fail(c, f, fiber.StatusNotFound, "service_request_id "+c.Params("id")+" not found (a request just posted appears within seconds)")
	}
	return a.sendRequests(c, f, []Request{req})
}

// lookup finds a request by its id: an event id (what POST returned) or an
// incident id.
func (a *API) lookup(ctx context.Context, id string) (Request, bool, error) {
	incID := id
	if strings.HasPrefix(id, "EV-") {
		var err error
		if incID, err = a.store.IncidentOf(ctx, id); err != nil {
			return Request{}, false, err
		}
	}
	inc, err := a.store.Incident(ctx, incID)
	if errors.Is(err, redisstore.ErrNotFound) {
		return Request{}, false, nil
	}
	if err != nil {
		return Request{}, false, err
	}
	r := a.request(inc)
	r.ID = id
	return r, true, nil
}

func (a *API) list(c *fiber.Ctx) error {
	f, err := format(c)
	if err != nil {
		return err
	}
	if held, err := a.held(c, f); held {
		return err
	}
	ctx := c.UserContext()
	if ids := c.Query("service_request_id"); ids != "" {
		var out []Request
		for _, id := range strings.Split(ids, ",") {
			if r, ok, err := a.lookup(ctx, strings.TrimSpace(id)); err != nil {
				return err
			} else if ok {
				out = append(out, r)
			}
		}
		return a.sendRequests(c, f, out)
	}
	end := time.Now()
	start := end.Add(-90 * 24 * time.Hour)
	if v := c.Query("end_date"); v != "" {
		if end, err = time.Parse(time.RFC3339, v); err != nil {
			return fail(c, f, fiber.StatusBadRequest, "end_date: want W3C/RFC 3339 time")
		}
		start = end.Add(-90 * 24 * time.Hour)
	}
	if v := c.Query("start_date"); v != "" {
		if start, err = time.Parse(time.RFC3339, v); err != nil {
			return fail(c, f, fiber.StatusBadRequest, "start_date: want W3C/RFC 3339 time")
		}
	}
	if end.Sub(start) > 90*24*time.Hour {
		return fail(c, f, fiber.StatusBadRequest, "start_date/end_date: at most 90 days apart")
	}
	status := c.Query("status")
	if status != "" && status != "open" && status != "closed" {
		return fail(c, f, fiber.StatusBadRequest, "status: open or closed")
	}
	codes := map[string]bool{}
	for _, s := range strings.Split(c.Query("service_code"), ",") {
		if s = strings.TrimSpace(s); s != "" {
			codes[s] = true
		}
	}
	incs, _, err := a.store.Incidents(ctx, redisstore.Query{Limit: 1000})
	if err != nil {
		return err
	}
	out := []Request{}
	for _, inc := range incs {
		r := a.request(inc)
		if (status != "" && r.Status != status) || (len(codes) > 0 && !codes[inc.Category]) ||
			inc.FirstSeen.Before(start) || inc.FirstSeen.After(end) {
			continue
		}
		out = append(out, r)
	}
	return a.sendRequests(c, f, out)
}

func (a *API) sendRequests(c *fiber.Ctx, f string, rs []Request) error {
	if rs == nil {
		rs = []Request{}
	}
	if f == "xml" {
		return send(c, f, 200, struct {
			XMLName  xml.Name  `xml:"service_requests"`
			Requests []Request `xml:"request"`
		}{Requests: rs})
	}
	return c.JSON(rs)
}

// request maps an incident to GeoReport v2: only open and closed exist.
func (a *API) request(inc event.Incident) Request {
	r := Request{
		ID: inc.ID, Status: "open", ServiceName: inc.CategoryName, ServiceCode: inc.Category, Description: inc.Description,
		RequestedDatetime: inc.FirstSeen.In(a.loc).Format(time.RFC3339), UpdatedDatetime: inc.UpdatedAt.In(a.loc).Format(time.RFC3339),
		Address: inc.Address, StatusNotes: stateNote(inc.State),
	}
	if len(inc.EventIDs) > 0 {
		r.ID = inc.EventIDs[0]
	}
	if !inc.State.Open() {
		r.Status = "closed"
	}
	// Before dispatch, the SLA of the category says who and by when.
	if t, err := taxonomy.Lookup(inc.Category); err == nil {
		r.AgencyResponsible = t.Department
		r.ExpectedDatetime = inc.FirstSeen.Add(t.Allowed).In(a.loc).Format(time.RFC3339)
	}
	if inc.Task != nil {
		r.AgencyResponsible = inc.Task.Department
		if !inc.Task.Deadline.IsZero() {
			r.ExpectedDatetime = inc.Task.Deadline.In(a.loc).Format(time.RFC3339)
		}
	}
	if p := inc.Location; p != nil {
		lat, lon := p.Lat, p.Lon
		r.Lat, r.Long = &lat, &lon
	}
	return r
}

var notes = map[event.State]string{
	event.Received: "已接收", event.Filed: "已立案", event.Rejected: "不予立案", event.Dispatched: "已派遣", event.Accepted: "已签收",
	event.InProgress: "处理中", event.Suspended: "挂账", event.ExtensionRequested: "延期申请中", event.Returned: "退单",
	event.Handled: "已处理，待核查", event.Verified: "已核查", event.Closed: "已结案", event.Visited: "已回访",
	event.Rated: "已评价", event.Reopened: "发回重办", event.Merged: "已合并",
}

func stateNote(s event.State) string {
	if n, ok := notes[s]; ok {
		return n
	}
	return string(s)
}
