// Package pprofsrv serves Go's runtime profiles (net/http/pprof) on a
// loopback address of their own, when PPROF asks for it (off by default).
// They are kept off the public HTTP port: a profile shows the program's
// internals and a CPU profile costs CPU while it runs, so only an operator
// on the host (or a benchmark, scripts/cluster/bench -allinone -pprof)
// should reach them.
package pprofsrv

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"
)

// Handler is the /debug/pprof/ tree on a mux of its own (not
// http.DefaultServeMux, which any imported package may add to).
func Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

// Serve listens on addr until ctx ends.
func Serve(ctx context.Context, addr string, log *slog.Logger) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("pprof listen %s: %w", addr, err)
	}
	// Profiles run for their ?seconds=; no write timeout that would cut them.
	srv := &http.Server{Handler: Handler(), ReadHeaderTimeout: 10 * time.Second}
	log.Info("pprof serving", "addr", ln.Addr().String())
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
