// Package words writes times, durations and links the way Kibo says them to people:
// customers (incident notices, automatic replies, the status page) and agents
// (alerts, the daily summary, reports) read the same forms everywhere.
package words

import (
	"fmt"
	"strings"
	"time"
)

// When writes a time for people, in the business time zone loc.
func When(t time.Time, loc *time.Location) string {
	return t.In(loc).Format("Mon 2 Jan 15:04 MST")
}

// Duration writes seconds for people: "45s", "12m", "3h 20m", "2d 4h"; "–" for none.
func Duration(sec int64) string {
	d := time.Duration(sec) * time.Second
	switch {
	case sec <= 0:
		return "–"
	case d < time.Minute:
		return fmt.Sprintf("%ds", sec)
	case d < time.Hour:
		return fmt.Sprintf("%dm", sec/60)
	case d < 24*time.Hour:
		if m := (sec % 3600) / 60; m != 0 {
			return fmt.Sprintf("%dh %dm", sec/3600, m)
		}
		return fmt.Sprintf("%dh", sec/3600)
	}
	if h := (sec % 86400) / 3600; h != 0 {
		return fmt.Sprintf("%dd %dh", sec/86400, h)
	}
	return fmt.Sprintf("%dd", sec/86400)
}

// Link is the address of one of Kibo's pages in something Kibo writes: absolute when
// publicURL (how browsers reach Kibo) is known, else the bare path, which still works
// inside Kibo's own pages.
func Link(publicURL, path string) string {
	if publicURL != "" {
		return strings.TrimRight(publicURL, "/") + path
	}
	return path
}
