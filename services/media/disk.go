package media

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Disk stores photos as files under a directory, two hex digits of the hash
// as a subdirectory so no directory grows to millions of entries.
type Disk struct{ dir string }

// NewDisk returns a disk store under dir, creating it.
func NewDisk(dir string) (*Disk, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("media dir %s: %w", dir, err)
	}
	return &Disk{dir: dir}, nil
}

// path is only ever called with a ValidID id.
func (d *Disk) path(id string) string { return filepath.Join(d.dir, id[:2], id) }

// Put writes the file through a temporary file and a rename, so a reader
// never sees half a photo and two concurrent uploads of it both succeed.
func (d *Disk) Put(_ context.Context, id string, data []byte) (bool, error) {
	if !ValidID(id) {
		return false, fmt.Errorf("media: invalid id %q", id)
	}
	p := d.path(id)
	if _, err := os.Stat(p); err == nil {
		return false, nil
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
		return false, fmt.Errorf("media put %s: %w", id, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(p), ".upload-*")
	if err != nil {
		return false, fmt.Errorf("media put %s: %w", id, err)
	}
	defer func() { _ = os.Remove(tmp.Name()) }() // a no-op after the rename
	if _, err := tmp.Write(data); err != nil {
		_ = tmp.Close()
		return false, fmt.Errorf("media put %s: %w", id, err)
	}
	if err := tmp.Close(); err != nil {
		return false, fmt.Errorf("media put %s: %w", id, err)
	}
	if err := os.Rename(tmp.Name(), p); err != nil {
		return false, fmt.Errorf("media put %s: %w", id, err)
	}
	return true, nil
}

// Get reads the file of id.
func (d *Disk) Get(_ context.Context, id string) ([]byte, error) {
	if !ValidID(id) {
		return nil, ErrNotFound
	}
	b, err := os.ReadFile(d.path(id))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("media get %s: %w", id, err)
	}
	return b, nil
}

// Exists reports whether the file of id is there.
func (d *Disk) Exists(_ context.Context, id string) (bool, error) {
	if !ValidID(id) {
		return false, nil
	}
	_, err := os.Stat(d.path(id))
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}
