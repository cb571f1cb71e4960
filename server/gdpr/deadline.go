package gdpr

import (
	"errors"
	"fmt"
	"time"
)

// Rule names how a due date is derived from the time a request was received. Its
// value is the words the UI shows beside the date and the API returns as due_rule.
type Rule string

const (
	// RuleEarlier is the default: whichever of RuleMonth and Rule30Days ends first,
	// so Kibo never shows a date later than the law allows.
	RuleEarlier Rule = "earlier of 30 days and one calendar month"
	// RuleMonth is Art. 12(3) read literally: the same date next month, or that
	// month's last day when it has no such date (EDPB guidelines 01/2022).
	RuleMonth Rule = "one calendar month"
	// Rule30Days counts 30 calendar days after the day of receipt.
	Rule30Days Rule = "30 days"
)

// Valid reports whether r is one of the known rules.
func (r Rule) Valid() bool {
	switch r {
	case RuleEarlier, RuleMonth, Rule30Days:
		return true
	}
	return false
}

// Extension errors; Extend wraps them with the dates involved, match with errors.Is.
var (
	ErrDeadlinePassed  = errors.New("gdpr: the first deadline has passed; Art. 12(3) allows an extension only within one month of receipt")
	ErrAlreadyExtended = errors.New("gdpr: the request has already been extended; Art. 12(3) allows one extension of at most two months")
	ErrBadExtension    = errors.New("gdpr: an extension must be of 1 or 2 months")
)

// date is a calendar date in the company's time zone. Deadline arithmetic is done on
// dates, never on durations, so DST changes cannot move a deadline by an hour.
type date struct {
	y int
	m time.Month
	d int
}

func dateIn(t time.Time, loc *time.Location) date {
	y, m, d := t.In(loc).Date()
	return date{y, m, d}
}

// addMonths returns the same day n months later, or the last day of that month when
// it has no such day (31 Jan + 1 → 28/29 Feb).
func (a date) addMonths(n int) date {
	first := time.Date(a.y, a.m+time.Month(n), 1, 12, 0, 0, 0, time.UTC)
	last := first.AddDate(0, 1, -1).Day()
	return date{first.Year(), first.Month(), min(a.d, last)}
}

func (a date) addDays(n int) date {
	t := time.Date(a.y, a.m, a.d+n, 12, 0, 0, 0, time.UTC)
	return date{t.Year(), t.Month(), t.Day()}
}

func (a date) before(b date) bool {
	if a.y != b.y {
		return a.y < b.y
	}
	if a.m != b.m {
		return a.m < b.m
	}
	return a.d < b.d
}

// dayNumber counts days since the epoch, for differences between dates.
func (a date) dayNumber() int {
	return int(time.Date(a.y, a.m, a.d, 0, 0, 0, 0, time.UTC).Unix() / 86400)
}

// start is the first instant of the date in loc. Where midnight does not exist
// (zones that spring forward at 00:00), time.Date may land on the previous evening;
// step forward by the wall-clock time left until midnight.
func (a date) start(loc *time.Location) time.Time {
	t := time.Date(a.y, a.m, a.d, 0, 0, 0, 0, loc)
	for i := 0; i < 3 && dateIn(t, loc).before(a); i++ {
		h, m, s := t.Clock()
		left := 24*time.Hour - time.Duration(h)*time.Hour - time.Duration(m)*time.Minute -
			time.Duration(s)*time.Second - time.Duration(t.Nanosecond())
		t = t.Add(left)
	}
	return t
}

// end is the last instant of the date in loc: the start of the next day minus one
// nanosecond. This is "the expiry of the last hour" of the day in Regulation
// 1182/71, which is how EU law counts periods, so it is never later than the law.
func (a date) end(loc *time.Location) time.Time {
	return a.addDays(1).start(loc).Add(-time.Nanosecond)
}

// DueDate returns when a request received at received is due under rule: the end of
// the due day in the company's time zone loc, in UTC. The day of receipt is not
// counted, as in Regulation 1182/71: received 15 January is due at the end of
// 15 February (RuleMonth) or 14 February (Rule30Days). An unknown rule is treated as
// RuleEarlier, the safe default. A nil loc means UTC.
func DueDate(received time.Time, rule Rule, loc *time.Location) time.Time {
	loc = orUTC(loc)
	day := dateIn(received, loc)
	month, days := day.addMonths(1), day.addDays(30)
	var due date
	switch rule {
	case RuleMonth:
		due = month
	case Rule30Days:
		due = days
	default:
		due = month
		if days.before(month) {
			due = days
		}
	}
	return due.end(loc).UTC()
}

// Extend returns the extended due date when an agent extends a request received at
// received and first due at due by months (1 or 2) at now. Art. 12(3) allows this
// once, and only within the first month, which Kibo reads as "not after the first due
// date" (never later than one month). The extended deadline is the one-calendar-month
// date after receipt plus months calendar months, clamped to the end of a shorter
// month, at the end of that day in loc; counting from the one-month date rather than
// from receipt keeps it the earlier of the two readings (31 Jan → 28 Feb → 28 Apr,
// not 30 Apr). alreadyExtended is whether the request has an extended due date.
func Extend(received, due, now time.Time, alreadyExtended bool, months int, loc *time.Location) (time.Time, error) {
	loc = orUTC(loc)
	if months < 1 || months > 2 {
		return time.Time{}, fmt.Errorf("%w (asked for %d)", ErrBadExtension, months)
	}
	if alreadyExtended {
		return time.Time{}, ErrAlreadyExtended
	}
	if now.After(due) {
		return time.Time{}, fmt.Errorf("%w (due %s, now %s)", ErrDeadlinePassed,
			due.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	oneMonth := dateIn(received, loc).addMonths(1)
	return oneMonth.addMonths(months).end(loc).UTC(), nil
}

// DaysLeft returns the calendar days in loc from now's date to due's date: 0 on the
// due day, negative once the due day is over. With due at the end of its day,
// DaysLeft < 0 exactly when the request is overdue.
func DaysLeft(due, now time.Time, loc *time.Location) int {
	loc = orUTC(loc)
	return dateIn(due, loc).dayNumber() - dateIn(now, loc).dayNumber()
}

func orUTC(loc *time.Location) *time.Location {
	if loc == nil {
		return time.UTC
	}
	return loc
}
