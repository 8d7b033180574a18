package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"

	"github.com/citybrain-ioc/citybrain/services/realtime"
	"github.com/citybrain-ioc/citybrain/services/redisstore"
)

// serve runs a gateway the way services/app wires it (-target=realtime):
// realtime.New on a redisstore, /ws and /metrics on a net/http mux. It adds
// /debug/mem, which collects garbage and reports the Go runtime's memory
// and the process's RSS, so the driver can measure memory per connection.
// It prints "listening <addr>" once it accepts connections and stops on
// SIGINT/SIGTERM.
func serve(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	redisAddr := fs.String("redis", "127.0.0.1:6379", "Redis address")
	prefix := fs.String("prefix", "", "Redis key prefix (REDIS_PREFIX)")
	addr := fs.String("addr", "127.0.0.1:0", "listen address")
	profileRate := fs.Int("memprofilerate", 0, "runtime.MemProfileRate (1 records every allocation; 0 keeps the default)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *profileRate > 0 {
		runtime.MemProfileRate = *profileRate
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	rdb := redis.NewClient(&redis.Options{Addr: *redisAddr})
	defer func() { _ = rdb.Close() }()
	store := redisstore.New(rdb, *prefix, time.Local)

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	gw := realtime.New(store, nil, reg, log)
	mux := http.NewServeMux()
	mux.Handle("/ws", gw)
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/debug/mem", memHandler)
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 60 * time.Second, IdleTimeout: 120 * time.Second, MaxHeaderBytes: 64 << 10}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	fmt.Println("listening", ln.Addr().String())

	errc := make(chan error, 2)
	gctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { errc <- gw.Run(gctx) }()
	go func() {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			errc <- err
		}
	}()
	select {
	case <-ctx.Done():
	case err := <-errc:
		return err
	}
	cancel()
	sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer scancel()
	_ = srv.Shutdown(sctx)
	return <-errc
}

// memHandler reports memory after a full collection (?gc=0 skips it, for
// cheap samples under load): heap_inuse + stack_inuse is what the Go
// runtime holds for live data and goroutine stacks; rss is what the kernel
// counts for the process.
func memHandler(w http.ResponseWriter, r *http.Request) {
	if r.URL.Query().Get("gc") != "0" {
		runtime.GC()
		runtime.GC()
		debug.FreeOSMemory()
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	w.Header().Set("Content-Type", "application/json")
	_, _ = fmt.Fprintf(w, `{"heap_inuse":%d,"stack_inuse":%d,"heap_alloc":%d,"sys":%d,"rss":%d,"goroutines":%d}`,
		ms.HeapInuse, ms.StackInuse, ms.HeapAlloc, ms.Sys-ms.HeapReleased, rss(), runtime.NumGoroutine())
}

// rss reads the resident set size from /proc (0 elsewhere).
func rss() uint64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, _ := strconv.ParseUint(f[1], 10, 64)
	return pages * uint64(os.Getpagesize())
}
