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
// for ever (docs/architecture.md, Rebuild). Copy and Write write
// the keys a caller picks to a file, and Load puts them back into an empty
// server; what the snapshot holds, when it is taken and how it is brought
// up to date is the caller's (services/app/snapshot.go,
// projection.Resume). Copy must run with no client writing: it copies key
// by key, not atomically.

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

// Snapshot is a copy of the server's keys, made by Copy, to be written by
// Write.
type Snapshot struct {
	keys  []snapshotKey
	taken time.Time
}

// Len returns how many keys the snapshot holds.
func (s *Snapshot) Len() int { return len(s.keys) }

// Copy copies the keys for which keep is true (streams are never kept).
// It reads them one by one: call it while no client writes (the caller's
// own pause), for a consistent copy. The values are shared with the
// server, not copied (Go strings do not change), so a copy costs little
// memory and time; Write does the rest outside the pause.
func (r *Redis) Copy(keep func(key string) bool) (*Snapshot, error) {
	m := r.s
	keys := m.Keys() // sorted
	snap := &Snapshot{keys: make([]snapshotKey, 0, len(keys)), taken: time.Now()}
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
			return nil, fmt.Errorf("snapshot: key %s: %w", k, err)
		}
		snap.keys = append(snap.keys, e)
	}
	return snap, nil
}

// Write writes the snapshot with meta to path: to a temporary file first,
// synced and renamed, so that a crash while writing leaves the previous
// snapshot.
func (s *Snapshot) Write(path string, meta []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	err = s.encode(f, meta)
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
		return fmt.Errorf("snapshot: %w", err)
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil { // the rename itself
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}

func (s *Snapshot) encode(w io.Writer, meta []byte) error {
	zw := s2.NewWriter(w, s2.WriterConcurrency(2)) // the projections' JSON: about a fifth of the size, at memory speed
	enc := gob.NewEncoder(zw)
	if err := enc.Encode(snapshotHeader{Format: snapshotFormat, SavedAt: s.taken, Meta: meta}); err != nil {
		return err
	}
	for _, e := range s.keys {
		if err := enc.Encode(e); err != nil {
			return err
		}
	}
	if err := enc.Encode(snapshotKey{}); err != nil {
		return err
	}
	return zw.Close()
}

// Load reads the snapshot at path into the server, which should be empty
// (keys it holds are overwritten, others kept), and returns the meta given
// to Write and when the copy was taken. A key's time to live continues from what
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
			if len(e.Values) != 1 {
				err = fmt.Errorf("a string of %d values", len(e.Values))
			} else {
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
