package routing

import (
	"fmt"
	"time"
)

// Calendar is the working-time calendar deadlines are counted in: working
// hours on working days, weekends off, holidays off, and make-up working
// days (调休) on. Times are in the city's zone.
type Calendar struct {
	loc      *time.Location
	startMin int // minutes after midnight the working day starts
	endMin   int
	weekend  map[time.Weekday]bool
	holidays map[string]bool // 2006-01-02
	workdays map[string]bool // make-up working days on a weekend
}

// Working reports whether t falls in working time.
func (c *Calendar) Working(t time.Time) bool {
	t = t.In(c.loc)
	if !c.workday(t) {
		return false
	}
	m := t.Hour()*60 + t.Minute()
	return m >= c.startMin && m < c.endMin
}

func (c *Calendar) workday(t time.Time) bool {
	d := t.Format("2006-01-02")
	if c.workdays[d] {
		return true
	}
	return !c.weekend[t.Weekday()] && !c.holidays[d]
}

// Add returns the time d of working time after from. A working day's length
// is the span of working hours (so "3 working days" is 3× that span).
func (c *Calendar) Add(from time.Time, d time.Duration) time.Time {
	t := from.In(c.loc)
	left := d
	for i := 0; i < 3660 && left > 0; i++ { // at most ten years of days
		day := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, c.loc)
		start := day.Add(time.Duration(c.startMin) * time.Minute)
		end := day.Add(time.Duration(c.endMin) * time.Minute)
		if c.workday(day) && t.Before(end) {
			if t.Before(start) {
				t = start
			}
			if avail := end.Sub(t); left <= avail {
				return t.Add(left)
			} else {
				left -= avail
			}
		}
		t = day.AddDate(0, 0, 1)
	}
	return t
}

// DayLength is the working time of one working day.
func (c *Calendar) DayLength() time.Duration {
	return time.Duration(c.endMin-c.startMin) * time.Minute
}

func parseClock(s string) (int, error) {
	t, err := time.Parse("15:04", s)
	if err != nil {
		return 0, fmt.Errorf("%q is not HH:MM", s)
	}
	return t.Hour()*60 + t.Minute(), nil
}
