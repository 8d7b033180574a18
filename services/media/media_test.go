package media

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/citybrain-ioc/citybrain/services/config"
)

// testPNG is a small real PNG; seed changes its bytes (and so its id).
func testPNG(t testing.TB, seed uint8) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 8, 8))
	img.Set(1, 1, color.RGBA{seed, 2, 3, 255})
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestIdentify(t *testing.T) {
	p := testPNG(t, 1)
	id, ct, err := Identify(p)
	if err != nil || ct != "image/png" || !strings.HasSuffix(id, ".png") || !ValidID(id) {
		t.Fatalf("png: %q %q %v", id, ct, err)
	}
	var j bytes.Buffer
	_ = jpeg.Encode(&j, image.NewGray(image.Rect(0, 0, 4, 4)), nil)
	if id, ct, err := Identify(j.Bytes()); err != nil || ct != "image/jpeg" || !strings.HasSuffix(id, ".jpg") {
		t.Fatalf("jpeg: %q %q %v", id, ct, err)
	}
	webp := append([]byte("RIFF\x1a\x00\x00\x00WEBPVP8 "), make([]byte, 20)...)
	if id, ct, err := Identify(webp); err != nil || ct != "image/webp" || !strings.HasSuffix(id, ".webp") {
		t.Fatalf("webp: %q %q %v", id, ct, err)
	}
	for _, bad := range [][]byte{[]byte("<svg xmlns='http://www.w3.org/2000/svg'/>"), []byte("<html><script>x</script>"), []byte("GIF89a......"), nil} {
		if _, _, err := Identify(bad); !errors.Is(err, ErrType) {
			t.Errorf("%q: want ErrType, got %v", bad, err)
		}
	}
}

func TestValidIDRefusesTraversal(t *testing.T) {
	good := strings.Repeat("a", 64) + ".jpg"
	if !ValidID(good) {
		t.Fatal("good id refused")
	}
	for _, id := range []string{"", "../../etc/passwd", "..%2f" + good, strings.Repeat("a", 63) + ".jpg", strings.Repeat("A", 64) + ".jpg",
		strings.Repeat("a", 64) + ".gif", "x/" + good, good + "/", good + "\x00", strings.Repeat("a", 64) + ".jpg.png"} {
		if ValidID(id) {
			t.Errorf("accepted %q", id)
		}
	}
	if id, ok := Ref(URLPrefix + good); !ok || id != good {
		t.Errorf("ref of URL: %q %v", id, ok)
	}
	if _, ok := Ref("https://evil.example/" + good); ok {
		t.Error("foreign URL accepted")
	}
}

// testStore runs the Store contract against s.
func testStore(t *testing.T, s Store) {
	ctx := context.Background()
	data := testPNG(t, 7)
	id, _, _ := Identify(data)
	if ok, err := s.Exists(ctx, id); err != nil || ok {
		t.Fatalf("exists before put: %v %v", ok, err)
	}
	if _, err := s.Get(ctx, id); !errors.Is(err, ErrNotFound) {
		t.Fatalf("get before put: %v", err)
	}
	created, err := s.Put(ctx, id, data)
	if err != nil || !created {
		t.Fatalf("put: %v %v", created, err)
	}
	created, err = s.Put(ctx, id, data) // the offline retry
	if err != nil || created {
		t.Fatalf("second put: created=%v %v", created, err)
	}
	got, err := s.Get(ctx, id)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("get: %d bytes, %v", len(got), err)
	}
	if ok, err := s.Exists(ctx, id); err != nil || !ok {
		t.Fatalf("exists after put: %v %v", ok, err)
	}
	if _, err := s.Put(ctx, "../x.png", data); err == nil {
		t.Fatal("put with a bad id accepted")
	}
	if _, err := s.Get(ctx, "../../etc/passwd"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("get with a bad id: %v", err)
	}
}

func TestDiskStore(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(config.Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := s.(*Disk); !ok {
		t.Fatalf("Open without S3 config: %T", s)
	}
	testStore(t, s)
}

// No MinIO server can run on the build machine, so the S3 store is tested
// against gofakes3, an S3-compatible server written in Go, served over
// real HTTP in the test process: the requests are minio-go's own signed
// path-style requests.
func TestS3Store(t *testing.T) {
	backend := s3mem.New()
	srv := httptest.NewServer(gofakes3.New(backend).Server())
	defer srv.Close()
	if err := backend.CreateBucket("photos"); err != nil {
		t.Fatal(err)
	}
	s, err := Open(config.Config{MediaS3: config.MediaS3{Endpoint: srv.URL, Bucket: "photos", Region: "us-east-1", AccessKey: "k", SecretKey: "s"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := s.(*S3); !ok {
		t.Fatalf("Open with S3 config: %T", s)
	}
	testStore(t, s)

	missing, _ := Open(config.Config{MediaS3: config.MediaS3{Endpoint: srv.URL, Bucket: "nobucket", AccessKey: "k", SecretKey: "s"}})
	if _, err := missing.Put(context.Background(), strings.Repeat("b", 64)+".png", []byte("x")); err == nil {
		t.Fatal("put into a missing bucket succeeded")
	}
}
