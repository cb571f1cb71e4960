package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // business hours name a zone; a minimal host may have no zoneinfo
)

// ---- policy

// SLATarget is what a priority promises, in minutes of business time; 0 is no target.
type SLATarget struct {
	FirstResponseMinutes int `json:"first_response_minutes"`
	ResolutionMinutes    int `json:"resolution_minutes"`
}

// BusinessHours is when the clock of an SLA runs: the same hours on every working
// weekday, in one time zone, except holidays.
type BusinessHours struct {
	TimeZone string `json:"time_zone"` // IANA name, "Europe/Berlin"
	// Weekdays are the working days, 0 = Sunday … 6 = Saturday.
	Weekdays []int  `json:"weekdays"`
	Start    string `json:"start"` // "09:00"
	End      string `json:"end"`   // "17:30"; "24:00" is the end of the day
	// Holidays are dates ("2026-12-25") in the time zone when the clock stops.
	Holidays []string `json:"holidays"`

	loc                *time.Location
	startMin, endMin   int
	weekdaySet         [7]bool
	holidaySet         map[string]bool
	compiledFromFields string
}

// SLAPolicy is the team's promise per priority. It lives in settings as JSON.
type SLAPolicy struct {
	Targets map[string]SLATarget `json:"targets"`
	// BusinessHours nil: the clock runs around the clock.
	BusinessHours *BusinessHours `json:"business_hours"`
	// WarnPercent is how much of a target may pass before the team is warned (80).
	WarnPercent int `json:"warn_percent"`
}

const slaSettingKey = "sla_policy"

// DefaultSLAPolicy is the policy until an admin sets one: round the clock, targets a
// small team can keep.
func DefaultSLAPolicy() *SLAPolicy {
	return &SLAPolicy{
		Targets: map[string]SLATarget{
			"urgent": {FirstResponseMinutes: 60, ResolutionMinutes: 4 * 60},
			"high":   {FirstResponseMinutes: 4 * 60, ResolutionMinutes: 24 * 60},
			"normal": {FirstResponseMinutes: 8 * 60, ResolutionMinutes: 3 * 24 * 60},
			"low":    {FirstResponseMinutes: 24 * 60, ResolutionMinutes: 7 * 24 * 60},
		},
		WarnPercent: 80,
	}
}

// Validate checks a policy and prepares its business hours.
func (p *SLAPolicy) Validate() error {
	if p.Targets == nil {
		p.Targets = map[string]SLATarget{}
	}
	for prio, t := range p.Targets {
		if !oneOf(prio, Priorities) {
			return invalid("targets: %q is not a priority (%s)", prio, strings.Join(Priorities, ", "))
		}
		if t.FirstResponseMinutes < 0 || t.ResolutionMinutes < 0 {
			return invalid("targets: %s: minutes can't be negative", prio)
		}
		if t.FirstResponseMinutes > 366*24*60 || t.ResolutionMinutes > 366*24*60 {
			return invalid("targets: %s: a target longer than a year is no target", prio)
		}
	}
	if p.WarnPercent == 0 {
		p.WarnPercent = 80
	}
	if p.WarnPercent < 1 || p.WarnPercent > 99 {
		return invalid("warn_percent must be between 1 and 99")
	}
	if p.BusinessHours != nil {
		return p.BusinessHours.compile()
	}
	return nil
}

func parseClock(s string) (int, bool) {
	h, m, ok := strings.Cut(s, ":")
	if !ok {
		return 0, false
	}
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if err1 != nil || err2 != nil || hh < 0 || mm < 0 || mm > 59 || hh > 24 || (hh == 24 && mm != 0) {
		return 0, false
	}
	return hh*60 + mm, true
}

// compile checks business hours and prepares them for AddBusinessTime.
func (h *BusinessHours) compile() error {
	key := fmt.Sprint(h.TimeZone, h.Weekdays, h.Start, h.End, h.Holidays)
	if h.loc != nil && h.compiledFromFields == key {
		return nil
	}
	if h.TimeZone == "" {
		h.TimeZone = "UTC"
	}
	loc, err := time.LoadLocation(h.TimeZone)
	if err != nil {
		return invalid("business_hours: unknown time zone %q (use an IANA name like Europe/Berlin)", h.TimeZone)
	}
	start, ok1 := parseClock(h.Start)
	end, ok2 := parseClock(h.End)
	if !ok1 || !ok2 {
		return invalid("business_hours: start and end are times like 09:00 and 17:30")
	}
	if end <= start {
		return invalid("business_hours: end must be after start")
	}
	if len(h.Weekdays) == 0 {
		return invalid("business_hours: name at least one working weekday (0 = Sunday … 6 = Saturday)")
	}
	var days [7]bool
	for _, d := range h.Weekdays {
		if d < 0 || d > 6 {
			return invalid("business_hours: weekday %d is not 0 (Sunday) … 6 (Saturday)", d)
		}
		days[d] = true
	}
	hol := map[string]bool{}
	for _, d := range h.Holidays {
		if _, err := time.Parse("2006-01-02", d); err != nil {
			return invalid("business_hours: holiday %q is not a date like 2026-12-25", d)
		}
		hol[d] = true
	}
	h.loc, h.startMin, h.endMin, h.weekdaySet, h.holidaySet, h.compiledFromFields = loc, start, end, days, hol, key
	return nil
}

// Location is the business time zone (UTC without business hours).
func (p *SLAPolicy) Location() *time.Location {
	if p != nil && p.BusinessHours != nil && p.BusinessHours.compile() == nil {
		return p.BusinessHours.loc
	}
	return time.UTC
}

// AddBusinessTime returns the moment d of business time after start: only the hours of
// working days that are not holidays count. Without business hours (nil) it is
// start+d. Business time is measured in real elapsed time, so a business day that
// spans a daylight-saving change is an hour shorter or longer, as its clocks say.
func AddBusinessTime(start time.Time, d time.Duration, h *BusinessHours) time.Time {
	if d <= 0 {
		return start.UTC()
	}
	if h == nil {
		return start.Add(d).UTC()
	}
	if h.compile() != nil {
		return start.Add(d).UTC()
	}
	t := start.In(h.loc)
	remaining := d
	// ten years of days bounds the loop whatever the calendar
	for i := 0; i < 3700; i++ {
		y, m, day := t.Date()
		if h.weekdaySet[t.Weekday()] && !h.holidaySet[fmt.Sprintf("%04d-%02d-%02d", y, m, day)] {
			open := time.Date(y, m, day, h.startMin/60, h.startMin%60, 0, 0, h.loc)
			closeAt := time.Date(y, m, day+h.endMin/(24*60), (h.endMin/60)%24, h.endMin%60, 0, 0, h.loc)
			if t.Before(open) {
				t = open
			}
			if t.Before(closeAt) {
				avail := closeAt.Sub(t)
				if remaining <= avail {
					return t.Add(remaining).UTC()
				}
				remaining -= avail
			}
		}
		t = time.Date(y, m, day+1, 0, 0, 0, 0, h.loc)
	}
	return t.UTC()
}

// ---- settings

// settingJSON reads one JSON setting into v; found is false when it was never set.
func (s *Store) settingJSON(ctx context.Context, key string, v any) (found bool, err error) {
	var raw string
	err = s.queryRow(ctx, `SELECT value FROM settings WHERE key = ?`, key).Scan(&raw)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return true, json.Unmarshal([]byte(raw), v)
}

func (t *Tx) putSettingJSON(ctx context.Context, key string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = t.exec(ctx, `INSERT INTO settings(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value`, key, string(b))
	return err
}

// SLAPolicy returns the policy in force (the default until an admin sets one).
func (s *Store) SLAPolicy(ctx context.Context) (*SLAPolicy, error) {
	p := &SLAPolicy{}
	found, err := s.settingJSON(ctx, slaSettingKey, p)
	if err != nil {
		return nil, err
	}
	if !found {
		p = DefaultSLAPolicy()
	}
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("the stored SLA policy: %w", err)
	}
	return p, nil
}

// BusinessLocation is the time zone of the business hours: what customers, the status
// page and reports read times in. UTC when none is set, or when the policy can't be
// read (a time written in UTC is still right).
func (s *Store) BusinessLocation(ctx context.Context) *time.Location {
	if p, err := s.SLAPolicy(ctx); err == nil {
		return p.Location()
	}
	return time.UTC
}

// SetSLAPolicy stores a policy and marks every unresolved conversation for its due
// times to be computed again (RefreshSLA does it).
func (s *Store) SetSLAPolicy(ctx context.Context, p *SLAPolicy, actorID int64) error {
	if err := p.Validate(); err != nil {
		return err
	}
	return s.tx(ctx, func(tx *Tx) error {
		if err := tx.putSettingJSON(ctx, slaSettingKey, p); err != nil {
			return err
		}
		if _, err := tx.exec(ctx, `UPDATE conversations SET sla_priority = NULL WHERE status <> 'resolved' AND deleted_at IS NULL`); err != nil {
			return err
		}
		return tx.audit(ctx, "agent", actorID, "sla.update", "setting", slaSettingKey, p)
	})
}

// ---- due times

// SLAStatus is a conversation's standing against its targets, as the inbox shows it.
type SLAStatus struct {
	FirstResponseDueAt *time.Time `json:"first_response_due_at"`
	ResolutionDueAt    *time.Time `json:"resolution_due_at"`
	// NextDueAt is the earliest target not yet met (nil when none is pending).
	NextDueAt  *time.Time `json:"next_due_at"`
	BreachedAt *time.Time `json:"breached_at"`
}

// SLAWork asks for a conversation's due times to be (re)computed; Reopened restarts the
// resolution clock at that moment (the customer wrote again after a resolution).
type SLAWork struct {
	ConversationID int64
	Reopened       *time.Time
}

// RefreshSLA computes the due times of the given conversations, and of every
// unresolved one not computed yet or whose priority changed, up to limit in all. It
// returns how many it computed.
func (s *Store) RefreshSLA(ctx context.Context, work []SLAWork, limit int) (int, error) {
	p, err := s.SLAPolicy(ctx)
	if err != nil {
		return 0, err
	}
	if limit <= 0 {
		limit = 500
	}
	reopened := map[int64]time.Time{}
	ids := make([]int64, 0, len(work))
	for _, w := range work {
		ids = append(ids, w.ConversationID)
		if w.Reopened != nil {
			reopened[w.ConversationID] = *w.Reopened
		}
	}
	n := 0
	err = s.tx(ctx, func(tx *Tx) error {
		rows, err := tx.query(ctx, `SELECT id, priority, created_at, COALESCE(sla_started_at, created_at) FROM conversations
			WHERE id IN (SELECT value FROM json_each(?)) AND deleted_at IS NULL
			UNION
			SELECT id, priority, created_at, COALESCE(sla_started_at, created_at) FROM (
				SELECT id, priority, created_at, sla_started_at FROM conversations WHERE sla_priority IS NULL AND status <> 'resolved' AND deleted_at IS NULL LIMIT ?)
			UNION
			SELECT id, priority, created_at, COALESCE(sla_started_at, created_at) FROM (
				SELECT id, priority, created_at, sla_started_at FROM conversations INDEXED BY conversations_sla_stale
				WHERE sla_priority <> priority AND status IN ('open', 'pending', 'snoozed') AND deleted_at IS NULL LIMIT ?)`,
			jsonIDs(ids), limit, limit)
		if err != nil {
			return err
		}
		type row struct {
			id                 int64
			prio, created, clk string
		}
		var todo []row
		for rows.Next() {
			var r row
			if err := rows.Scan(&r.id, &r.prio, &r.created, &r.clk); err != nil {
				rows.Close()
				return err
			}
			todo = append(todo, r)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, r := range todo {
			clock := parseTime(r.clk)
			if at, ok := reopened[r.id]; ok {
				clock = at
			}
			d := p.dueTimes(parseTime(r.created), clock, r.prio)
			if _, err := tx.exec(ctx, `UPDATE conversations SET sla_priority = ?, sla_started_at = ?,
				first_response_due_at = ?, first_response_warn_at = ?, resolution_due_at = ?, resolution_warn_at = ? WHERE id = ?`,
				r.prio, formatTime(clock), nullTime(d.frDue), nullTime(d.frWarn), nullTime(d.resDue), nullTime(d.resWarn), r.id); err != nil {
				return err
			}
			if _, ok := reopened[r.id]; ok {
				// a new resolution clock: its warning and breach may be raised again
				if _, err := tx.exec(ctx, `UPDATE conversations SET sla_alerts = REPLACE(REPLACE(sla_alerts, ',rw,', ','), ',rb,', ',') WHERE id = ?`, r.id); err != nil {
					return err
				}
			}
			n++
		}
		return nil
	})
	return n, err
}

type dueTimes struct{ frDue, frWarn, resDue, resWarn *time.Time }

// dueTimes computes the targets of a conversation created at created whose resolution
// clock started at clock.
func (p *SLAPolicy) dueTimes(created, clock time.Time, priority string) dueTimes {
	t := p.Targets[priority]
	var d dueTimes
	at := func(from time.Time, minutes int, share int) *time.Time {
		if minutes <= 0 {
			return nil
		}
		v := AddBusinessTime(from, time.Duration(minutes)*time.Minute*time.Duration(share)/100, p.BusinessHours)
		return &v
	}
	d.frDue, d.frWarn = at(created, t.FirstResponseMinutes, 100), at(created, t.FirstResponseMinutes, p.WarnPercent)
	d.resDue, d.resWarn = at(clock, t.ResolutionMinutes, 100), at(clock, t.ResolutionMinutes, p.WarnPercent)
	return d
}

// slaNextDue is the earliest pending target of a conversation c, as SQL.
const slaNextDue = `(CASE WHEN c.status = 'resolved' THEN NULL
	WHEN c.first_response_at IS NULL AND c.first_response_due_at IS NOT NULL
		AND (c.resolution_due_at IS NULL OR c.first_response_due_at < c.resolution_due_at) THEN c.first_response_due_at
	ELSE c.resolution_due_at END)`

// SLASelectColumns are the SLA columns of a conversation c, for conversationSelect;
// scanSLA reads them.
const SLASelectColumns = `c.first_response_due_at, c.resolution_due_at, c.sla_breached_at, ` + slaNextDue

func scanSLA(frDue, resDue, breached, next sql.NullString) *SLAStatus {
	return &SLAStatus{FirstResponseDueAt: parseNullTime(frDue), ResolutionDueAt: parseNullTime(resDue),
		BreachedAt: parseNullTime(breached), NextDueAt: parseNullTime(next)}
}

// slaBreachedSQL is true for a conversation c that has missed a target, even before
// the alert worker has marked it (the ? is now).
const slaBreachedSQL = `(c.sla_breached_at IS NOT NULL OR (c.status <> 'resolved' AND ` + slaNextDue + ` <= ?))`

// slaDueSoonSQL is true for a conversation c past the warning share of a pending target
// but not yet breached (the three ? are now).
const slaDueSoonSQL = `(c.status <> 'resolved' AND c.sla_breached_at IS NULL AND ` + slaNextDue + ` > ? AND (
	(c.first_response_at IS NULL AND c.first_response_warn_at <= ?) OR c.resolution_warn_at <= ?))`

// SLAFilter returns the WHERE clause (on conversations c) and its arguments for the
// inbox's sla= filter: "breached" or "due_soon".
func SLAFilter(sla string, now time.Time) (string, []any, error) {
	n := formatTime(now)
	switch sla {
	case "":
		return "", nil, nil
	case "breached":
		return slaBreachedSQL, []any{n}, nil
	case "due_soon":
		return slaDueSoonSQL, []any{n, n, n}, nil
	}
	return "", nil, invalid("sla must be breached or due_soon, not %q", sla)
}

// SLADueOrder is the ORDER BY of the inbox's sort=due: the earliest pending target first,
// conversations without one last. Its keyset cursor is SLADueCursor.
const SLADueOrder = `COALESCE(` + slaNextDue + `, '9999') ASC, c.id ASC`

// SLADueAfter is the keyset condition for the page after a cursor of sort=due (the three
// ? are the cursor's due key, twice, and id).
const SLADueAfter = `(COALESCE(` + slaNextDue + `, '9999') > ? OR (COALESCE(` + slaNextDue + `, '9999') = ? AND c.id > ?))`

// SLADueCursor is the cursor after a conversation in sort=due order.
func SLADueCursor(c *Conversation) string {
	key := "9999"
	if c.SLA != nil && c.SLA.NextDueAt != nil {
		key = formatTime(*c.SLA.NextDueAt)
	}
	return encodeCursor(key, c.ID)
}

// ConversationIDsByDue lists unresolved conversations with a pending target, the most
// urgent first (sla: "", "breached" or "due_soon"). The inbox list query uses the same
// clauses; this is for callers that want only ids (reports, the daily summary).
func (s *Store) ConversationIDsByDue(ctx context.Context, sla string, limit int) ([]int64, error) {
	clause, args, err := SLAFilter(sla, s.Now())
	if err != nil {
		return nil, err
	}
	where := "c.deleted_at IS NULL AND c.status <> 'resolved' AND " + slaNextDue + " IS NOT NULL"
	if clause != "" {
		where += " AND " + clause
	}
	if limit <= 0 {
		limit = 200
	}
	rows, err := s.query(ctx, `SELECT c.id FROM conversations c WHERE `+where+` ORDER BY `+SLADueOrder+` LIMIT ?`, append(args, limit)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []int64{}
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

// ---- breaches

// SLAAlertMark names an SLA alert: first response or resolution, warning or breach.
type SLAAlertMark string

const (
	SLAFirstResponseWarn   SLAAlertMark = "fw"
	SLAFirstResponseBreach SLAAlertMark = "fb"
	SLAResolutionWarn      SLAAlertMark = "rw"
	SLAResolutionBreach    SLAAlertMark = "rb"
)

// SLAAlertDue is a conversation that has just crossed a warning or a due time.
type SLAAlertDue struct {
	ConversationID int64
	Number         int64
	Subject        string
	Priority       string
	AssigneeID     int64
	Mark           SLAAlertMark
	DueAt          time.Time
}

// SLAAlertsDue finds the SLA alerts to raise at now and records them on their
// conversations (so each goes out once), marking breaches on the way: a conversation
// that is past a due time with that target unmet gets sla_breached_at. When a breach
// and its warning are due together only the breach is returned; a target met late is
// marked breached without an alert (there is nothing left to do about it); since
// bounds the search for those to what was answered or resolved after it. Only open
// conversations are alerted on: a pending or snoozed one is waiting for the customer,
// and is alerted on when it opens again.
func (s *Store) SLAAlertsDue(ctx context.Context, now, since time.Time, limit int) ([]SLAAlertDue, error) {
	if limit <= 0 {
		limit = 200
	}
	n := formatTime(now)
	var out []SLAAlertDue
	err := s.tx(ctx, func(tx *Tx) error {
		// met late (since the last sweep): mark, no alert
		if _, err := tx.exec(ctx, `UPDATE conversations SET sla_breached_at = (SELECT MIN(v) FROM (
				SELECT CASE WHEN first_response_at > first_response_due_at THEN first_response_due_at END AS v
				UNION ALL SELECT CASE WHEN status = 'resolved' AND resolved_at > resolution_due_at THEN resolution_due_at END))
			WHERE id IN (SELECT id FROM conversations INDEXED BY conversations_first_response WHERE first_response_at >= ?
				UNION SELECT id FROM conversations INDEXED BY conversations_resolved WHERE resolved_at >= ?)
				AND sla_breached_at IS NULL AND deleted_at IS NULL AND sla_priority IS NOT NULL AND (
				first_response_at > first_response_due_at OR (status = 'resolved' AND resolved_at > resolution_due_at))`,
			formatTime(since), formatTime(since)); err != nil {
			return err
		}
		rows, err := tx.query(ctx, `SELECT id, number, subject, priority, COALESCE(assignee_id, 0), sla_alerts,
				first_response_at IS NULL, first_response_due_at, first_response_warn_at, resolution_due_at, resolution_warn_at
			FROM conversations
			WHERE id IN (
				SELECT id FROM conversations INDEXED BY conversations_sla_fr_watch
				WHERE status = 'open' AND first_response_at IS NULL AND sla_alerts NOT LIKE '%,fb,%' AND first_response_warn_at <= ?
				UNION
				SELECT id FROM conversations INDEXED BY conversations_sla_res_watch
				WHERE status = 'open' AND sla_alerts NOT LIKE '%,rb,%' AND resolution_warn_at <= ?)
				AND deleted_at IS NULL AND sla_priority IS NOT NULL
			ORDER BY id LIMIT ?`, n, n, limit)
		if err != nil {
			return err
		}
		type row struct {
			a                            SLAAlertDue
			marks                        string
			noReply                      bool
			frDue, frWarn, resDue, resWn sql.NullString
		}
		var rs []row
		for rows.Next() {
			var r row
			if err := rows.Scan(&r.a.ConversationID, &r.a.Number, &r.a.Subject, &r.a.Priority, &r.a.AssigneeID, &r.marks,
				&r.noReply, &r.frDue, &r.frWarn, &r.resDue, &r.resWn); err != nil {
				rows.Close()
				return err
			}
			rs = append(rs, r)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, r := range rs {
			marks := r.marks
			has := func(m SLAAlertMark) bool { return strings.Contains(marks, ","+string(m)+",") }
			add := func(m SLAAlertMark) {
				if marks == "" {
					marks = ","
				}
				marks += string(m) + ","
			}
			past := func(ns sql.NullString) bool { return ns.Valid && ns.String <= n }
			var breachedAt *time.Time
			check := func(pending bool, warn, due sql.NullString, wm, bm SLAAlertMark) {
				if !pending || has(bm) {
					return
				}
				switch {
				case past(due):
					add(bm)
					if !has(wm) {
						add(wm)
					}
					a := r.a
					a.Mark, a.DueAt = bm, parseTime(due.String)
					out = append(out, a)
					if breachedAt == nil || a.DueAt.Before(*breachedAt) {
						t := a.DueAt
						breachedAt = &t
					}
				case past(warn) && !has(wm):
					add(wm)
					a := r.a
					a.Mark, a.DueAt = wm, parseTime(due.String)
					out = append(out, a)
				}
			}
			check(r.noReply, r.frWarn, r.frDue, SLAFirstResponseWarn, SLAFirstResponseBreach)
			check(true, r.resWn, r.resDue, SLAResolutionWarn, SLAResolutionBreach)
			if marks == r.marks {
				continue
			}
			if _, err := tx.exec(ctx, `UPDATE conversations SET sla_alerts = ?, sla_breached_at = COALESCE(sla_breached_at, ?) WHERE id = ?`,
				marks, nullTime(breachedAt), r.a.ConversationID); err != nil {
				return err
			}
		}
		return nil
	})
	slices.SortFunc(out, func(a, b SLAAlertDue) int { return a.DueAt.Compare(b.DueAt) })
	return out, err
}
