package media

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/url"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/citybrain-ioc/citybrain/services/config"
)

// S3 stores photos as objects in a bucket of S3-compatible storage
// (path-style requests, as MinIO and most on-premises stores want). The
// object key is the id; the object's Content-Type is set from it.
type S3 struct {
	client *minio.Client
	bucket string
}

// NewS3 connects to the endpoint of c (a URL, http:// or https://; a bare
// host:port means https). It does not create the bucket: that belongs to
// the storage's provisioning, and a missing bucket shows on first use.
func NewS3(c config.MediaS3) (*S3, error) {
	u, err := url.Parse(c.Endpoint)
	if err != nil || u.Host == "" {
		u = &url.URL{Scheme: "https", Host: c.Endpoint}
	}
	client, err := minio.New(u.Host, &minio.Options{
		Creds:        credentials.NewStaticV4(c.AccessKey, c.SecretKey, ""),
		Secure:       u.Scheme == "https",
		Region:       c.Region,
		BucketLookup: minio.BucketLookupPath,
	})
	if err != nil {
		return nil, fmt.Errorf("media s3 %s: %w", c.Endpoint, err)
	}
	return &S3{client: client, bucket: c.Bucket}, nil
}

// Put uploads the object unless it is already there.
func (s *S3) Put(ctx context.Context, id string, data []byte) (bool, error) {
	if !ValidID(id) {
		return false, fmt.Errorf("media: invalid id %q", id)
	}
	if ok, err := s.Exists(ctx, id); err != nil || ok {
		return false, err
	}
	_, err := s.client.PutObject(ctx, s.bucket, id, bytes.NewReader(data), int64(len(data)),
		minio.PutObjectOptions{ContentType: ContentType(id), CacheControl: "public, max-age=31536000, immutable"})
	if err != nil {
		return false, fmt.Errorf("media s3 put %s: %w", id, err)
	}
	return true, nil
}

// Get downloads the object.
func (s *S3) Get(ctx context.Context, id string) ([]byte, error) {
	if !ValidID(id) {
		return nil, ErrNotFound
	}
	obj, err := s.client.GetObject(ctx, s.bucket, id, minio.GetObjectOptions{})
	if err != nil {
		return nil, s.notFound(id, err)
	}
	defer func() { _ = obj.Close() }()
	b, err := io.ReadAll(obj)
	if err != nil {
		return nil, s.notFound(id, err)
	}
	return b, nil
}

// Exists asks for the object's metadata.
func (s *S3) Exists(ctx context.Context, id string) (bool, error) {
	if !ValidID(id) {
		return false, nil
	}
	_, err := s.client.StatObject(ctx, s.bucket, id, minio.StatObjectOptions{})
	if err == nil {
		return true, nil
	}
	if err = s.notFound(id, err); err == ErrNotFound {
		return false, nil
	}
	return false, err
}

func (s *S3) notFound(id string, err error) error {
	if code := minio.ToErrorResponse(err).Code; code == "NoSuchKey" || code == "NotFound" {
		return ErrNotFound
	}
	return fmt.Errorf("media s3 %s/%s: %w", s.bucket, id, err)
}
