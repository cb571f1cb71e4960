package gdpr

import (
	"errors"
	"slices"
	"testing"
	"time"
	_ "time/tzdata" // the tests must not depend on the machine's zoneinfo
)

func mustLoc(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t
}

// endOf is the expected due moment: the last nanosecond of the day in loc.
func endOf(y int, m time.Month, d int, loc *time.Location) time.Time {
	return time.Date(y, m, d+1, 0, 0, 0, 0, loc).Add(-time.Nanosecond).UTC()
}

func TestDueDate(t *testing.T) {
	berlin := mustLoc(t, "Europe/Berlin")
	ny := mustLoc(t, "America/New_York")
	tests := []struct {
		name     string
		received time.Time
		rule     Rule
		loc      *time.Location
		want     time.Time
	}{
		{"month, mid-month", utc("2026-01-15T10:00:00Z"), RuleMonth, time.UTC, endOf(2026, 2, 15, time.UTC)},
		{"month, 31 Jan leap year", utc("2024-01-31T10:00:00Z"), RuleMonth, time.UTC, endOf(2024, 2, 29, time.UTC)},
		{"month, 31 Jan common year", utc("2025-01-31T10:00:00Z"), RuleMonth, time.UTC, endOf(2025, 2, 28, time.UTC)},
		{"month, 30 Jan common year", utc("2025-01-30T10:00:00Z"), RuleMonth, time.UTC, endOf(2025, 2, 28, time.UTC)},
		{"month, 29 Feb leap year", utc("2024-02-29T10:00:00Z"), RuleMonth, time.UTC, endOf(2024, 3, 29, time.UTC)},
		{"month, 31 Mar", utc("2026-03-31T08:00:00Z"), RuleMonth, time.UTC, endOf(2026, 4, 30, time.UTC)},
		{"month, 31 Aug", utc("2026-08-31T08:00:00Z"), RuleMonth, time.UTC, endOf(2026, 9, 30, time.UTC)},
		{"month, Dec to Jan", utc("2025-12-15T08:00:00Z"), RuleMonth, time.UTC, endOf(2026, 1, 15, time.UTC)},
		{"month, 31 Dec", utc("2025-12-31T23:00:00Z"), RuleMonth, time.UTC, endOf(2026, 1, 31, time.UTC)},
		{"30 days, mid-month", utc("2026-01-15T10:00:00Z"), Rule30Days, time.UTC, endOf(2026, 2, 14, time.UTC)},
		{"30 days, over Feb in leap year", utc("2024-02-10T10:00:00Z"), Rule30Days, time.UTC, endOf(2024, 3, 11, time.UTC)},
		{"30 days, Dec to Jan", utc("2025-12-20T10:00:00Z"), Rule30Days, time.UTC, endOf(2026, 1, 19, time.UTC)},
		{"earlier, 31-day month picks 30 days", utc("2026-01-15T10:00:00Z"), RuleEarlier, time.UTC, endOf(2026, 2, 14, time.UTC)},
		{"earlier, February picks the month", utc("2025-02-10T10:00:00Z"), RuleEarlier, time.UTC, endOf(2025, 3, 10, time.UTC)},
		{"earlier, 31 Jan leap year", utc("2024-01-31T10:00:00Z"), RuleEarlier, time.UTC, endOf(2024, 2, 29, time.UTC)},
		{"earlier, 31 Jan common year", utc("2025-01-31T10:00:00Z"), RuleEarlier, time.UTC, endOf(2025, 2, 28, time.UTC)},
		{"earlier, 30-day month is a tie", utc("2026-04-10T10:00:00Z"), RuleEarlier, time.UTC, endOf(2026, 5, 10, time.UTC)},
		{"unknown rule is the safe default", utc("2026-01-15T10:00:00Z"), Rule("three weeks?"), time.UTC, endOf(2026, 2, 14, time.UTC)},
		{"empty rule is the safe default", utc("2026-01-15T10:00:00Z"), "", nil, endOf(2026, 2, 14, time.UTC)},
		// 23:30 UTC on 31 March is already 1 April in Berlin (UTC+2 in summer).
		{"Berlin: next day locally", utc("2026-03-31T23:30:00Z"), RuleMonth, berlin, endOf(2026, 5, 1, berlin)},
		{"UTC: same instant is still 31 Mar", utc("2026-03-31T23:30:00Z"), RuleMonth, time.UTC, endOf(2026, 4, 30, time.UTC)},
		{"New York: previous day locally", utc("2026-02-01T03:00:00Z"), RuleMonth, ny, endOf(2026, 2, 28, ny)},
		// Berlin moves to summer time on 29 March 2026 and back on 25 October 2026.
		{"Berlin: received in winter, due in summer", utc("2026-03-10T12:00:00Z"), RuleMonth, berlin, endOf(2026, 4, 10, berlin)},
		{"Berlin: received on the spring-forward day", utc("2026-03-29T01:30:00Z"), RuleMonth, berlin, endOf(2026, 4, 29, berlin)},
		{"Berlin: due on the fall-back day", utc("2026-09-25T09:00:00Z"), RuleMonth, berlin, endOf(2026, 10, 25, berlin)},
		{"Berlin: 30 days across fall-back", utc("2026-10-10T09:00:00Z"), Rule30Days, berlin, endOf(2026, 11, 9, berlin)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := DueDate(tt.received, tt.rule, tt.loc)
			if !got.Equal(tt.want) {
				t.Errorf("DueDate(%s, %q) = %s, want %s", tt.received, tt.rule, got, tt.want)
			}
			if got.Location() != time.UTC {
				t.Errorf("DueDate returned location %s, want UTC", got.Location())
			}
		})
	}
}

// The due moment is the last instant of the due day in the company's zone, whatever
// the offset that day: its local clock reads 23:59:59.999999999.
func TestDueDateIsEndOfLocalDay(t *testing.T) {
	berlin := mustLoc(t, "Europe/Berlin")
	for _, r := range []string{"2026-02-28T10:00:00Z", "2026-03-29T10:00:00Z", "2026-09-25T10:00:00Z", "2026-10-24T22:30:00Z"} {
		due := DueDate(utc(r), RuleMonth, berlin).In(berlin)
		if h, m, s := due.Clock(); h != 23 || m != 59 || s != 59 || due.Nanosecond() != 999999999 {
			t.Errorf("received %s: due %s is not the end of a Berlin day", r, due)
		}
		if next := due.Add(time.Nanosecond); next.Hour() != 0 || next.Minute() != 0 {
			t.Errorf("received %s: one ns after due is %s, want local midnight", r, next)
		}
	}
}

// In zones that spring forward at midnight, the day starts at 01:00; the due moment
// must still be the instant before the next day starts, not an hour later or earlier.
func TestDueDateMidnightDSTGap(t *testing.T) {
	santiago := mustLoc(t, "America/Santiago") // clocks go 23:59:59 → 01:00 on 6 Sep 2026
	due := DueDate(utc("2026-08-05T15:00:00Z"), RuleMonth, santiago)
	local := due.In(santiago)
	if y, m, d := local.Date(); y != 2026 || m != 9 || d != 5 {
		t.Fatalf("due %s, want on 5 September in Santiago", local)
	}
	if next := due.Add(time.Nanosecond).In(santiago); next.Day() != 6 {
		t.Errorf("one ns after due is %s, want 6 September", next)
	}
	// A check against the transition itself: a day starting at 01:00.
	start := date{2026, 9, 6}.start(santiago)
	if got := start.In(santiago); got.Day() != 6 || !start.Add(-time.Nanosecond).In(santiago).Before(start) || start.Add(-time.Nanosecond).In(santiago).Day() != 5 {
		t.Errorf("start of 6 Sep in Santiago = %s", got)
	}
}

// Whatever the receipt time, the default is never later than either rule alone and
// never later than the end of the same date next month.
func TestDueDateNeverLaterThanTheLaw(t *testing.T) {
	berlin := mustLoc(t, "Europe/Berlin")
	for r := utc("2023-12-25T00:17:00Z"); r.Before(utc("2026-03-01T00:00:00Z")); r = r.Add(7*time.Hour + 13*time.Minute) {
		def := DueDate(r, RuleEarlier, berlin)
		month := DueDate(r, RuleMonth, berlin)
		days := DueDate(r, Rule30Days, berlin)
		if def.After(month) || def.After(days) || (!def.Equal(month) && !def.Equal(days)) {
			t.Fatalf("received %s: default %s, month %s, 30 days %s", r, def, month, days)
		}
		local := r.In(berlin)
		limit := time.Date(local.Year(), local.Month()+1, 1, 0, 0, 0, 0, berlin).AddDate(0, 1, 0) // start of the month after next
		if local.Day() <= 28 {
			limit = time.Date(local.Year(), local.Month()+1, local.Day()+1, 0, 0, 0, 0, berlin)
		}
		if !month.Before(limit) {
			t.Fatalf("received %s: month rule %s is not before %s", r, month, limit)
		}
		if !month.After(r) || month.Sub(r) < 27*24*time.Hour {
			t.Fatalf("received %s: month rule %s is too early", r, month)
		}
	}
}

func TestExtend(t *testing.T) {
	berlin := mustLoc(t, "Europe/Berlin")
	received := utc("2026-01-31T09:00:00Z")
	due := DueDate(received, RuleEarlier, berlin) // 28 Feb 2026, end of day
	tests := []struct {
		name     string
		received time.Time
		due      time.Time
		now      time.Time
		already  bool
		months   int
		want     time.Time
		wantErr  error
	}{
		{"two months from the clamped month date", received, due, utc("2026-02-10T09:00:00Z"), false, 2, endOf(2026, 4, 28, berlin), nil},
		{"one month", received, due, utc("2026-02-10T09:00:00Z"), false, 1, endOf(2026, 3, 28, berlin), nil},
		{"on the last day", received, due, endOf(2026, 2, 28, berlin).Add(-time.Hour), false, 2, endOf(2026, 4, 28, berlin), nil},
		{"at the very last instant", received, due, due, false, 2, endOf(2026, 4, 28, berlin), nil},
		{"counts from the month even under the 30-day rule", utc("2026-03-15T10:00:00Z"), DueDate(utc("2026-03-15T10:00:00Z"), Rule30Days, berlin), utc("2026-04-01T10:00:00Z"), false, 2, endOf(2026, 6, 15, berlin), nil},
		{"year wrap", utc("2025-11-30T10:00:00Z"), DueDate(utc("2025-11-30T10:00:00Z"), RuleEarlier, berlin), utc("2025-12-01T10:00:00Z"), false, 2, endOf(2026, 2, 28, berlin), nil},
		{"received late evening UTC, next day in Berlin", utc("2026-03-31T23:30:00Z"), DueDate(utc("2026-03-31T23:30:00Z"), RuleMonth, berlin), utc("2026-04-02T08:00:00Z"), false, 2, endOf(2026, 7, 1, berlin), nil},
		{"one nanosecond late", received, due, due.Add(time.Nanosecond), false, 2, time.Time{}, ErrDeadlinePassed},
		{"a week late", received, due, utc("2026-03-07T09:00:00Z"), false, 1, time.Time{}, ErrDeadlinePassed},
		{"second extension", received, due, utc("2026-02-10T09:00:00Z"), true, 1, time.Time{}, ErrAlreadyExtended},
		{"zero months", received, due, utc("2026-02-10T09:00:00Z"), false, 0, time.Time{}, ErrBadExtension},
		{"three months", received, due, utc("2026-02-10T09:00:00Z"), false, 3, time.Time{}, ErrBadExtension},
		{"negative months", received, due, utc("2026-02-10T09:00:00Z"), false, -1, time.Time{}, ErrBadExtension},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Extend(tt.received, tt.due, tt.now, tt.already, tt.months, berlin)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				if !got.IsZero() {
					t.Errorf("got %s with an error", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !got.Equal(tt.want) {
				t.Errorf("Extend = %s, want %s", got.In(berlin), tt.want.In(berlin))
			}
			// Never more than three calendar months after receipt.
			if limit := DueDate(tt.received, RuleMonth, berlin).AddDate(0, 2, 3); got.After(limit) {
				t.Errorf("extended due %s is after %s", got, limit)
			}
		})
	}
}

func TestDaysLeft(t *testing.T) {
	berlin := mustLoc(t, "Europe/Berlin")
	due := endOf(2026, 4, 30, berlin)
	tests := []struct {
		now  time.Time
		loc  *time.Location
		want int
	}{
		{utc("2026-04-01T10:00:00Z"), berlin, 29},
		{utc("2026-04-23T10:00:00Z"), berlin, 7},
		{utc("2026-04-29T21:59:00Z"), berlin, 1}, // 23:59 on the 29th in Berlin
		{utc("2026-04-29T22:00:00Z"), berlin, 0}, // midnight: the due day
		{due, berlin, 0},                         // last instant
		{due.Add(time.Nanosecond), berlin, -1},   // overdue
		{utc("2026-05-10T10:00:00Z"), berlin, -10},
		{utc("2026-03-20T10:00:00Z"), berlin, 41},  // across the DST change
		{utc("2026-04-29T22:30:00Z"), time.UTC, 1}, // in UTC the due moment is on 30 Apr 21:59
	}
	for _, tt := range tests {
		if got := DaysLeft(due, tt.now, tt.loc); got != tt.want {
			t.Errorf("DaysLeft(%s, %s in %s) = %d, want %d", due, tt.now, tt.loc, got, tt.want)
		}
	}
}

func TestAlertsDue(t *testing.T) {
	berlin := mustLoc(t, "Europe/Berlin")
	received := utc("2026-04-01T08:00:00Z")
	due := DueDate(received, RuleEarlier, berlin) // 1 May 2026 end of day, Berlin

	// A clock ticking every hour from receipt to a week after the due date, with the
	// caller recording what fires, must send each mark once, in order, on time.
	var sent []string
	fired := map[string]time.Time{}
	for now := received; now.Before(due.Add(7 * 24 * time.Hour)); now = now.Add(time.Hour) {
		for _, m := range AlertsDue(due, now, sent) {
			fired[m] = now
			sent = append(sent, m)
		}
	}
	if want := []string{Alert7Days, Alert3Days, Alert1Day, AlertOverdue}; !slices.Equal(sent, want) {
		t.Fatalf("fired %v, want %v", sent, want)
	}
	for mark, lead := range map[string]time.Duration{Alert7Days: 7 * 24 * time.Hour, Alert3Days: 3 * 24 * time.Hour, Alert1Day: 24 * time.Hour, AlertOverdue: 0} {
		at := fired[mark]
		if at.Before(due.Add(-lead)) || !at.Before(due.Add(-lead).Add(time.Hour+time.Nanosecond)) {
			t.Errorf("%s fired at %s, want within the hour after %s", mark, at, due.Add(-lead))
		}
	}

	tests := []struct {
		name string
		now  time.Time
		sent []string
		want []string
	}{
		{"just received", received, nil, nil},
		{"8 days left", due.Add(-8 * 24 * time.Hour), nil, nil},
		{"exactly 7 days left", due.Add(-7 * 24 * time.Hour), nil, []string{Alert7Days}},
		{"7d already sent", due.Add(-5 * 24 * time.Hour), []string{Alert7Days}, nil},
		{"received with 5 days left gets 7d", due.Add(-5 * 24 * time.Hour), nil, []string{Alert7Days}},
		{"received with 2 days left gets 3d only", due.Add(-2 * 24 * time.Hour), nil, []string{Alert3Days}},
		{"after 3d, 7d is never sent", due.Add(-2 * 24 * time.Hour), []string{Alert3Days}, nil},
		{"down for days: only the most urgent", due.Add(-time.Hour), []string{Alert7Days}, []string{Alert1Day}},
		{"at the due instant it is not yet overdue", due, []string{Alert7Days, Alert3Days, Alert1Day}, nil},
		{"overdue", due.Add(time.Nanosecond), []string{Alert7Days, Alert3Days, Alert1Day}, []string{AlertOverdue}},
		{"overdue with nothing sent", due.Add(48 * time.Hour), nil, []string{AlertOverdue}},
		{"overdue sent once", due.Add(72 * time.Hour), []string{AlertOverdue}, nil},
		{"sent in any order", due.Add(72 * time.Hour), []string{AlertOverdue, Alert7Days}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := AlertsDue(due, tt.now, tt.sent); !slices.Equal(got, tt.want) {
				t.Errorf("AlertsDue(now=%s, sent=%v) = %v, want %v", tt.now, tt.sent, got, tt.want)
			}
		})
	}
}
