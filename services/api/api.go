// Package api is the query and command HTTP API (fiber): incidents, GIS
// layers and locate, login and websocket tickets, categories, and the
// health and metrics endpoints every target serves.
package api

import (
	"context"
	"crypto/rand"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/paulmach/orb"
	"github.com/segmentio/kafka-go"

	"github.com/citybrain-ioc/citybrain/gis"
	"github.com/citybrain-ioc/citybrain/gis/crs"
	"github.com/citybrain-ioc/citybrain/services/auth"
	"github.com/citybrain-ioc/citybrain/services/event"
	"github.com/citybrain-ioc/citybrain/services/kafkabus"
	"github.com/citybrain-ioc/citybrain/services/kpi"
	"github.com/citybrain-ioc/citybrain/services/media"
	"github.com/citybrain-ioc/citybrain/services/redisstore"
	"github.com/citybrain-ioc/citybrain/services/routing"
	"github.com/citybrain-ioc/citybrain/services/taxonomy"
)

// Publisher publishes records; kafkabus.Producer is one.
type Publisher interface {
	Publish(ctx context.Context, msgs ...kafka.Message) error
}

// API serves the query endpoints.
type API struct {
	pub       Publisher
	topics    kafkabus.Topics
	store     *redisstore.Store
	city      *gis.City
	issuer    *auth.Issuer
	anonymous bool
	loc       *time.Location
	rules     func() *routing.Rules
	cache     caseCache
	log       *slog.Logger
	media     media.Store
	mediaMax  int
	users     atomic.Pointer[accounts] // who may log in (WithUsers, SetUsers); the demo users by default
	demo      bool                     // users include the demo accounts (the login forms show the hint)
}

// accounts are the users who may log in, and each subject's fingerprint
// (auth.Fingerprint).
type accounts struct {
	list []auth.User
	fp   map[string]string
}

// New returns the API. anonymous lets clients without a token get a viewer
// websocket ticket (the unattended wall).
// Commands go to the commands topic through pub.
// rules gives the routing rules for default departments and deadlines.
func New(store *redisstore.Store, city *gis.City, issuer *auth.Issuer, anonymous bool, pub Publisher, topics kafkabus.Topics, loc *time.Location, rules func() *routing.Rules, log *slog.Logger) *API {
	a := &API{store: store, city: city, issuer: issuer, anonymous: anonymous, pub: pub, topics: topics, loc: loc, rules: rules, log: log, demo: true,
		cache: caseCache{rows: kpi.NewCaseCache(store)}}
	a.SetUsers(auth.DemoUsers)
	return a
}

// WithUsers sets the accounts that may log in (the city's from a users
// file, auth.DemoAccounts: the demo users and the grid roster, or both);
// demo says whether the demo accounts are among them. It returns a.
func (a *API) WithUsers(users []auth.User, demo bool) *API {
	a.SetUsers(users)
	a.demo = demo
	return a
}

// SetUsers replaces the accounts (a users file changed). A token whose
// subject is no longer among them, or whose account has changed since it
// was issued (its password, role, scope or department), is refused from
// then on: an account taken out of the file or changed after a leak loses
// its access at once, not when its token expires. PublishAccounts tells
// the realtime gateways, which close its websockets.
func (a *API) SetUsers(users []auth.User) {
	a.users.Store(&accounts{list: users, fp: auth.Fingerprints(users)})
}

// PublishAccounts publishes the accounts to Redis for the realtime
// gateways (redisstore.PutAccounts).
func (a *API) PublishAccounts(ctx context.Context) error {
	return a.store.PutAccounts(ctx, a.users.Load().fp)
}

// Register adds the routes to r.
func (a *API) Register(r fiber.Router) {
	r.Get("/api/v1/incidents", a.listIncidents)
	r.Get("/api/v1/incidents/:id", a.getIncident)
	r.Get("/api/v1/incidents/:id/situation", a.situation)
	r.Get("/api/v1/stats/summary", a.summary)
	r.Get("/api/v1/stats/kpi", a.kpis)
	r.Get("/api/v1/stats/trend", a.trend)
	r.Get("/api/v1/alerts", a.alerts)
	r.Get("/api/v1/categories", a.categories)
	r.Get("/api/v1/gis/layers", a.layerNames)
	r.Get("/api/v1/gis/layers/:name", a.layer)
	r.Get("/api/v1/gis/locate", a.locate)
	r.Get("/api/v1/auth/info", a.authInfo)
	r.Post("/api/v1/auth/login", a.login)
	r.Post("/api/v1/auth/ws-ticket", a.wsTicket)
	r.Get("/api/v1/tasks", a.listTasks)
	r.Get("/api/v1/tasks/:id", a.getTask)
	r.Get("/api/v1/tasks/:id/suggestions", a.suggestions)
	r.Post("/api/v1/tasks/:id/:action", a.command)
	r.Post("/api/v1/workers/position", a.position)
	r.Get("/api/v1/console/workers", a.consoleWorkers)
	r.Post("/api/v1/media", a.uploadMedia)
	r.Get("/api/v1/media/:id", a.getMedia)
	r.Get("/api/v1/wall/mode", a.getWallMode)
	r.Put("/api/v1/wall/mode", a.putWallMode)
	r.Get("/api/v1/openapi.json", func(c *fiber.Ctx) error {
		c.Set("Content-Type", "application/json")
		return c.Send(OpenAPI)
	})
}

// OpenAPI is the OpenAPI 3 description of the whole HTTP API; a test in
// package app checks it against the routes.
//
//go:embed openapi.json
var OpenAPI []byte

// Problem is the body of every error answer.
type Problem struct {
	Error  string        `json:"error"`
	Errors []FieldReason `json:"errors,omitempty"`
	// Code names a condition a client acts on (CodeRestoring), beside the
	// reason in Error.
	Code string `json:"code,omitempty"`
	// Progress is the rebuild's, with CodeRestoring (when recorded).
	Progress *redisstore.RebuildProgress `json:"progress,omitempty"`
}

// CodeRestoring: the projections are being rebuilt from the event log
// (503 with Retry-After); intake goes on, reads and commands wait.
const CodeRestoring = "restoring"

// FieldReason names a bad field.
type FieldReason struct {
	Field  string `json:"field"`
	Reason string `json:"reason"`
}

func bad(c *fiber.Ctx, status int, field, reason string) error {
	return c.Status(status).JSON(Problem{Error: field + ": " + reason, Errors: []FieldReason{{field, reason}}})
}

func (a *API) listIncidents(c *fiber.Ctx) error {
	if _, err := a.caller(c, true); err != nil {
		return err
	}
	q := redisstore.Query{Limit: 100}
	if v := c.Query("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 5000 {
			return bad(c, fiber.StatusBadRequest, "limit", "want an integer 1 … 5000")
		}
		q.Limit = n
	}
	if v := c.Query("offset"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return bad(c, fiber.StatusBadRequest, "offset", "want an integer ≥ 0")
		}
		q.Offset = n
	}
	state := c.Query("state")
	switch state {
	case "", "all":
	case "open":
		q.OpenOnly = true
	default:
		if !event.State(state).Valid() {
			return bad(c, fiber.StatusBadRequest, "state", "want open, all or a case state (received, dispatched, …)")
		}
	}
	f := filter{state: state, source: c.Query("source"), category: c.Query("category"), town: c.Query("town"), q: strings.TrimSpace(c.Query("q")), overdue: c.Query("overdue") == "true"}
	if f.state == "open" || f.state == "all" {
		f.state = ""
	}
	if !f.any() {
		items, total, err := a.store.Incidents(c.UserContext(), q)
		if err != nil {
			return err
		}
		return c.JSON(fiber.Map{"items": items, "total": total, "offset": q.Offset, "limit": q.Limit})
	}
	// Filtered: over the cached cases (the most recently updated ones).
	cases, err := a.cases(c.UserContext())
	if err != nil {
		return err
	}
	now := time.Now()
	var out []event.Incident
	for _, cs := range cases {
		if (q.OpenOnly && !cs.Incident.State.Open()) || !f.match(cs.Incident, now) {
			continue
		}
		out = append(out, cs.Incident)
	}
	total := len(out)
	out = out[min(q.Offset, total):min(q.Offset+q.Limit, total)]
	if out == nil {
		out = []event.Incident{}
	}
	return c.JSON(fiber.Map{"items": out, "total": total, "offset": q.Offset, "limit": q.Limit})
}

// filter selects incidents for the queue: by state, source, category code,
// town code, overdue, and text (title, address, description, place names).
type filter struct {
	state, source, category, town, q string
	overdue                          bool
}

func (f filter) any() bool {
	return f.state != "" || f.source != "" || f.category != "" || f.town != "" || f.q != "" || f.overdue
}

func (f filter) match(inc event.Incident, now time.Time) bool {
	if (f.state != "" && string(inc.State) != f.state) || (f.category != "" && inc.Category != f.category) ||
		(f.town != "" && inc.Place.Town.Code != f.town) || (f.source != "" && inc.Sources[event.Source(f.source)] == 0) {
		return false
	}
	if f.overdue && (inc.Task == nil || !inc.State.Open() || !now.After(inc.Task.Deadline)) {
		return false
	}
	if f.q != "" {
		text := inc.Title + " " + inc.Address + " " + inc.Description + " " + inc.CategoryName + " " + inc.Place.Town.Name + " " + inc.Place.Village.Name + " " + inc.ID
		if !strings.Contains(text, f.q) {
			return false
		}
	}
	return true
}

func (a *API) getIncident(c *fiber.Ctx) error {
	cl, err := a.caller(c, true)
	if err != nil {
		return err
	}
	// ?reports=n: the first report and the latest n-1 (a storm of calls
	// fuses hundreds; the console shows 20 until asked for all).
	limit := 0
	if q := c.Query("reports"); q != "" {
		if limit, err = strconv.Atoi(q); err != nil || limit < 1 {
			return bad(c, fiber.StatusBadRequest, "reports", "how many reports to return: a number ≥ 1")
		}
	}
	mode, ok := timelineMode(c)
	if !ok {
		return badTimeline(c)
	}
	id := c.Params("id")
	inc, err := a.store.Incident(c.UserContext(), id)
	if errors.Is(err, redisstore.ErrNotFound) {
		return bad(c, fiber.StatusNotFound, "id", "no incident "+id)
	}
	if err != nil {
		return err
	}
	tl, err := a.store.Timeline(c.UserContext(), id)
	if err != nil {
		return err
	}
	b, err := json.Marshal(inc)
	if err != nil {
		return err
	}
	var out map[string]any
	_ = json.Unmarshal(b, &out)
	out["timeline"] = timelineFor(cl, tl, mode)
	reports, total, err := a.store.FirstAndLatestReports(c.UserContext(), inc, limit)
	if err != nil {
		return err
	}
	out["reports_total"] = total
	for i := range reports {
		// Personal data: only dispatchers and admins see who called, and
		// the numbers the caller gave in the text.
		if r := &reports[i]; !seesPersonalData(cl) {
			r.Reporter = r.Reporter.Masked()
			r.Title, r.Description = r.PublicText(r.Title), r.PublicText(r.Description)
		}
		reports[i].Nearby, reports[i].AffectedGrids = nil, nil
	}
	out["reports"] = reports
	return c.JSON(out)
}

func (a *API) summary(c *fiber.Ctx) error {
	if _, err := a.caller(c, true); err != nil {
		return err
	}
	st, err := a.store.Stats(c.UserContext(), time.Now())
	if err != nil {
		return err
	}
	return c.JSON(st)
}

// alerts answers the recent SLA warnings, overdue alerts and escalations.
func (a *API) alerts(c *fiber.Ctx) error {
	if _, err := a.caller(c, true); err != nil {
		return err
	}
	items, err := a.store.Alerts(c.UserContext(), 200)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"items": items})
}

func (a *API) categories(c *fiber.Ctx) error {
	type cat struct {
		Code       string   `json:"code"`
		Name       string   `json:"name"`
		NameEn     string   `json:"name_en"`
		Family     string   `json:"family"`
		Department string   `json:"department"`
		Severity   int      `json:"severity"`
		AllowedH   float64  `json:"allowed_hours"`
		Aliases    []string `json:"aliases"`
		Patrol     bool     `json:"patrol"` // a grid worker reports it from the field
	}
	var out []cat
	for _, t := range taxonomy.All() {
		out = append(out, cat{t.Code, t.Name, t.NameEn, t.Family, t.Department, t.Severity, t.Allowed.Hours(), t.Aliases, t.OnPatrol()})
	}
	return c.JSON(fiber.Map{"items": out})
}

func (a *API) layerNames(c *fiber.Ctx) error {
	return c.JSON(fiber.Map{"layers": a.city.LayerNames(), "meta": a.city.Meta()})
}

func (a *API) layer(c *fiber.Ctx) error {
	name := c.Params("name")
	b, ok := a.city.Layer(name)
	if !ok {
		return bad(c, fiber.StatusNotFound, "name", fmt.Sprintf("no layer %q; layers: %s", name, strings.Join(a.city.LayerNames(), ", ")))
	}
	c.Set("Cache-Control", "public, max-age=3600")
	c.Set("ETag", fmt.Sprintf(`"%s-%d"`, name, len(b)))
	if c.Get("If-None-Match") == fmt.Sprintf(`"%s-%d"`, name, len(b)) {
		return c.SendStatus(fiber.StatusNotModified)
	}
	c.Set("Content-Type", "application/geo+json")
	return c.Send(b)
}

func (a *API) locate(c *fiber.Ctx) error {
	lon, err1 := strconv.ParseFloat(c.Query("lon"), 64)
	lat, err2 := strconv.ParseFloat(c.Query("lat"), 64)
	if err1 != nil || err2 != nil {
		return bad(c, fiber.StatusBadRequest, "lon", "lon and lat are required decimal degrees")
	}
	sys, err := crs.Parse(c.Query("crs"))
	if err != nil {
		return bad(c, fiber.StatusBadRequest, "crs", err.Error())
	}
	p := orb.Point{lon, lat}
	if lon < -180 || lon > 180 || lat < -90 || lat > 90 || lon != lon || lat != lat {
		return bad(c, fiber.StatusBadRequest, "lon", "out of range")
	}
	w := crs.ToWGS84(p, sys)
	place, err := a.city.Locate(w)
	if errors.Is(err, gis.ErrOutside) {
		return bad(c, fiber.StatusNotFound, "lon", "outside the service area")
	}
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"wgs84": map[string]float64{"lon": w[0], "lat": w[1]}, "place": place})
}

func (a *API) login(c *fiber.Ctx) error {
	var in struct {
		Username string `json:"username"`
		Password string `json:"password"`
	}
	if err := json.Unmarshal(c.Body(), &in); err != nil {
		return bad(c, fiber.StatusBadRequest, "body", "want JSON {username, password}")
	}
	if len(in.Username) > maxUsername {
		return bad(c, fiber.StatusBadRequest, "username", fmt.Sprintf("longer than %d bytes", maxUsername))
	}
	ctx := c.UserContext()
	who := strings.ToLower(strings.TrimSpace(in.Username))
	n, left, err := a.store.LoginAttempt(ctx, who, loginWindow)
	if err != nil {
		a.log.Warn("login: attempts cannot be counted now, not limiting", "err", err)
	}
	if n > loginFailures {
		c.Set("Retry-After", strconv.Itoa(max(1, int(math.Ceil(left.Seconds())))))
		return bad(c, fiber.StatusTooManyRequests, "username", fmt.Sprintf("too many failed logins for this user: try again in %d minutes", max(1, int(math.Ceil(left.Minutes())))))
	}
	claims, ok := auth.Login(a.users.Load().list, in.Username, in.Password)
	if !ok {
		return bad(c, fiber.StatusUnauthorized, "password", "unknown user or wrong password")
	}
	if err == nil {
		if err := a.store.LoginSucceeded(ctx, who); err != nil {
			a.log.Warn("login: a successful login still counted as an attempt", "err", err)
		}
	}
	tok, err := a.issuer.Sign(claims)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"token": tok, "role": claims.Role, "name": claims.Name, "scope": claims.Scope})
}

// authInfo tells the login forms how this server signs people in: whether
// the demo accounts (whose passwords the README publishes) are on — the
// forms show them as a hint only then — and whether the wall may watch
// without logging in.
func (a *API) authInfo(c *fiber.Ctx) error {
	return c.JSON(fiber.Map{"demo_accounts": a.demo, "anonymous_viewer": a.anonymous})
}

// Failed logins per username: after loginFailures within loginWindow the
// account's logins are refused (429, Retry-After) until the window ends,
// whatever the client's address — guessing a password is slower than the
// window allows, from one address or many. Successful logins do not count.
// The count is kept in Redis, so every api instance shares it; while Redis
// cannot be reached logins are not limited (and say so in the log): a
// Redis outage stops far more than logins, and locking everyone out on top
// of it would not help the city.
const (
	loginFailures = 10
	loginWindow   = 5 * time.Minute
	maxUsername   = 128
)

// wsTicket issues a one-time, 30-second websocket ticket for the caller.
func (a *API) wsTicket(c *fiber.Ctx) error {
	claims, err := a.caller(c, a.anonymous)
	if err != nil {
		return err
	}
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return err
	}
	ticket := hex.EncodeToString(b)
	raw, _ := json.Marshal(claims)
	if err := a.store.PutTicket(c.UserContext(), ticket, raw, 30*time.Second); err != nil {
		return err
	}
	return c.JSON(fiber.Map{"ticket": ticket, "expires_in": 30})
}

// seesPersonalData: only dispatchers and admins see who called, their
// numbers and those written into the texts (RELIABILITY.md, security).
func seesPersonalData(cl auth.Claims) bool {
	return cl.Role == auth.Dispatcher || cl.Role == auth.Admin
}

// timelineFor returns an incident's timeline as cl may read it and as
// asked (?timeline=, see timelineMode): the notes and reasons written by
// workers and dispatchers with personal numbers masked (event.MaskText)
// for everyone but dispatchers and admins.
func timelineFor(cl auth.Claims, tl []redisstore.AuditEntry, mode string) []redisstore.AuditEntry {
	switch mode {
	case "none":
		return []redisstore.AuditEntry{}
	case "folded":
		tl = foldReports(tl)
	}
	if tl == nil {
		return []redisstore.AuditEntry{}
	}
	if seesPersonalData(cl) {
		return tl
	}
	for i := range tl {
		tl[i].Note, tl[i].Reason = event.MaskText(tl[i].Note), event.MaskText(tl[i].Reason)
	}
	return tl
}

// timelineMode reads ?timeline=: all (the default: every entry, the audit
// trail), folded (each run of reports fused in as its latest entry with
// repeats — a storm of calls is hundreds of add_report entries, which the
// screens show as one line ×n anyway) or none (callers that want the
// rest: the console's action list). Not ok: answer with badTimeline.
func timelineMode(c *fiber.Ctx) (mode string, ok bool) {
	switch m := c.Query("timeline", "all"); m {
	case "all", "folded", "none":
		return m, true
	}
	return "", false
}

func badTimeline(c *fiber.Ctx) error {
	return bad(c, fiber.StatusBadRequest, "timeline", "want all, folded or none")
}

// foldReports folds each run of two or more reports fused in (add_report,
// not refused) into the run's latest entry, with Repeats the run's length.
func foldReports(tl []redisstore.AuditEntry) []redisstore.AuditEntry {
	added := func(e redisstore.AuditEntry) bool { return e.Action == "add_report" && e.Outcome != "refused" }
	out := make([]redisstore.AuditEntry, 0, len(tl))
	for _, e := range tl {
		if n := len(out); n > 0 && added(e) && added(out[n-1]) {
			e.Repeats = max(out[n-1].Repeats, 1) + 1
			out[n-1] = e
			continue
		}
		out = append(out, e)
	}
	return out
}

// caller authenticates the request. Without a token it is an anonymous
// viewer when allowAnon, else the error is a 401 for the error handler.
func (a *API) caller(c *fiber.Ctx, allowAnon bool) (auth.Claims, error) {
	h := c.Get("Authorization")
	tok, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || tok == "" {
		if allowAnon {
			return auth.Claims{Subject: "anonymous", Role: auth.Viewer}, nil
		}
		return auth.Claims{}, fiber.NewError(fiber.StatusUnauthorized, "Authorization: a Bearer token is required (POST /api/v1/auth/login)")
	}
	claims, err := a.issuer.Verify(tok)
	if err != nil {
		return auth.Claims{}, fiber.NewError(fiber.StatusUnauthorized, "Authorization: "+err.Error())
	}
	fp, ok := a.users.Load().fp[claims.Subject]
	if !ok {
		return auth.Claims{}, fiber.NewError(fiber.StatusUnauthorized, "Authorization: the account "+claims.Subject+" no longer exists")
	}
	if claims.Account != fp {
		return auth.Claims{}, fiber.NewError(fiber.StatusUnauthorized, "Authorization: the account "+claims.Subject+" has changed since this token was issued: log in again")
	}
	return claims, nil
}

// Health reports readiness of the parts a process depends on.
type Health struct {
	Checks map[string]func(ctx context.Context) error
}

// Register adds /livez and /readyz.
func (h Health) Register(r fiber.Router) {
	r.Get("/livez", func(c *fiber.Ctx) error { return c.JSON(fiber.Map{"status": "ok"}) })
	r.Get("/readyz", func(c *fiber.Ctx) error {
		ctx, cancel := context.WithTimeout(c.UserContext(), 2*time.Second)
		defer cancel()
		out := map[string]string{}
		status := fiber.StatusOK
		for name, check := range h.Checks {
			if err := check(ctx); err != nil {
				out[name] = err.Error()
				status = fiber.StatusServiceUnavailable
			} else {
				out[name] = "ok"
			}
		}
		return c.Status(status).JSON(fiber.Map{"checks": out})
	})
}
