package dispatch

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/citybrain-ioc/citybrain/services/casestate"
	"github.com/citybrain-ioc/citybrain/services/event"
	"github.com/citybrain-ioc/citybrain/services/wire"
)

// Inspect is the command action that records one grid cell's inspection
// (巡查) under a warning. It is not a case state change: the incident
// stays where it is and only its version moves, so it is handled here, not
// by casestate.
const Inspect casestate.Action = "inspect"

// inspections opens a pending inspection for every grid cell of a warning.
func inspections(grids []string) []event.Inspection {
	out := make([]event.Inspection, len(grids))
	for i, g := range grids {
		out[i] = event.Inspection{Grid: g, State: "pending"}
	}
	return out
}

// MayInspect reports whether an actor may report the inspection of a
// grid: a dispatcher or admin, or a worker whose scope is that grid (or a
// village or town containing it).
func MayInspect(a casestate.Actor, scope, grid string) bool {
	switch a.Role {
	case casestate.RoleDispatcher, casestate.RoleAdmin:
		return true
	case casestate.RoleWorker:
		return inScope(scope, grid)
	}
	return false
}

// inScope: a 15-digit grid scope is that grid; a 12-digit village code
// (xxxxxxyyyzzz) its grids; a town code (zzz = 000) its villages' grids.
func inScope(scope, grid string) bool {
	switch {
	case len(scope) == 15:
		return grid == scope
	case len(scope) == 12 && strings.HasSuffix(scope, "000"):
		return strings.HasPrefix(grid, scope[:9])
	case len(scope) == 12:
		return strings.HasPrefix(grid, scope)
	}
	return false
}

// inspect applies an inspection command: the grid's inspection becomes
// done. The grid goes in Command.Reason's place as MergeInto is for merge:
// cmd.WorkerID names the grid cell, cmd.Note the finding.
func (d *Dispatcher) inspect(ctx context.Context, cur event.Incident, c casestate.Case, cmd casestate.Command, scope string) (event.Lifecycle, error) {
	grid := cmd.WorkerID
	if cmd.BaseVersion != cur.Version {
		return event.Lifecycle{}, fmt.Errorf("%w: inspect based on version %d, the incident is at %d", casestate.ErrStale, cmd.BaseVersion, cur.Version)
	}
	if !cur.State.Open() {
		return event.Lifecycle{}, fmt.Errorf("%w: inspect in state %s", casestate.ErrNotAllowed, cur.State)
	}
	i := slices.IndexFunc(cur.Inspections, func(in event.Inspection) bool { return in.Grid == grid })
	if i < 0 {
		return event.Lifecycle{}, &casestate.FieldError{Field: "grid", Reason: "no inspection of grid " + grid + " in this warning", Action: Inspect, State: cur.State}
	}
	if !MayInspect(cmd.Actor, scope, grid) {
		return event.Lifecycle{}, fmt.Errorf("%w: grid %s is not in the worker's scope", casestate.ErrForbidden, grid)
	}
	if cur.Inspections[i].State != "pending" {
		return event.Lifecycle{}, fmt.Errorf("%w: grid %s was inspected already", casestate.ErrNotAllowed, grid)
	}
	inc := cur
	inc.Inspections = slices.Clone(cur.Inspections)
	inc.Inspections[i] = event.Inspection{Grid: grid, State: "done", By: cmd.Actor.ID, Note: cmd.Note, At: cmd.At}
	inc.Version++
	inc.UpdatedAt = cmd.At
	c.Version, c.UpdatedAt = inc.Version, cmd.At
	caseJSON, _ := wire.Marshal(c)
	return event.Lifecycle{
		Schema: event.Schema, ID: lifecycleID(inc.ID, inc.Version), IncidentID: inc.ID, Version: inc.Version,
		Action: string(Inspect), From: cur.State, To: cur.State, Actor: cmd.Actor.Event(), At: cmd.At,
		Reason: "巡查 " + grid, CommandID: cmd.ID, Note: cmd.Note, Photos: cmd.Photos, Case: caseJSON, Incident: inc,
	}, nil
}
