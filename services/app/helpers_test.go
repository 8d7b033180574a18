package app

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/citybrain-ioc/citybrain/services/config"
)

// openAll opens the Deps of an all-in-one process (embedded broker and
// Redis; env is its environment, DATA_DIR a temporary directory unless env
// gives one) and builds its HTTP app; the Deps are closed when the test
// ends.
func openAll(t *testing.T, env map[string]string) (*Deps, *fiber.App) {
	t.Helper()
	full := map[string]string{"DATA_DIR": t.TempDir()}
	for k, v := range env {
		full[k] = v
	}
	cfg, err := config.Load(func(k string) string { return full[k] })
	if err != nil {
		t.Fatal(err)
	}
	d, err := Open(t.Context(), cfg, Discard)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	fapp, err := d.HTTP("all", prometheus.NewRegistry(), func(context.Context) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	return d, fapp
}

// call sends one JSON request to fapp (with a bearer token unless "") and
// returns the status, the body and the headers of the answer.
func call(t *testing.T, fapp *fiber.App, method, path, token, body string) (int, string, http.Header) {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := fapp.Test(req, 10000)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}
