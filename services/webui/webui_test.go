package webui

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"
)

// The phone app's PWA files are served as files with their types and
// headers; other paths below /m are pages of the app.
func TestPWAFiles(t *testing.T) {
	if !Built() {
		t.Skip("UI not built (make web)")
	}
	app := fiber.New()
	Register(app)
	for path, want := range map[string]string{
		"/m/sw.js":                "text/javascript",
		"/m/manifest.webmanifest": "application/manifest+json",
		"/m/icon-192.png":         "image/png",
		"/m/task/INC-1":           "text/html",
		"/m/../wall":              "text/html",
	} {
		resp, err := app.Test(httptest.NewRequest("GET", path, nil))
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), want) {
			t.Errorf("%s: %d %q, want %s", path, resp.StatusCode, resp.Header.Get("Content-Type"), want)
		}
		if path == "/m/sw.js" && (resp.Header.Get("Service-Worker-Allowed") != "/m/" || resp.Header.Get("Cache-Control") != "no-cache") {
			t.Errorf("sw.js headers: %v", resp.Header)
		}
	}
}
