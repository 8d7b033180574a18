// Package webui serves the built front end (web-ui/, built by `make web`
// into dist/) from the binary: /wall, /console and /m are single-page
// routes of one Vite app; assets are immutable and cached.
package webui

import (
	"embed"
	"io/fs"
	"net/http"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/filesystem"
)

//go:embed dist
var dist embed.FS

// Built reports whether the UI was built into the binary.
func Built() bool {
	_, err := fs.Stat(dist, "dist/index.html")
	return err == nil
}

// pwaFiles are the phone app's files below /m/ and their types.
var pwaFiles = map[string]string{
	"sw.js":                "text/javascript; charset=utf-8",
	"manifest.webmanifest": "application/manifest+json",
	"icon.svg":             "image/svg+xml",
	"icon-192.png":         "image/png",
	"icon-512.png":         "image/png",
}

// Register serves the UI on r.
func Register(app *fiber.App) {
	sub, _ := fs.Sub(dist, "dist")
	app.Get("/", func(c *fiber.Ctx) error { return c.Redirect("/wall", fiber.StatusFound) })
	page := func(c *fiber.Ctx) error {
		b, err := fs.ReadFile(sub, "index.html")
		if err != nil {
			return c.Status(fiber.StatusServiceUnavailable).Type("html").SendString(
				`<!doctype html><meta charset="utf-8"><title>城市大脑 IOC</title><p>前端尚未构建。The UI is not built: run <code>make web</code> (or <code>make run</code>) and restart.</p>`)
		}
		c.Set("Cache-Control", "no-cache")
		return c.Type("html").Send(b)
	}
	for _, p := range []string{"/wall", "/wall/*", "/console", "/console/*", "/m"} {
		app.Get(p, page)
	}
	// Below /m, the phone app's PWA files (public/m/ and the generated sw.js)
	// are files; every other path is a page of the app.
	app.Get("/m/*", func(c *fiber.Ctx) error {
		name := c.Params("*")
		typ, ok := pwaFiles[name]
		if !ok {
			return page(c)
		}
		b, err := fs.ReadFile(sub, "m/"+name)
		if err != nil {
			return page(c)
		}
		c.Set("Content-Type", typ)
		c.Set("X-Content-Type-Options", "nosniff")
		if name == "sw.js" {
			// The browser checks for a new worker on every start: never a
			// stale one from a cache. Its scope is /m/, where it lives.
			c.Set("Cache-Control", "no-cache")
			c.Set("Service-Worker-Allowed", "/m/")
		} else {
			c.Set("Cache-Control", "public, max-age=86400")
		}
		return c.Send(b)
	})
	app.Use("/", func(c *fiber.Ctx) error {
		if strings.HasPrefix(c.Path(), "/assets/") {
			c.Set("Cache-Control", "public, max-age=31536000, immutable")
		}
		return c.Next()
	}, filesystem.New(filesystem.Config{Root: http.FS(sub), NotFoundFile: ""}))
}
