// Package media stores the photos grid workers take on the phone (处理反馈
// and patrol reports) and serves them back to the console and the wall.
//
// A photo is content-addressed: its id is the sha256 of its bytes plus an
// extension from its sniffed type ("<64 hex>.jpg"), so a phone that re-sends
// a photo after a lost answer (its offline outbox retries) stores the same
// object again, not a copy. The id is also the only thing a client can name:
// ValidID accepts exactly that shape, so no id reaches a file path or an
// object key that could escape the store.
//
// Two stores implement Store: Disk (DATA_DIR/media, the all-in-one default)
// and S3 (any S3-compatible object storage — MinIO, Ceph RGW, a cloud's OSS —
// with path-style addressing), chosen by Open from the configuration.
package media

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"

	"github.com/citybrain-ioc/citybrain/services/config"
)

// ErrNotFound is returned by Get for an id that is not stored.
var ErrNotFound = errors.New("media: not found")

// ErrType is returned by Identify for bytes that are not a JPEG, PNG or WebP image.
var ErrType = errors.New("media: not a JPEG, PNG or WebP image")

// Store keeps photos by id. Implementations are safe for concurrent use.
type Store interface {
	// Put stores data under id; created is false when it was already there
	// (same id means same bytes, so nothing is written again).
	Put(ctx context.Context, id string, data []byte) (created bool, err error)
	// Get returns the bytes of id, or ErrNotFound.
	Get(ctx context.Context, id string) ([]byte, error)
	// Exists reports whether id is stored.
	Exists(ctx context.Context, id string) (bool, error)
}

// types maps the sniffed MIME type to the id's extension.
var types = map[string]string{"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp"}

var idPattern = regexp.MustCompile(`^[0-9a-f]{64}\.(jpg|png|webp)$`)

// Identify sniffs the image type from the bytes (never from a header the
// client sent) and returns the content-addressed id and the MIME type.
func Identify(data []byte) (id, contentType string, err error) {
	ct := http.DetectContentType(data)
	ext, ok := types[ct]
	if !ok {
		return "", "", fmt.Errorf("%w (looks like %s)", ErrType, ct)
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:]) + "." + ext, ct, nil
}

// ValidID reports whether id has the exact shape Identify gives: lower-case
// sha256 hex, a dot, jpg|png|webp. Nothing else (no slashes, no dots, no
// "..") passes, which is what keeps ids out of path traversal.
func ValidID(id string) bool { return idPattern.MatchString(id) }

// ContentType is the MIME type of a valid id.
func ContentType(id string) string {
	switch {
	case strings.HasSuffix(id, ".jpg"):
		return "image/jpeg"
	case strings.HasSuffix(id, ".png"):
		return "image/png"
	case strings.HasSuffix(id, ".webp"):
		return "image/webp"
	}
	return "application/octet-stream"
}

// URLPrefix is where the API serves a photo: URLPrefix + id.
const URLPrefix = "/api/v1/media/"

// Ref turns a photo reference as clients send it (an id, or the URL the
// upload answered) into the id; ok is false for anything else.
func Ref(s string) (id string, ok bool) {
	id = strings.TrimPrefix(s, URLPrefix)
	return id, ValidID(id)
}

// Open returns the store the configuration names: S3 when an endpoint is
// set, otherwise a disk store under DATA_DIR/media.
func Open(cfg config.Config) (Store, error) {
	if cfg.MediaS3.Endpoint != "" {
		return NewS3(cfg.MediaS3)
	}
	return NewDisk(cfg.DataDir + "/media")
}
