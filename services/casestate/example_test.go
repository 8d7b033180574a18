package casestate_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/citybrain-ioc/citybrain/services/casestate"
)

// A dispatcher files and assigns a case, a second dispatcher's assignment
// from the same version is refused as stale (the API's 409), the worker
// signs for the task, and another worker may not touch it.
func Example() {
	at := time.Date(2024, 6, 3, 9, 0, 0, 0, time.FixedZone("CST", 8*3600))
	system := casestate.Actor{ID: "system", Role: casestate.RoleSystem}
	wang := casestate.Actor{ID: "d-wang", Role: casestate.RoleDispatcher}
	zhao := casestate.Actor{ID: "d-zhao", Role: casestate.RoleDispatcher}
	li := casestate.Actor{ID: "w-li", Role: casestate.RoleWorker, Department: "城市管理局"}
	chen := casestate.Actor{ID: "w-chen", Role: casestate.RoleWorker, Department: "城市管理局"}

	c := casestate.Case{ID: "INC-42"}
	step := func(cmd casestate.Command) {
		cmd.BaseVersion = c.Version
		next, tr, err := casestate.Decide(c, cmd)
		if err != nil {
			fmt.Printf("%-8s %-6s refused: %v\n", tr.Action, tr.Actor.ID, err)
			fmt.Println("forbidden:", errors.Is(err, casestate.ErrForbidden))
			return
		}
		c = next
		fmt.Printf("%-8s %-6s v%d %s → %s\n", tr.Action, tr.Actor.ID, tr.Version, tr.From, tr.To)
	}

	step(casestate.Command{Action: casestate.Receive, Actor: system, At: at})
	step(casestate.Command{Action: casestate.File, Actor: wang, At: at.Add(5 * time.Minute)})

	seen := c.Version // both dispatchers look at the same case
	assign := func(by casestate.Actor, worker string) casestate.Command {
		t := at.Add(10 * time.Minute)
		return casestate.Command{Action: casestate.Dispatch, Actor: by, At: t,
			Department: "城市管理局", WorkerID: worker, Deadline: t.Add(24 * time.Hour)}
	}
	step(assign(wang, "w-li"))
	late := assign(zhao, "w-chen")
	late.BaseVersion = seen
	_, _, err := casestate.Decide(c, late)
	fmt.Println("second assignment stale:", errors.Is(err, casestate.ErrStale))

	step(casestate.Command{Action: casestate.Accept, Actor: chen, At: at.Add(20 * time.Minute)})
	step(casestate.Command{Action: casestate.Accept, Actor: li, At: at.Add(20 * time.Minute)})

	fmt.Println("li may:", casestate.Allowed(c, li, at.Add(30*time.Minute)))
	fmt.Printf("超时倍数 after 6h: %.2f\n", casestate.Overtime(c, at.Add(10*time.Minute+6*time.Hour)))
	// Output:
	// receive  system v1  → received
	// file     d-wang v2 received → filed
	// dispatch d-wang v3 filed → dispatched
	// second assignment stale: true
	// accept   w-chen refused: forbidden: accept in state dispatched: task TSK-42-1 is assigned to worker w-li, not to w-chen
	// forbidden: true
	// accept   w-li   v4 dispatched → accepted
	// li may: [start request_extension return]
	// 超时倍数 after 6h: 0.25
}
