package api

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/citybrain-ioc/citybrain/services/auth"
	"github.com/citybrain-ioc/citybrain/services/media"
)

// WithMedia gives the API its photo store and the largest photo it takes.
// Without it the media endpoints answer 503.
func (a *API) WithMedia(s media.Store, maxBytes int) *API {
	a.media, a.mediaMax = s, maxBytes
	return a
}

// uploadMedia stores a photo: the body is the image (Content-Type
// image/jpeg|png|webp) or a multipart form with the image in field "file".
// The type is sniffed from the bytes; the id is their sha256, so an upload
// the phone repeats after a lost answer is the same object (200 instead of
// 201).
func (a *API) uploadMedia(c *fiber.Ctx) error {
	cl, err := a.caller(c, false)
	if err != nil {
		return err
	}
	if cl.Role != auth.Worker && cl.Role != auth.Dispatcher && cl.Role != auth.Admin {
		return fiber.NewError(fiber.StatusForbidden, "only workers, dispatchers and admins upload photos")
	}
	if a.media == nil {
		return fiber.NewError(fiber.StatusServiceUnavailable, "no photo store configured")
	}
	data, status, reason := a.mediaBody(c)
	if status != 0 {
		return bad(c, status, "file", reason)
	}
	id, _, err := media.Identify(data)
	if err != nil {
		return bad(c, fiber.StatusUnsupportedMediaType, "file", err.Error())
	}
	created, err := a.media.Put(c.UserContext(), id, data)
	if err != nil {
		return err
	}
	status = fiber.StatusOK
	if created {
		status = fiber.StatusCreated
		a.log.Info("photo stored", "id", id, "bytes", len(data), "by", cl.Subject)
	}
	c.Set("Location", media.URLPrefix+id)
	return c.Status(status).JSON(fiber.Map{"id": id, "url": media.URLPrefix + id, "bytes": len(data)})
}

// mediaBody returns the uploaded bytes, or a status and reason.
func (a *API) mediaBody(c *fiber.Ctx) ([]byte, int, string) {
	tooBig := fmt.Sprintf("larger than %d bytes", a.mediaMax)
	ct := strings.ToLower(c.Get(fiber.HeaderContentType))
	if strings.HasPrefix(ct, "multipart/form-data") {
		fh, err := c.FormFile("file")
		if err != nil {
			return nil, fiber.StatusBadRequest, "want a multipart field \"file\" with the image"
		}
		if fh.Size > int64(a.mediaMax) {
			return nil, fiber.StatusRequestEntityTooLarge, tooBig
		}
		f, err := fh.Open()
		if err != nil {
			return nil, fiber.StatusBadRequest, "unreadable multipart file"
		}
		defer func() { _ = f.Close() }()
		data, err := io.ReadAll(io.LimitReader(f, int64(a.mediaMax)+1))
		if err != nil {
			return nil, fiber.StatusBadRequest, "unreadable multipart file"
		}
		if len(data) > a.mediaMax {
			return nil, fiber.StatusRequestEntityTooLarge, tooBig
		}
		return data, 0, ""
	}
	if !strings.HasPrefix(ct, "image/") {
		return nil, fiber.StatusUnsupportedMediaType, "send the image with Content-Type image/jpeg, image/png or image/webp, or as multipart field \"file\""
	}
	data := c.Body()
	if len(data) > a.mediaMax {
		return nil, fiber.StatusRequestEntityTooLarge, tooBig
	}
	if len(data) == 0 {
		return nil, fiber.StatusBadRequest, "empty body"
	}
	return data, 0, ""
}

// getMedia serves a photo to any signed-in role (and to the anonymous wall
// viewer where AUTH_ANONYMOUS_VIEWER lets it read incidents at all). Ids are
// content hashes, so the answer never changes: cached for a year, immutable.
func (a *API) getMedia(c *fiber.Ctx) error {
	if _, err := a.caller(c, a.anonymous); err != nil {
		return err
	}
	id := c.Params("id")
	if !media.ValidID(id) {
		return bad(c, fiber.StatusNotFound, "id", "not a photo id (<sha256 hex>.jpg|png|webp)")
	}
	if a.media == nil {
		return fiber.NewError(fiber.StatusServiceUnavailable, "no photo store configured")
	}
	data, err := a.media.Get(c.UserContext(), id)
	if errors.Is(err, media.ErrNotFound) {
		return bad(c, fiber.StatusNotFound, "id", "no photo "+id)
	}
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderContentType, media.ContentType(id))
	c.Set(fiber.HeaderCacheControl, "private, max-age=31536000, immutable")
	c.Set(fiber.HeaderXContentTypeOptions, "nosniff")
	c.Set(fiber.HeaderETag, `"`+id[:64]+`"`)
	c.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	return c.Send(data)
}

// checkPhotos turns the photo references of a command (ids or the URLs the
// upload answered) into ids and makes sure each one is stored, so a task is
// never closed on a photo nobody can see. It returns the field and reason of
// the first bad one.
func (a *API) checkPhotos(c *fiber.Ctx, refs []string) ([]string, string, string) {
	if len(refs) > 9 {
		return nil, "photos", "at most 9 photos"
	}
	out := make([]string, 0, len(refs))
	for i, ref := range refs {
		field := fmt.Sprintf("photos[%d]", i)
		id, ok := media.Ref(ref)
		if !ok {
			return nil, field, "not a photo id or " + media.URLPrefix + "<id>: upload it with POST /api/v1/media first"
		}
		if a.media == nil {
			return nil, field, "no photo store configured"
		}
		found, err := a.media.Exists(c.UserContext(), id)
		if err != nil {
			return nil, field, "photo store unavailable, retry"
		}
		if !found {
			return nil, field, "no photo " + id + ": upload it with POST /api/v1/media first"
		}
		out = append(out, id)
	}
	return out, "", ""
}
