package api

import (
	"bytes"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/citybrain-ioc/citybrain/services/auth"
	"github.com/citybrain-ioc/citybrain/services/internal/testenv"
	"github.com/citybrain-ioc/citybrain/services/kafkabus"
	"github.com/citybrain-ioc/citybrain/services/media"
)

// mediaApp is the API with a disk photo store of max bytes, and a token per role.
func mediaApp(t *testing.T, max int) (*fiber.App, map[string]string) {
	t.Helper()
	_, app, toks := mediaAPI(t, max)
	return app, toks
}

// mediaAPI is mediaApp with the API itself.
func mediaAPI(t *testing.T, max int) (*API, *fiber.App, map[string]string) {
	t.Helper()
	store, err := media.NewDisk(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	iss := auth.NewIssuer([]byte(strings.Repeat("s", 32)), time.Hour)
	a := New(testenv.Store(t), nil, iss, false, nil, kafkabus.Topics{}, time.UTC, nil, slog.New(slog.DiscardHandler)).WithMedia(store, max)
	// As services/app's error handler: fiber errors become JSON reasons.
	app := fiber.New(fiber.Config{BodyLimit: max * 4, ErrorHandler: func(c *fiber.Ctx, err error) error {
		code := fiber.StatusInternalServerError
		if fe, ok := err.(*fiber.Error); ok {
			code = fe.Code
		}
		return c.Status(code).JSON(Problem{Error: err.Error()})
	}})
	a.Register(app)
	toks := map[string]string{}
	users := append([]auth.User(nil), auth.DemoUsers...)
	for _, role := range []string{auth.Worker, auth.Viewer, auth.Dispatcher} {
		u := auth.User{Username: role + "1", Password: "x", Claims: auth.Claims{Subject: role + "1", Role: role}}
		users = append(users, u)
		c := u.Claims
		c.Account = auth.Fingerprint(u)
		tok, err := iss.Sign(c)
		if err != nil {
			t.Fatal(err)
		}
		toks[role] = tok
	}
	a.WithUsers(users, true)
	return a, app, toks
}

func pngBytes(t testing.TB, seed uint8) []byte {
	img := image.NewRGBA(image.Rect(0, 0, 6, 6))
	img.Set(2, 2, color.RGBA{seed, 9, 9, 255})
	var b bytes.Buffer
	_ = png.Encode(&b, img)
	return b.Bytes()
}

func call(t *testing.T, app *fiber.App, req *http.Request) (int, http.Header, []byte) {
	t.Helper()
	resp, err := app.Test(req, 5000)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

func upload(token, contentType string, body []byte) *http.Request {
	req := httptest.NewRequest("POST", "/api/v1/media", bytes.NewReader(body))
	req.Header.Set("Content-Type", contentType)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return req
}

func TestMediaUploadAndServe(t *testing.T) {
	app, tok := mediaApp(t, 1<<20)
	data := pngBytes(t, 1)
	// The header says JPEG; the bytes are a PNG: the bytes win.
	code, _, body := call(t, app, upload(tok[auth.Worker], "image/jpeg", data))
	var out struct{ ID, URL string }
	_ = json.Unmarshal(body, &out)
	if code != 201 || !strings.HasSuffix(out.ID, ".png") || out.URL != "/api/v1/media/"+out.ID {
		t.Fatalf("upload: %d %s", code, body)
	}
	// The offline outbox's retry: same bytes, same object, 200.
	code, _, body2 := call(t, app, upload(tok[auth.Worker], "image/png", data))
	var again struct{ ID string }
	_ = json.Unmarshal(body2, &again)
	if code != 200 || again.ID != out.ID {
		t.Fatalf("re-upload: %d %s", code, body2)
	}
	// Multipart, as a form post sends it.
	var mp bytes.Buffer
	w := multipart.NewWriter(&mp)
	fw, _ := w.CreateFormFile("file", "photo.png")
	_, _ = fw.Write(pngBytes(t, 2))
	_ = w.Close()
	if code, _, b := call(t, app, upload(tok[auth.Dispatcher], w.FormDataContentType(), mp.Bytes())); code != 201 {
		t.Fatalf("multipart: %d %s", code, b)
	}

	get := httptest.NewRequest("GET", out.URL, nil)
	get.Header.Set("Authorization", "Bearer "+tok[auth.Viewer])
	code, h, got := call(t, app, get)
	if code != 200 || !bytes.Equal(got, data) {
		t.Fatalf("get: %d, %d bytes", code, len(got))
	}
	if h.Get("Content-Type") != "image/png" || h.Get("X-Content-Type-Options") != "nosniff" || !strings.Contains(h.Get("Cache-Control"), "immutable") {
		t.Fatalf("headers: %v", h)
	}
	if code, _, _ := call(t, app, httptest.NewRequest("GET", out.URL, nil)); code != 401 {
		t.Fatalf("anonymous get: %d", code)
	}
}

func TestMediaRefusals(t *testing.T) {
	app, tok := mediaApp(t, 2048)
	big := append(pngBytes(t, 3), make([]byte, 4096)...)
	for name, tc := range map[string]struct {
		req  *http.Request
		want int
	}{
		"no token":       {upload("", "image/png", pngBytes(t, 1)), 401},
		"viewer":         {upload(tok[auth.Viewer], "image/png", pngBytes(t, 1)), 403},
		"too large":      {upload(tok[auth.Worker], "image/png", big), 413},
		"svg as png":     {upload(tok[auth.Worker], "image/png", []byte(`<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>`)), 415},
		"html":           {upload(tok[auth.Worker], "image/jpeg", []byte(`<html><body>hi</body></html>`)), 415},
		"json body":      {upload(tok[auth.Worker], "application/json", []byte(`{}`)), 415},
		"empty":          {upload(tok[auth.Worker], "image/png", nil), 400},
		"multipart nofl": {upload(tok[auth.Worker], "multipart/form-data; boundary=x", []byte("--x--\r\n")), 400},
	} {
		code, _, body := call(t, app, tc.req)
		if code != tc.want {
			t.Errorf("%s: %d %s, want %d", name, code, body, tc.want)
		}
		if code >= 400 && !json.Valid(body) {
			t.Errorf("%s: not a JSON reason: %s", name, body)
		}
	}
	for _, path := range []string{"/api/v1/media/..%2F..%2Fetc%2Fpasswd", "/api/v1/media/" + strings.Repeat("a", 64) + ".svg",
		"/api/v1/media/%2e%2e", "/api/v1/media/" + strings.Repeat("a", 64) + ".png"} {
		req := httptest.NewRequest("GET", path, nil)
		req.Header.Set("Authorization", "Bearer "+tok[auth.Worker])
		if code, _, body := call(t, app, req); code != 404 {
			t.Errorf("GET %s: %d %s", path, code, body)
		}
	}
}
