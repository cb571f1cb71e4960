package store

import (
	"context"
	"database/sql"
	"math"
	"sort"
	"time"
)

// Report is the team's figures for a date range: the volume per channel and day, and
// how fast conversations were answered and resolved, per agent and per channel.
//
// Volume counts conversations created (new tickets) and messages customers sent, by
// day in the report's time zone. Response and resolution times are those of the
// conversations created in the range, in wall-clock time: first response is the first
// public reply of an agent (automatic messages do not count), resolution is until the
// conversation was last resolved (those still unresolved are left out). A first
// response is the agent's who wrote it; a resolution is the assignee's.
type Report struct {
	From     time.Time `json:"from"`
	To       time.Time `json:"to"`
	TimeZone string    `json:"time_zone"`
	Days     []string  `json:"days"`
	Channels []string  `json:"channels"`
	// Conversations and Messages are per channel, one number per day.
	Conversations      map[string][]int `json:"conversations"`
	Messages           map[string][]int `json:"messages"`
	TotalConversations int              `json:"total_conversations"`
	TotalMessages      int              `json:"total_messages"`
	FirstResponse      TimeFigures      `json:"first_response"`
	Resolution         TimeFigures      `json:"resolution"`
	// Breaches is how many of the range's conversations missed an SLA target.
	Breaches int `json:"sla_breaches"`
}

// ChannelTotals are a channel's conversations and messages over the whole range.
func (r *Report) ChannelTotals(ch string) (conversations, messages int) {
	for _, n := range r.Conversations[ch] {
		conversations += n
	}
	for _, n := range r.Messages[ch] {
		messages += n
	}
	return conversations, messages
}

// TimeFigures are durations summed up overall, per channel and per agent.
type TimeFigures struct {
	Overall   TimeStat   `json:"overall"`
	ByChannel []TimeStat `json:"by_channel"`
	ByAgent   []TimeStat `json:"by_agent"`
}

// TimeStat is the median and 90th percentile (nearest rank) of Count durations.
type TimeStat struct {
	Channel       string `json:"channel,omitempty"`
	AgentID       int64  `json:"agent_id,omitempty"`
	Name          string `json:"name,omitempty"`
	Count         int    `json:"count"`
	MedianSeconds int64  `json:"median_seconds"`
	P90Seconds    int64  `json:"p90_seconds"`
}

// Percentile is the nearest-rank percentile p (0 < p ≤ 1) of sorted durations: the
// smallest value at least p of them do not exceed.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

func timeStat(ds []time.Duration) TimeStat {
	sort.Slice(ds, func(a, b int) bool { return ds[a] < ds[b] })
	return TimeStat{Count: len(ds), MedianSeconds: int64(Percentile(ds, 0.5) / time.Second), P90Seconds: int64(Percentile(ds, 0.9) / time.Second)}
}

// ReportDay is the start of the day of t in loc, moved by days: the boundaries a
// report counts its days by (a range of whole days is ReportDay(first, loc, 0) to
// ReportDay(last, loc, 1)).
func ReportDay(t time.Time, loc *time.Location, days int) time.Time {
	y, m, d := t.In(loc).Date()
	return time.Date(y, m, d+days, 0, 0, 0, 0, loc)
}

// MaxReportDays bounds a report's range.
const MaxReportDays = 366

// Report computes the figures for [from, to) with days in loc (four statements).
func (s *Store) Report(ctx context.Context, from, to time.Time, loc *time.Location) (*Report, error) {
	if loc == nil {
		loc = time.UTC
	}
	if !to.After(from) {
		return nil, invalid("the report's end must be after its start")
	}
	if to.Sub(from) > MaxReportDays*24*time.Hour {
		return nil, invalid("a report covers at most %d days", MaxReportDays)
	}
	r := &Report{From: from.UTC(), To: to.UTC(), TimeZone: loc.String(), Conversations: map[string][]int{}, Messages: map[string][]int{},
		FirstResponse: TimeFigures{ByChannel: []TimeStat{}, ByAgent: []TimeStat{}}, Resolution: TimeFigures{ByChannel: []TimeStat{}, ByAgent: []TimeStat{}}}
	dayIndex := map[string]int{}
	for d := from; d.Before(to); d = ReportDay(d, loc, 1) {
		key := ReportDay(d, loc, 0).Format("2006-01-02")
		if _, ok := dayIndex[key]; !ok {
			dayIndex[key] = len(r.Days)
			r.Days = append(r.Days, key)
		}
	}
	channels := map[string]bool{}
	// Counted per UTC hour in SQL and put into local days here: exact for every zone
	// whose offset is whole hours.
	count := func(q string, into map[string][]int, total *int) error {
		rows, err := s.query(ctx, q, formatTime(from), formatTime(to))
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var hour, kind string
			var n int
			if err := rows.Scan(&hour, &kind, &n); err != nil {
				return err
			}
			t, err := time.Parse("2006-01-02T15", hour)
			if err != nil {
				continue
			}
			if t.Before(from) {
				t = from
			}
			i, ok := dayIndex[t.In(loc).Format("2006-01-02")]
			if !ok {
				continue
			}
			if into[kind] == nil {
				into[kind] = make([]int, len(r.Days))
			}
			into[kind][i] += n
			*total += n
			channels[kind] = true
		}
		return rows.Err()
	}
	if err := count(`SELECT substr(c.created_at, 1, 13), i.kind, COUNT(*) FROM conversations c JOIN inboxes i ON i.id = c.inbox_id
		WHERE c.created_at >= ? AND c.created_at < ? AND c.deleted_at IS NULL GROUP BY 1, 2`, r.Conversations, &r.TotalConversations); err != nil {
		return nil, err
	}
	if err := count(`SELECT substr(m.created_at, 1, 13), i.kind, COUNT(*) FROM messages m JOIN inboxes i ON i.id = m.inbox_id
		WHERE m.direction = 'in' AND m.created_at >= ? AND m.created_at < ? GROUP BY 1, 2`, r.Messages, &r.TotalMessages); err != nil {
		return nil, err
	}

	rows, err := s.query(ctx, `SELECT i.kind, c.created_at, c.first_response_at, CASE WHEN c.status = 'resolved' THEN c.resolved_at END,
			COALESCE(c.assignee_id, 0),
			COALESCE((SELECT m.author_id FROM messages m WHERE m.conversation_id = c.id AND m.direction = 'out' AND m.author_kind = 'agent' AND m.private = 0
				ORDER BY m.id LIMIT 1), 0),
			COALESCE(`+slaBreachedSQL+`, 0)
		FROM conversations c JOIN inboxes i ON i.id = c.inbox_id
		WHERE c.created_at >= ? AND c.created_at < ? AND c.deleted_at IS NULL`, formatTime(s.Now()), formatTime(from), formatTime(to))
	if err != nil {
		return nil, err
	}
	frAll, resAll := []time.Duration{}, []time.Duration{}
	frCh, resCh := map[string][]time.Duration{}, map[string][]time.Duration{}
	frAg, resAg := map[int64][]time.Duration{}, map[int64][]time.Duration{}
	for rows.Next() {
		var kind, created string
		var first, resolved sql.NullString
		var assignee, responder int64
		var breached bool
		if err := rows.Scan(&kind, &created, &first, &resolved, &assignee, &responder, &breached); err != nil {
			rows.Close()
			return nil, err
		}
		channels[kind] = true
		c := parseTime(created)
		if breached {
			r.Breaches++
		}
		if first.Valid {
			d := parseTime(first.String).Sub(c)
			frAll = append(frAll, d)
			frCh[kind] = append(frCh[kind], d)
			frAg[responder] = append(frAg[responder], d)
		}
		if resolved.Valid {
			d := parseTime(resolved.String).Sub(c)
			resAll = append(resAll, d)
			resCh[kind] = append(resCh[kind], d)
			resAg[assignee] = append(resAg[assignee], d)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	names := map[int64]string{0: "Unassigned"}
	agents, err := s.Agents(ctx)
	if err != nil {
		return nil, err
	}
	for _, a := range agents {
		names[a.ID] = a.Name
	}
	for k := range channels {
		r.Channels = append(r.Channels, k)
	}
	sort.Strings(r.Channels)
	for _, k := range r.Channels {
		if r.Conversations[k] == nil {
			r.Conversations[k] = make([]int, len(r.Days))
		}
		if r.Messages[k] == nil {
			r.Messages[k] = make([]int, len(r.Days))
		}
	}
	figures := func(all []time.Duration, byCh map[string][]time.Duration, byAg map[int64][]time.Duration) TimeFigures {
		f := TimeFigures{Overall: timeStat(all), ByChannel: []TimeStat{}, ByAgent: []TimeStat{}}
		for _, k := range r.Channels {
			if ds := byCh[k]; len(ds) > 0 {
				st := timeStat(ds)
				st.Channel = k
				f.ByChannel = append(f.ByChannel, st)
			}
		}
		for id, ds := range byAg {
			st := timeStat(ds)
			st.AgentID, st.Name = id, names[id]
			if st.Name == "" {
				st.Name = "Agent " + itoa(id)
			}
			f.ByAgent = append(f.ByAgent, st)
		}
		sort.Slice(f.ByAgent, func(a, b int) bool { return f.ByAgent[a].Name < f.ByAgent[b].Name })
		return f
	}
	r.FirstResponse = figures(frAll, frCh, frAg)
	r.Resolution = figures(resAll, resCh, resAg)
	if r.Channels == nil {
		r.Channels = []string{}
	}
	if r.Days == nil {
		r.Days = []string{}
	}
	return r, nil
}

// OpenDataRequests counts the data requests not yet answered (for the daily summary);
// 0 when there are none.
func (s *Store) OpenDataRequests(ctx context.Context) (open, overdue int, err error) {
	err = s.queryRow(ctx, `SELECT COUNT(*), COALESCE(SUM(COALESCE(extended_due_at, due_at) < ?), 0) FROM data_requests
		WHERE status IN ('open', 'verifying', 'extended')`, formatTime(s.Now())).Scan(&open, &overdue)
	return open, overdue, err
}
