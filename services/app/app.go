// Package app wires the services into a process: it starts the embedded
// broker and Redis when no servers are configured, creates the topics, and
// runs the components of one target (all, ingest, enricher, dispatcher,
// realtime, api) together until the context ends.
package app

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/gofiber/fiber/v2/middleware/limiter"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/errgroup"

	"github.com/citybrain-ioc/citybrain/gis"
	"github.com/citybrain-ioc/citybrain/gis/sample"
	"github.com/citybrain-ioc/citybrain/services/api"
	"github.com/citybrain-ioc/citybrain/services/auth"
	"github.com/citybrain-ioc/citybrain/services/config"
	"github.com/citybrain-ioc/citybrain/services/dispatch"
	"github.com/citybrain-ioc/citybrain/services/embedded"
	"github.com/citybrain-ioc/citybrain/services/enrich"
	"github.com/citybrain-ioc/citybrain/services/event"
	"github.com/citybrain-ioc/citybrain/services/ingest"
	"github.com/citybrain-ioc/citybrain/services/kafkabus"
	"github.com/citybrain-ioc/citybrain/services/media"
	"github.com/citybrain-ioc/citybrain/services/open311"
	"github.com/citybrain-ioc/citybrain/services/playback"
	"github.com/citybrain-ioc/citybrain/services/pprofsrv"
	"github.com/citybrain-ioc/citybrain/services/projection"
	"github.com/citybrain-ioc/citybrain/services/realtime"
	"github.com/citybrain-ioc/citybrain/services/redisstore"
	"github.com/citybrain-ioc/citybrain/services/routing"
	"github.com/citybrain-ioc/citybrain/services/taxonomy"
	"github.com/citybrain-ioc/citybrain/services/wallmode"
	"github.com/citybrain-ioc/citybrain/services/webui"
)

// Targets are the services a process can run; "all" runs every one.
var Targets = []string{"all", "ingest", "enricher", "dispatcher", "realtime", "api"}

// Consumer group ids.
const (
	groupEnricher   = "citybrain-enricher"
	groupDispatcher = "citybrain-dispatcher"
	groupProjector  = "citybrain-projector"
)

// Deps are the connections a process holds; Close releases them in order.
type Deps struct {
	Cfg      config.Config
	Brokers  []string
	Topics   kafkabus.Topics
	Producer *kafkabus.Producer
	Redis    *redis.Client
	Store    *redisstore.Store
	City     *gis.City
	Routing  *routing.Watcher
	Log      *slog.Logger

	accounts      *accountsFile    // the api's accounts: USERS_FILE, reloaded when it changes, and published
	embeddedRedis *embedded.Redis  // nil with REDIS_ADDR
	snapMetrics   *snapshotMetrics // its snapshot's (Run)
	closers       []func()
}

// accountsFile is the users file the api reloads when it changes (none
// without USERS_FILE), and how it publishes the accounts.
type accountsFile struct {
	modTime   time.Time
	set       func([]auth.User)               // the API's SetUsers
	publish   func(ctx context.Context) error // the API's PublishAccounts
	published bool                            // by this instance, since its accounts last changed
}

// Open connects to (or starts) Kafka and Redis and loads the city.
func Open(ctx context.Context, cfg config.Config, log *slog.Logger) (*Deps, error) {
	d := &Deps{Cfg: cfg, Log: log, Topics: kafkabus.Topics{Prefix: cfg.TopicPrefix}, Brokers: cfg.KafkaBrokers}
	if cfg.Embedded() {
		if cfg.DataDir != "" {
			unlock, err := embedded.LockDataDir(cfg.DataDir)
			if err != nil {
				return nil, err
			}
			d.closers = append(d.closers, unlock)
		}
		k, err := embedded.StartKafka(cfg.DataDir, cfg.EmbeddedKafkaPort, cfg.EmbeddedKafkaSync)
		if err != nil {
			d.Close()
			return nil, err
		}
		d.closers = append(d.closers, k.Close)
		d.Brokers = k.Brokers()
		log.Info("embedded kafka-protocol broker started", "addr", d.Brokers, "data_dir", cfg.DataDir)
	}
	opts := &redis.Options{Addr: cfg.RedisAddr, PoolSize: 64, MaxRetries: 3}
	if cfg.RedisAddr == "" {
		r, err := embedded.StartRedis()
		if err != nil {
			d.Close()
			return nil, err
		}
		d.closers = append(d.closers, r.Close)
		d.embeddedRedis = r
		opts.Addr = r.Addr()
		opts.Dialer = func(context.Context, string, string) (net.Conn, error) { return r.Dial() }
		log.Info("embedded redis started (projections are restored from its snapshot or rebuilt from kafka)", "addr", opts.Addr)
	}
	d.Redis = redis.NewClient(opts)
	d.closers = append(d.closers, func() { _ = d.Redis.Close() })
	d.Store = redisstore.New(d.Redis, cfg.RedisPrefix, cfg.TimeZone)
	if cfg.RedisAddr == "" {
		d.Store.WithStreamMaxLen(redisstore.EmbeddedStreamMaxLen).WithPositionStreamMaxLen(redisstore.EmbeddedPositionStreamMaxLen).WithLocalWakeups() // miniredis: see there
	}
	var err error
	if cfg.GISDir != "" {
		d.City, err = gis.Load(os.DirFS(cfg.GISDir))
	} else {
		d.City, err = sample.Load()
	}
	if err != nil {
		d.Close()
		return nil, fmt.Errorf("load city: %w", err)
	}
	if d.Routing, err = routing.NewWatcher(cfg.RoutingFile, cfg.TimeZone); err != nil {
		d.Close()
		return nil, err
	}
	d.Producer = kafkabus.NewProducer(d.Brokers)
	d.closers = append(d.closers, func() { _ = d.Producer.Close() })
	return d, nil
}

// EnsureTopics creates the topics, waiting for Kafka up to a minute.
func (d *Deps) EnsureTopics(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	var srcs []string
	for _, s := range event.Sources {
		srcs = append(srcs, string(s))
	}
	if err := kafkabus.EnsureTopics(ctx, d.Brokers, d.Cfg.Partitions, d.Cfg.ReplicationFactor, d.Topics.All(srcs)); err != nil {
		return err
	}
	return kafkabus.CheckCopartitioned(ctx, d.Brokers, d.Topics.Events(), d.Topics.Commands())
}

// Close releases everything: the producer is flushed before Redis and the
// embedded servers stop.
func (d *Deps) Close() {
	for i := len(d.closers) - 1; i >= 0; i-- {
		d.closers[i]()
	}
}

// Run runs one target until ctx ends.
func Run(ctx context.Context, cfg config.Config, target string, log *slog.Logger) error {
	if !validTarget(target) {
		return fmt.Errorf("unknown target %q (want one of %s)", target, strings.Join(Targets, ", "))
	}
	if cfg.Embedded() && target != "all" {
		return errors.New("KAFKA_BROKERS is required for a single-service target; only -target=all runs the embedded broker")
	}
	d, err := Open(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.EnsureTopics(ctx); err != nil {
		return err
	}
	has := func(t string) bool { return target == "all" || target == t }

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	busMetrics := kafkabus.NewMetrics(reg)
	if has("dispatcher") || has("api") {
		reg.MustRegister(newRestoringCollector(d.Store))
	}
	instance := cfg.InstanceID
	if instance == "" {
		h, _ := os.Hostname()
		instance = fmt.Sprintf("%s-%d", h, os.Getpid())
	}

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { d.watchRouting(gctx); return nil })
	if cfg.Embedded() {
		g.Go(func() error { tuneGC(gctx); return nil })
	}
	if cfg.PprofAddr != "" {
		g.Go(func() error { return pprofsrv.Serve(gctx, cfg.PprofAddr, log) })
	}
	// Every consumer that reads the projections checks, before each batch
	// and before publishing its decisions, that Redis still holds them; a
	// flushed or replaced Redis is rebuilt from Kafka first (one instance
	// rebuilds, the others wait), so nobody decides on an empty store.
	ready := d.Store.Built
	keep := time.Duration(cfg.ReadModelDays) * 24 * time.Hour // the read model's retention
	rebuild := func(ctx context.Context) error {
		return projection.EnsureBuilt(ctx, d.Store, d.Brokers, d.Topics.Tasks(), keep, instance, log)
	}
	// The all-in-one process snapshots its embedded Redis: the consumers
	// that write the projections and the pruning hold gate for reading, the
	// snapshot for writing (snapshot.go).
	var gate *sync.RWMutex
	snapshots := d.embeddedRedis != nil && target == "all"
	if snapshots {
		gate = &sync.RWMutex{}
		d.snapMetrics = newSnapshotMetrics(reg)
		d.restoreSnapshot(ctx, keep) // before anyone finds the store empty and rebuilds it
		g.Go(func() error { d.snapshotEvery(gctx, gate); return nil })
	}
	var consumers []*kafkabus.Consumer
	consume := func(group string, topics []string, p kafkabus.Processor) {
		healthy := func(ctx context.Context) error {
			ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			defer cancel()
			if err := d.Store.Ping(ctx); err != nil {
				return err
			}
			return kafkabus.Ping(ctx, d.Brokers)
		}
		c := kafkabus.NewConsumer(kafkabus.ConsumerConfig{Brokers: d.Brokers, GroupID: d.Topics.Prefix + group, Topics: topics, Healthy: healthy, Gate: gate}, d.Producer, d.Topics.DLQ(), busMetrics, log)
		consumers = append(consumers, c)
		g.Go(func() error { return c.RunBatch(gctx, p) })
	}
	if has("enricher") {
		var raws []string
		for _, s := range event.Sources {
			raws = append(raws, d.Topics.Raw(string(s)))
		}
		e := enrich.New(d.City, d.Store, d.Producer, d.Topics, cfg.TimeZone, log.With("service", "enricher")).WithRules(d.Routing.Rules)
		consume(groupEnricher, raws, kafkabus.Guarded(e, ready, rebuild))
	}
	if has("dispatcher") {
		// The projections must exist before the SLA scan and the pruning
		// look at them (the consumers wait by themselves: Guarded). The
		// process listens at once and rebuilds them behind (when there is
		// no snapshot to start from, a long history takes minutes): its
		// liveness passes and its readiness says it is rebuilding, so no
		// probe restarts it in the middle; all-in-one, intake goes on and
		// the API answers 503 with the reason meanwhile (whileRebuilding).
		modes := wallmode.New(d.Store, d.Producer, d.Topics.WallMode())
		disp := dispatch.New(d.Store, d.Producer, d.Topics, d.Routing.Rules, log.With("service", "dispatcher")).WithModes(modes)
		consume(groupDispatcher, []string{d.Topics.Events(), d.Topics.Commands()}, kafkabus.Guarded(disp, ready, rebuild))
		proj := projection.New(d.Store, log.With("service", "projector")).WithModes(modes)
		consume(groupProjector, []string{d.Topics.Tasks()}, kafkabus.Guarded(proj, ready, rebuild))
		sla := dispatch.NewSLA(d.Store, d.Producer, d.Topics, log.With("service", "sla"))
		g.Go(func() error {
			if err := rebuild(gctx); err != nil {
				if gctx.Err() != nil {
					return nil
				}
				return fmt.Errorf("rebuild projections: %w", err)
			}
			g.Go(func() error {
				projection.Prune(gctx, d.Store, keep, gate, log.With("service", "projector"))
				return nil
			})
			return sla.Run(gctx)
		})
	}

	fapp, err := d.HTTP(target, reg, func(ctx context.Context) error {
		var stalled []string
		for _, c := range consumers {
			if c.Stalled() {
				stalled = append(stalled, c.Group())
			}
		}
		if len(stalled) > 0 {
			return fmt.Errorf("no progress for %v while records wait: %s", kafkabus.StallAfter, strings.Join(stalled, ", "))
		}
		if has("dispatcher") {
			if busy, prog, err := d.Store.Restoring(ctx); err == nil && busy {
				if prog != nil {
					return fmt.Errorf("the projections are being rebuilt from kafka: %s", prog)
				}
				return errors.New("the projections are being rebuilt from kafka")
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if d.accounts != nil {
		g.Go(func() error { d.watchAccounts(gctx); return nil })
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	if has("realtime") {
		gw := realtime.New(d.Store, cfg.AllowedOrigins, reg, log.With("service", "realtime"))
		mux.Handle("/ws", gw)
		g.Go(func() error { return gw.Run(gctx) })
		pb := playback.New(gctx, gw, d.Brokers, d.Topics.Tasks(), log.With("service", "playback"))
		defer pb.Wait()
		mux.Handle("/ws/playback", pb)
	}
	mux.Handle("/", limitBody(adaptor.FiberApp(fapp), int64(cfg.BodyLimit), int64(mediaBodyLimit(cfg))))

	srv := &http.Server{Addr: cfg.HTTPAddr, Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 60 * time.Second, IdleTimeout: 120 * time.Second, MaxHeaderBytes: 64 << 10}
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", cfg.HTTPAddr, err)
	}
	log.Info("citybrain started", "target", target, "http", ln.Addr().String(), "instance", instance)
	g.Go(func() error {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
	g.Go(func() error {
		<-gctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			// Requests still running after 5 s (a client holding a slow
			// request open) are cut: the process is stopping either way,
			// and intake answers only after Kafka acknowledged, so a cut
			// request is one the client retries, not one lost.
			log.Warn("http shutdown: closing connections still busy", "err", err)
			return srv.Close()
		}
		return nil
	})
	err = waitWithDeadline(ctx, g, 20*time.Second)
	if snapshots && !errors.Is(err, errShutdownDeadline) {
		// Everything has stopped: nothing writes to Redis any more.
		sctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, serr := d.snapshot(sctx, gate, nil); serr != nil {
			log.Warn("embedded redis: no snapshot written, the next start rebuilds the projections from kafka", "err", serr)
		}
	}
	return err
}

// watchRouting reloads the routing file when it changes; a file that does
// not validate is logged and the last good rules stay.
func (d *Deps) watchRouting(ctx context.Context) {
	everyFewSeconds(ctx, func() {
		ok, err := d.Routing.Reload()
		switch {
		case err != nil:
			d.Log.Error("routing file not reloaded, keeping the last good rules", "file", d.Cfg.RoutingFile, "err", err)
		case ok:
			d.Log.Info("routing file reloaded", "file", d.Cfg.RoutingFile)
		}
	})
}

// watchAccounts publishes the api's accounts for the realtime gateways
// (which close the websockets of an account changed or taken out), and
// reloads the users file when it changes, as the routing file: an account
// added can log in, one taken out or changed loses its access (its token
// is refused from then on); a file that does not load is logged and the
// accounts stay as they were. It publishes at the start, after every
// reload, and again whenever Redis has lost what was published — not
// whenever Redis holds another instance's accounts: while a changed file
// reaches the api instances one after the other, they must not take turns
// overwriting each other.
func (d *Deps) watchAccounts(ctx context.Context) {
	d.refreshAccounts(ctx)
	everyFewSeconds(ctx, func() { d.refreshAccounts(ctx) })
}

// refreshAccounts is one look of watchAccounts.
func (d *Deps) refreshAccounts(ctx context.Context) {
	a := d.accounts
	if d.Cfg.UsersFile != "" {
		changed, err := d.reloadUsers()
		if err != nil {
			d.Log.Error("users file not reloaded, keeping the accounts as they were", "file", d.Cfg.UsersFile, "err", err)
		}
		a.published = a.published && !changed
	}
	if a.published {
		sum, err := d.Store.PublishedAccountsSum(ctx)
		a.published = err != nil || sum != ""
	}
	if !a.published {
		if err := a.publish(ctx); err != nil {
			d.Log.Warn("accounts not published for the realtime gateways, trying again", "err", err)
			return
		}
		a.published = true
	}
}

// everyFewSeconds calls f every 5 seconds until ctx ends: how often the
// files an operator edits (routing, users) are looked at.
func everyFewSeconds(ctx context.Context, f func()) {
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			f()
		}
	}
}

// reloadUsers loads the users file again if it changed since it was last
// read, and reports whether the accounts changed.
func (d *Deps) reloadUsers() (bool, error) {
	st, err := os.Stat(d.Cfg.UsersFile)
	if err != nil {
		return false, err
	}
	if st.ModTime().Equal(d.accounts.modTime) {
		return false, nil
	}
	d.accounts.modTime = st.ModTime()
	users, err := d.users(d.Log)
	if err != nil {
		return false, err
	}
	d.accounts.set(users)
	return true, nil
}

// authSecret is AUTH_SECRET, or in all-in-one mode a random secret kept in
// DATA_DIR so that tokens survive a restart.
func authSecret(cfg config.Config, target string, log *slog.Logger) ([]byte, error) {
	if cfg.AuthSecret != "" {
		return []byte(cfg.AuthSecret), nil
	}
	if target != "all" {
		log.Warn("AUTH_SECRET is not set: tokens from this instance are not valid on others")
		b := make([]byte, 32)
		_, _ = rand.Read(b)
		return b, nil
	}
	path := filepath.Join(cfg.DataDir, "auth.secret")
	if b, err := os.ReadFile(path); err == nil && len(b) >= 32 {
		return b, nil
	}
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return nil, fmt.Errorf("auth secret: %w", err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return nil, fmt.Errorf("auth secret: %w", err)
	}
	return b, nil
}

// HTTP builds the fiber app of a target: health endpoints always, intake
// and Open311 for ingest, the query/command API and the UI for api. The
// websocket and /metrics are served beside it on net/http (see Run).
// consumers is the readiness check of this process's consumers.
func (d *Deps) HTTP(target string, reg prometheus.Registerer, consumers func(context.Context) error) (*fiber.App, error) {
	has := func(t string) bool { return target == "all" || target == t }
	log := d.Log
	fapp := fiber.New(fiber.Config{
		// Photo uploads may be larger than other bodies; limitBody (in Run)
		// holds every other path to BodyLimit.
		AppName: "citybrain", Immutable: true, BodyLimit: max(d.Cfg.BodyLimit, mediaBodyLimit(d.Cfg)), DisableStartupMessage: true,
		ErrorHandler: errorHandler(log),
	})
	// What reads the projections waits while they are rebuilt: all in one
	// process, and in a cluster while a dispatcher rebuilds a lost Redis.
	rest := &restoring{store: d.Store}
	if has("api") || has("ingest") {
		fapp.Use("/api/v1", rest.whileRebuilding())
	}
	api.Health{Checks: map[string]func(context.Context) error{
		"kafka":     func(ctx context.Context) error { return kafkabus.Ping(ctx, d.Brokers) },
		"redis":     d.Store.Ping,
		"consumers": consumers,
		"gis": func(context.Context) error {
			if d.City == nil {
				return errors.New("not loaded")
			}
			return nil
		},
	}}.Register(fapp)
	if has("ingest") {
		fapp.Use([]string{"/api/v1/ingest", "/open311/v2/requests"}, limiter.New(limiter.Config{
			Max: d.Cfg.IngestRatePerMinute, Expiration: time.Minute,
			LimitReached: func(c *fiber.Ctx) error {
				return c.Status(fiber.StatusTooManyRequests).JSON(api.Problem{Error: "too many requests: slow down and retry after the Retry-After seconds"})
			},
		}))
		in := ingest.New(d.Producer, d.Topics, d.Store, d.City, d.Cfg.TimeZone, reg, log.With("service", "ingest"))
		in.Register(fapp)
		open311.New(in, d.Store, d.Cfg.TimeZone).WithHold(rest.hold, restoringRetryAfter).Register(fapp)
	}
	if has("api") {
		secret, err := authSecret(d.Cfg, target, log)
		if err != nil {
			return nil, err
		}
		photos, err := media.Open(d.Cfg)
		if err != nil {
			return nil, err
		}
		var modTime time.Time
		if st, err := os.Stat(d.Cfg.UsersFile); err == nil {
			modTime = st.ModTime()
		}
		users, err := d.users(log)
		if err != nil {
			return nil, err
		}
		a := api.New(d.Store, d.City, auth.NewIssuer(secret, 12*time.Hour), d.Cfg.AnonymousViewer, d.Producer, d.Topics, d.Cfg.TimeZone, d.Routing.Rules, log.With("service", "api")).
			WithMedia(photos, d.Cfg.MediaMaxBytes).WithUsers(users, d.Cfg.DemoAccounts)
		a.Register(fapp)
		d.accounts = &accountsFile{modTime: modTime, set: a.SetUsers, publish: a.PublishAccounts}
		if !webui.Built() {
			log.Warn("the web UI is not built into this binary: run make web")
		}
		webui.Register(fapp)
	}
	return fapp, nil
}

// users returns the accounts that may log in: the city's (USERS_FILE),
// then the demo ones (DEMO_ACCOUNTS) — which a real deployment must not
// keep: their passwords are in the README.
func (d *Deps) users(log *slog.Logger) ([]auth.User, error) {
	var users []auth.User
	if f := d.Cfg.UsersFile; f != "" {
		unit := func(code string) (string, bool) { u, ok := d.City.Unit(code); return u.Code, ok }
		u, err := auth.LoadUsers(f, unit)
		if err != nil {
			return nil, err
		}
		users = u
		log.Info("users loaded", "file", f, "users", len(u))
	}
	if d.Cfg.DemoAccounts {
		users = append(users, auth.DemoAccounts(d.gridCells(), departments())...)
		if !d.Cfg.Embedded() {
			log.Warn("the demo accounts are on, with the passwords the README publishes: give the city's accounts in USERS_FILE (citybrain passwd hashes a password), which turns them off")
		}
	}
	if len(users) == 0 {
		log.Warn("no accounts: nobody can log in (USERS_FILE is not set and DEMO_ACCOUNTS=false)")
	}
	return users, nil
}

// departments lists the department of every category the taxonomy has
// (the demo's duty officers, auth.DutyOfficers: one a department).
func departments() []string {
	var out []string
	for _, c := range taxonomy.All() {
		out = append(out, c.Department)
	}
	return out
}

// gridCells lists the city's grid cells with the department their worker
// belongs to: the one routing gives a grid worker's report of the most
// common patrol category (垃圾堆放) in that cell.
func (d *Deps) gridCells() []auth.GridCell {
	rules := d.Routing.Rules()
	var out []auth.GridCell
	for _, u := range d.City.Units(gis.LevelGrid) {
		place := gis.Place{}
		if info, ok := d.City.Unit(u.Code); ok {
			place, _ = d.City.Locate(info.Centre)
		}
		dept := rules.Decide(event.Event{Source: event.Grid, Category: "city.environment.garbage", Place: place}).Department
		if dept == "" {
			dept = "城市管理局"
		}
		out = append(out, auth.GridCell{Code: u.Code, Department: dept})
	}
	return out
}

// waitWithDeadline waits for the group; once ctx ends it waits at most d.
func waitWithDeadline(ctx context.Context, g *errgroup.Group, d time.Duration) error {
	done := make(chan error, 1)
	go func() { done <- g.Wait() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	select {
	case err := <-done:
		return err
	case <-time.After(d):
		return errShutdownDeadline
	}
}

var errShutdownDeadline = errors.New("shutdown deadline exceeded")

func validTarget(t string) bool {
	for _, x := range Targets {
		if x == t {
			return true
		}
	}
	return false
}

// mediaBodyLimit is the body limit of a photo upload: the photo plus room
// for a multipart envelope (the handler checks the photo's own size).
func mediaBodyLimit(cfg config.Config) int { return cfg.MediaMaxBytes + 64<<10 }

// limitBody refuses bodies over n bytes (photo uploads: over media) with 413
// before they are read.
func limitBody(h http.Handler, def, upload int64) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := def
		if r.URL.Path == "/api/v1/media" {
			n = upload
		}
		if r.ContentLength > n {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusRequestEntityTooLarge)
			_, _ = fmt.Fprintf(w, `{"error":"body: larger than %d bytes","errors":[{"field":"body","reason":"larger than %d bytes"}]}`, n, n)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, n)
		h.ServeHTTP(w, r)
	})
}

func errorHandler(log *slog.Logger) fiber.ErrorHandler {
	return func(c *fiber.Ctx, err error) error {
		code := fiber.StatusInternalServerError
		msg := "internal error"
		var fe *fiber.Error
		if errors.As(err, &fe) {
			code, msg = fe.Code, fe.Message
		} else {
			log.Error("request failed", "method", c.Method(), "path", c.Path(), "err", err)
		}
		return c.Status(code).JSON(api.Problem{Error: msg})
	}
}

// Rebuild flushes the projections and replays the tasks topic into Redis.
func Rebuild(ctx context.Context, cfg config.Config, log *slog.Logger) (int, error) {
	d, err := Open(ctx, cfg, log)
	if err != nil {
		return 0, err
	}
	defer d.Close()
	if err := d.EnsureTopics(ctx); err != nil {
		return 0, err
	}
	if err := d.Store.Flush(ctx); err != nil {
		return 0, err
	}
	return projection.Rebuild(ctx, d.Store, d.Brokers, d.Topics.Tasks(), time.Duration(cfg.ReadModelDays)*24*time.Hour, log)
}

// CreateTopics creates the topics and exits (a provisioning job).
func CreateTopics(ctx context.Context, cfg config.Config, log *slog.Logger) error {
	d := &Deps{Cfg: cfg, Log: log, Topics: kafkabus.Topics{Prefix: cfg.TopicPrefix}, Brokers: cfg.KafkaBrokers}
	if cfg.Embedded() {
		return errors.New("KAFKA_BROKERS is required")
	}
	return d.EnsureTopics(ctx)
}

// Discard is a logger that writes nothing (tests, sub-commands).
var Discard = slog.New(slog.NewTextHandler(io.Discard, nil))
