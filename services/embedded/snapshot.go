package embedded

import (
	"bufio"
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/klauspost/compress/s2"
)

// The embedded Redis keeps everything in memory, so without a snapshot a
// restart rebuilds the projections from the whole tasks topic, which grows
// for ever (docs/architecture.md, Rebuild). Save writes the keys a caller
// picks to a file, and Load puts them back into an empty server; what the
// snapshot holds and how it is brought up to date is the caller's
// (app.saveSnapshot, projection.Resume). Save must run with no client
// writing: the snapshot is a copy made key by key, not an atomic one.

// snapshotFormat is written first in a snapshot file; Load refuses others.
const snapshotFormat = "citybrain embedded redis snapshot 1"

// snapshotHeader opens a snapshot file.
type snapshotHeader struct {
	Format  string
	SavedAt time.Time
	Meta    []byte // the caller's
}

// snapshotKey is one key of a snapshot; the end of the file is a key with
// no name.
type snapshotKey struct {
	Name   string
	Type   string        // string, hash, list, set, zset
	TTL    time.Duration // 0: none
	Values []string      // string: the value; hash: field, value, …; list, set, zset: the members
	Scores []float64     // zset: the members' scores
}

// ErrNoSnapshot is returned by Load when there is no snapshot file.
var ErrNoSnapshot = errors.New("no snapshot")

// Save writes the keys for which keep is true (streams are never kept),
// with meta, to path: to a temporary file first, synced and renamed, so
// that a crash while saving leaves the previous snapshot. It returns how
// many keys it wrote.
func (r *Redis) Save(path string, meta []byte, keep func(key string) bool) (int, error) {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return 0, fmt.Errorf("snapshot: %w", err)
	}
	n, err := r.write(f, meta, keep)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return 0, fmt.Errorf("snapshot: %w", err)
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil { // the rename itself
		_ = d.Sync()
		_ = d.Close()
	}
	return n, nil
}

func (r *Redis) write(w io.Writer, meta []byte, keep func(string) bool) (int, error) {
	zw := s2.NewWriter(w, s2.WriterConcurrency(2)) // the projections' JSON: about a quarter of the size, at memory speed
	enc := gob.NewEncoder(zw)
	if err := enc.Encode(snapshotHeader{Format: snapshotFormat, SavedAt: time.Now(), Meta: meta}); err != nil {
		return 0, err
	}
	m := r.s
	keys := m.Keys()
	slices.Sort(keys)
	n := 0
	for _, k := range keys {
		if !keep(k) {
			continue
		}
		e := snapshotKey{Name: k, Type: m.Type(k), TTL: m.TTL(k)}
		var err error
		switch e.Type {
		case "string":
			var v string
			v, err = m.Get(k)
			e.Values = []string{v}
		case "hash":
			var fields []string
			fields, err = m.HKeys(k)
			for _, f := range fields {
				e.Values = append(e.Values, f, m.HGet(k, f))
			}
		case "list":
			e.Values, err = m.List(k)
		case "set":
			e.Values, err = m.Members(k)
		case "zset":
			var set map[string]float64
			set, err = m.SortedSet(k)
			e.Values = make([]string, 0, len(set))
			for member := range set {
				e.Values = append(e.Values, member)
			}
			slices.Sort(e.Values)
			for _, member := range e.Values {
				e.Scores = append(e.Scores, set[member])
			}
		default: // streams: the caller's deltas, not state; a key gone since Keys
			continue
		}
		if err != nil {
			return n, fmt.Errorf("key %s: %w", k, err)
		}
		if err := enc.Encode(e); err != nil {
			return n, err
		}
		n++
	}
	if err := enc.Encode(snapshotKey{}); err != nil {
		return n, err
	}
	return n, zw.Close()
}

// Load reads the snapshot at path into the server, which should be empty
// (keys it holds are overwritten, others kept), and returns the meta given
// to Save and when it was saved. A key's time to live continues from what
// was left of it when saved, less the time since; keys that expired since
// are left out. ErrNoSnapshot: there is no file. On any other error the
// server may hold part of the snapshot: flush it before rebuilding.
func (r *Redis) Load(path string) (meta []byte, savedAt time.Time, keys int, err error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, time.Time{}, 0, ErrNoSnapshot
	}
	if err != nil {
		return nil, time.Time{}, 0, fmt.Errorf("snapshot: %w", err)
	}
	defer func() { _ = f.Close() }()
	dec := gob.NewDecoder(s2.NewReader(bufio.NewReaderSize(f, 1<<20)))
	var h snapshotHeader
	if err := dec.Decode(&h); err != nil {
		return nil, time.Time{}, 0, fmt.Errorf("snapshot %s: %w", path, err)
	}
	if h.Format != snapshotFormat {
		return nil, time.Time{}, 0, fmt.Errorf("snapshot %s: format %q, want %q", path, h.Format, snapshotFormat)
	}
	since := max(time.Since(h.SavedAt), 0)
	m := r.s
	for {
		var e snapshotKey
		if err := dec.Decode(&e); err != nil {
			return nil, time.Time{}, keys, fmt.Errorf("snapshot %s: cut short after %d keys: %w", path, keys, err)
		}
		if e.Name == "" {
			return h.Meta, h.SavedAt, keys, nil
		}
		if e.TTL > 0 && e.TTL <= since {
			continue // expired while the process was down
		}
		m.Del(e.Name)
		var err error
		switch e.Type {
		case "string":
			if len(e.Values) == 1 {
				err = m.Set(e.Name, e.Values[0])
			}
		case "hash":
			m.HSet(e.Name, e.Values...)
		case "list":
			_, err = m.Push(e.Name, e.Values...)
		case "set":
			_, err = m.SetAdd(e.Name, e.Values...)
		case "zset":
			if len(e.Scores) != len(e.Values) {
				err = errors.New("scores and members differ in number")
			}
			for i := 0; err == nil && i < len(e.Values); i++ {
				_, err = m.ZAdd(e.Name, e.Scores[i], e.Values[i])
			}
		default:
			err = fmt.Errorf("type %q", e.Type)
		}
		if err != nil {
			return nil, time.Time{}, keys, fmt.Errorf("snapshot %s: key %s: %w", path, e.Name, err)
		}
		if e.TTL > 0 {
			m.SetTTL(e.Name, e.TTL-since)
		}
		keys++
	}
}
