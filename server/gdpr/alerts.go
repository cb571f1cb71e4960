package gdpr

import (
	"slices"
	"time"
)

// Alert marks, recorded on a request once sent so each is sent once.
const (
	Alert7Days   = "7d"
	Alert3Days   = "3d"
	Alert1Day    = "1d"
	AlertOverdue = "overdue"
)

// alertMarks runs from most to least urgent; lead is how long before due a mark
// becomes due (a negative lead: strictly after due).
var alertMarks = []struct {
	mark string
	lead time.Duration
}{
	{AlertOverdue, 0},
	{Alert1Day, 24 * time.Hour},
	{Alert3Days, 3 * 24 * time.Hour},
	{Alert7Days, 7 * 24 * time.Hour},
}

// AlertsDue returns the alert mark to send now for a request due at due, given the
// marks already sent; it holds at most one mark. A mark becomes due once no more than
// its lead time (7, 3 or 1 times 24 hours) is left, "overdue" once now is after due.
//
// Only the most urgent due mark fires: after an outage, or for a request opened with
// five days left, the assignee gets one alert that says how urgent it is now, not a
// burst of stale ones. A mark is never sent after a more urgent one, so the marks
// passed over need not be recorded: record only what this returns. A request opened
// with five days left thus gets "7d" ("due within a week"), then "3d", "1d", "overdue".
func AlertsDue(due time.Time, now time.Time, sent []string) []string {
	for _, a := range alertMarks {
		if slices.Contains(sent, a.mark) {
			return nil // it, or something more urgent, has already gone out
		}
		left := due.Sub(now)
		if (a.mark == AlertOverdue && left < 0) || (a.mark != AlertOverdue && left <= a.lead) {
			return []string{a.mark}
		}
	}
	return nil
}
