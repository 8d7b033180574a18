package redisstore

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Wall modes.
const (
	ModeNormal    = "normal"
	ModeEmergency = "emergency" // 战时
)

// WallMode is the wall's mode: normal, or emergency (战时) for one
// incident, set by a person or automatically (Auto; see package wallmode).
type WallMode struct {
	Mode       string    `json:"mode"`
	IncidentID string    `json:"incident_id"`
	Reason     string    `json:"reason"`
	By         string    `json:"by"`
	Auto       bool      `json:"auto"`
	Since      time.Time `json:"since,omitzero"`
	// HoldUntil: a person returned the wall to normal; until then only a
	// severity I incident or a red warning switches it to emergency again.
	HoldUntil time.Time `json:"hold_until,omitzero"`
	// Overrides (not stored): this automatic switch ignores a hold.
	Overrides bool `json:"-"`
}

//go:embed wallmode.lua
var wallModeLua string

var wallModeScript = redis.NewScript(wallModeLua)

// Mode-change operations (ChangeWallMode).
const (
	ModeSet   = "set"   // unconditional: a person, or a restore after a rebuild
	ModeOpen  = "open"  // automatic emergency: only from normal
	ModeClose = "close" // automatic return to normal: only from the automatic emergency of ended
)

// ChangeWallMode applies op with the new mode m (ended: the incident that
// ended, for ModeClose), and relays it to the gateways (a "mode" entry of
// the realtime stream) in the same atomic step. It reports whether the mode
// changed.
func (s *Store) ChangeWallMode(ctx context.Context, op string, m WallMode, ended string) (bool, error) {
	b, err := json.Marshal(m)
	if err != nil {
		return false, fmt.Errorf("encode wall mode: %w", err)
	}
	auto := "0"
	if m.Auto {
		auto = "1"
	}
	var at int64 // set: the hold's end; open: the trigger's time
	switch {
	case op == ModeSet && !m.HoldUntil.IsZero():
		at = m.HoldUntil.UnixMilli()
	case op == ModeOpen:
		at = m.Since.UnixMilli()
	}
	overrides := "0"
	if m.Overrides {
		overrides = "1"
	}
	n, err := wallModeScript.Run(ctx, s.rdb, []string{s.key("wall", "mode"), s.WallStream(), s.key("wall", "modelog")},
		op, string(b), m.Mode, auto, m.IncidentID, s.streamMax, ended, at, overrides).Int()
	if err != nil {
		return false, fmt.Errorf("wall mode %s: %w", op, err)
	}
	if n == 1 {
		s.wroteWall()
	}
	return n == 1, nil
}

// GetWallMode returns the wall's mode (normal when none was ever set).
func (s *Store) GetWallMode(ctx context.Context) (WallMode, error) {
	raw, err := s.rdb.HGet(ctx, s.key("wall", "mode"), "json").Result()
	if errors.Is(err, redis.Nil) {
		return WallMode{Mode: ModeNormal}, nil
	}
	if err != nil {
		return WallMode{}, fmt.Errorf("wall mode: %w", err)
	}
	var m WallMode
	if err := json.Unmarshal([]byte(raw), &m); err != nil {
		return WallMode{}, fmt.Errorf("decode wall mode: %w", err)
	}
	return m, nil
}

// WallModeLog returns the recent mode changes, newest first (at most 200).
func (s *Store) WallModeLog(ctx context.Context) ([]WallMode, error) {
	raw, err := s.rdb.LRange(ctx, s.key("wall", "modelog"), 0, -1).Result()
	if err != nil {
		return nil, fmt.Errorf("wall mode log: %w", err)
	}
	out := make([]WallMode, 0, len(raw))
	for _, r := range raw {
		var m WallMode
		if json.Unmarshal([]byte(r), &m) == nil {
			out = append(out, m)
		}
	}
	return out, nil
}
