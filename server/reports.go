package server

import (
	"fmt"
	"html"
	"html/template"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"kibo/connectors"
	"kibo/server/words"
	"kibo/store"
)

// reportRange reads from and to: dates (2026-03-01, both days included, in the business
// time zone) or RFC 3339 times (to excluded). The default is the last 14 days.
func reportRange(c *fiber.Ctx, now time.Time, loc *time.Location) (from, to time.Time, err error) {
	to = store.ReportDay(now, loc, 1)
	from = to.AddDate(0, 0, -14)
	parse := func(name string, end bool) (time.Time, bool, error) {
		v := c.Query(name)
		if v == "" {
			return time.Time{}, false, nil
		}
		if t, err := time.ParseInLocation("2006-01-02", v, loc); err == nil {
			if end {
				t = t.AddDate(0, 0, 1)
			}
			return t, true, nil
		}
		if t, err := time.Parse(time.RFC3339, v); err == nil {
			return t, true, nil
		}
		return time.Time{}, false, errBadRequest("%s must be a date like 2026-03-01 or an RFC 3339 time", name)
	}
	if t, ok, err := parse("from", false); err != nil {
		return from, to, err
	} else if ok {
		from = t
	}
	if t, ok, err := parse("to", true); err != nil {
		return from, to, err
	} else if ok {
		to = t
	}
	return from, to, nil
}

// report computes the figures of the range the request asks for, in the business
// time zone, which it returns too.
func (s *Server) report(c *fiber.Ctx) (*store.Report, *time.Location, error) {
	ctx := c.UserContext()
	loc := s.store.BusinessLocation(ctx)
	from, to, err := reportRange(c, s.cfg.Now(), loc)
	if err != nil {
		return nil, nil, err
	}
	r, err := s.store.Report(ctx, from, to, loc)
	return r, loc, err
}

// GET /api/v1/reports?from=&to=: the figures as JSON.
func (s *Server) reportsJSON(c *fiber.Ctx) error {
	r, _, err := s.report(c)
	if err != nil {
		return err
	}
	return c.JSON(r)
}

// GET /reports: the same figures as a page, charts drawn by the server.
func (s *Server) reportsPage(c *fiber.Ctx) error {
	r, loc, err := s.report(c)
	if err != nil {
		return err
	}
	lb := labels{s.cfg.Channels}
	type row struct {
		Name          string
		Count         int
		Median, P90   string
		MedianS, P90S int64
	}
	rows := func(list []store.TimeStat, byChannel bool) []row {
		out := []row{}
		for _, st := range list {
			name := st.Name
			if byChannel {
				name = lb.name(st.Channel)
			}
			out = append(out, row{name, st.Count, words.Duration(st.MedianSeconds), words.Duration(st.P90Seconds), st.MedianSeconds, st.P90Seconds})
		}
		return out
	}
	totals := []row{}
	for _, ch := range r.Channels {
		convs, msgs := r.ChannelTotals(ch)
		totals = append(totals, row{Name: lb.name(ch), Count: convs, MedianS: int64(msgs)})
	}
	return s.render(c, fiber.StatusOK, "reports.html", "Reports", map[string]any{
		"Report": r, "From": r.From.In(loc).Format("2006-01-02"), "To": r.To.In(loc).AddDate(0, 0, -1).Format("2006-01-02"),
		"VolumeChart":   volumeChart(r, lb),
		"FirstResponse": row{"All", r.FirstResponse.Overall.Count, words.Duration(r.FirstResponse.Overall.MedianSeconds), words.Duration(r.FirstResponse.Overall.P90Seconds), 0, 0},
		"Resolution":    row{"All", r.Resolution.Overall.Count, words.Duration(r.Resolution.Overall.MedianSeconds), words.Duration(r.Resolution.Overall.P90Seconds), 0, 0},
		"FRByChannel":   rows(r.FirstResponse.ByChannel, true), "FRByAgent": rows(r.FirstResponse.ByAgent, false),
		"ResByChannel": rows(r.Resolution.ByChannel, true), "ResByAgent": rows(r.Resolution.ByAgent, false),
		"FRChart":  timeChart(r.FirstResponse.ByChannel, lb),
		"ResChart": timeChart(r.Resolution.ByChannel, lb),
		"Totals":   totals, "ChannelNames": lb.names(r.Channels),
	})
}

// labels are the channels' names and colours in a report, as their descriptors give
// them (a channel this Kibo no longer runs shows by its kind, in grey).
type labels struct{ reg *connectors.Registry }

func (l labels) name(kind string) string {
	if ch, ok := l.reg.Lookup(kind); ok && ch.Title != "" {
		return ch.Title
	}
	return kind
}

func (l labels) color(kind string) string {
	if ch, ok := l.reg.Lookup(kind); ok && ch.Color != "" {
		return ch.Color
	}
	return "#94a3b8"
}

// names are the names of the kinds a report shows, for its template.
func (l labels) names(kinds []string) map[string]string {
	out := map[string]string{}
	for _, k := range kinds {
		out[k] = l.name(k)
	}
	return out
}

// volumeChart draws new conversations per day as bars stacked by channel.
func volumeChart(r *store.Report, lb labels) template.HTML {
	const w, h, left, bottom, top = 720, 240, 36, 28, 10
	n := len(r.Days)
	if n == 0 {
		return ""
	}
	maxDay := 1
	for i := range r.Days {
		t := 0
		for _, ch := range r.Channels {
			t += r.Conversations[ch][i]
		}
		maxDay = max(maxDay, t)
	}
	plotW, plotH := float64(w-left-4), float64(h-bottom-top)
	slot := plotW / float64(n)
	barW := max(1, slot*0.7)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %d %d" role="img" aria-label="New conversations per day, by channel" preserveAspectRatio="xMidYMid meet">`, w, h)
	// grid: 0, half, max
	for _, v := range []int{0, maxDay / 2, maxDay} {
		y := top + plotH - plotH*float64(v)/float64(maxDay)
		fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#e3e7ee"/><text x="%d" y="%.1f" font-size="11" text-anchor="end" fill="#5f6b7a">%d</text>`,
			left, w-4, y, y, left-6, y+4, v)
	}
	labelEvery := max(1, n/10)
	for i, day := range r.Days {
		x := float64(left) + slot*float64(i) + (slot-barW)/2
		y := float64(top) + plotH
		total := 0
		for _, ch := range r.Channels {
			v := r.Conversations[ch][i]
			if v == 0 {
				continue
			}
			total += v
			bh := plotH * float64(v) / float64(maxDay)
			y -= bh
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s %s: %d</title></rect>`,
				x, y, barW, bh, lb.color(ch), html.EscapeString(day), html.EscapeString(lb.name(ch)), v)
		}
		if i%labelEvery == 0 {
			fmt.Fprintf(&b, `<text x="%.1f" y="%d" font-size="11" text-anchor="middle" fill="#5f6b7a">%s</text>`, x+barW/2, h-10, html.EscapeString(day[5:]))
		}
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// timeChart draws the median and 90th percentile per channel as horizontal bars.
func timeChart(stats []store.TimeStat, lb labels) template.HTML {
	if len(stats) == 0 {
		return ""
	}
	const w, rowH, left = 720, 34, 90
	h := rowH*len(stats) + 8
	var maxS int64 = 1
	for _, st := range stats {
		maxS = max(maxS, st.P90Seconds)
	}
	scale := float64(w-left-90) / float64(maxS)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %d %d" role="img" aria-label="Median and 90th percentile by channel">`, w, h)
	for i, st := range stats {
		y := 4 + i*rowH
		fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="12" text-anchor="end" fill="#1c2330">%s</text>`, left-8, y+17, html.EscapeString(lb.name(st.Channel)))
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%.1f" height="10" fill="%s" opacity="0.35"><title>90th percentile %s</title></rect>`,
			left, y+4, max(1, float64(st.P90Seconds)*scale), lb.color(st.Channel), words.Duration(st.P90Seconds))
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%.1f" height="10" fill="%s"><title>median %s</title></rect>`,
			left, y+16, max(1, float64(st.MedianSeconds)*scale), lb.color(st.Channel), words.Duration(st.MedianSeconds))
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" font-size="11" fill="#5f6b7a">%s / %s</text>`,
			float64(left)+max(1, float64(st.P90Seconds)*scale)+6, y+17, words.Duration(st.MedianSeconds), words.Duration(st.P90Seconds))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// GET /incidents: the admin page to declare and update incidents and see how far
// they reached.
func (s *Server) incidentsPage(c *fiber.Ctx) error {
	return s.render(c, fiber.StatusOK, "incidents.html", "Incidents", nil)
}
