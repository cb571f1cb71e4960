package server

import (
	"context"
	"time"

	"github.com/gofiber/fiber/v2"

	"kibo/server/incidents"
	"kibo/server/words"
	"kibo/store"
)

// The public status page reads only the store: it keeps answering while the mail
// server, the platforms or the company's own site are down, which is when it matters.

// statusHistoryDays is how far back the page lists past incidents.
const statusHistoryDays = 90

type statusData struct {
	State     string // operational | degraded | outage | maintenance
	Active    []*store.Incident
	Upcoming  []*store.Incident
	History   []*store.Incident
	UpdatedAt time.Time
}

func (s *Server) statusData(ctx context.Context) (*statusData, error) {
	now := s.cfg.Now()
	list, err := s.store.Incidents(ctx, store.IncidentFilter{Since: now.AddDate(0, 0, -statusHistoryDays), Limit: 100})
	if err != nil {
		return nil, err
	}
	d := &statusData{State: "operational", UpdatedAt: now.UTC()}
	rank := map[string]int{"operational": 0, "maintenance": 1, "degraded": 2, "outage": 3}
	for _, inc := range list {
		inc.Phase = inc.PhaseAt(now)
		switch inc.Phase {
		case "active":
			d.Active = append(d.Active, inc)
			st := inc.Impact
			if inc.State == "scheduled" {
				st = "maintenance"
			}
			if rank[st] > rank[d.State] {
				d.State = st
			}
		case "upcoming":
			d.Upcoming = append(d.Upcoming, inc)
		default:
			if end := inc.EndedAt(); end == nil || end.After(now.AddDate(0, 0, -statusHistoryDays)) {
				d.History = append(d.History, inc)
			}
		}
	}
	return d, nil
}

// GET /status.json: {"state","incidents":[active and upcoming],"history":[...]}.
func (s *Server) statusJSON(c *fiber.Ctx) error {
	d, err := s.statusData(c.UserContext())
	if err != nil {
		return err
	}
	pub := func(list []*store.Incident) []map[string]any {
		out := make([]map[string]any, 0, len(list))
		for _, inc := range list {
			p := s.incidents.Public(inc)
			if end := inc.EndedAt(); end != nil {
				p["ended_at"] = end
				p["duration_seconds"] = int64(end.Sub(inc.StartedAt()) / time.Second)
			}
			out = append(out, p)
		}
		return out
	}
	c.Set(fiber.HeaderCacheControl, "public, max-age=15")
	c.Set("Access-Control-Allow-Origin", "*")
	return c.JSON(fiber.Map{"state": d.State, "updated_at": d.UpdatedAt,
		"incidents": pub(append(append([]*store.Incident{}, d.Active...), d.Upcoming...)), "history": pub(d.History)})
}

// statusIncident is an incident as the page writes it.
type statusIncident struct {
	Title, State, StateWord, Impact string
	Services                        []string
	Started, Ended, ETA, Duration   string
	Window                          string
	Updates                         []statusUpdate
}

type statusUpdate struct{ When, StateWord, Text string }

// GET /status: plain HTML, no JavaScript, for any screen.
func (s *Server) statusPage(c *fiber.Ctx) error {
	ctx := c.UserContext()
	d, err := s.statusData(ctx)
	if err != nil {
		return err
	}
	loc := s.store.BusinessLocation(ctx)
	when := func(t time.Time) string { return words.When(t, loc) }
	view := func(list []*store.Incident) []statusIncident {
		out := make([]statusIncident, 0, len(list))
		for _, inc := range list {
			v := statusIncident{Title: inc.Title, State: inc.State, StateWord: incidents.StateWords[inc.State], Impact: inc.Impact,
				Services: inc.Services, Started: when(inc.StartedAt())}
			if inc.State == "scheduled" && inc.ScheduledStart != nil && inc.ScheduledEnd != nil {
				v.Window = when(*inc.ScheduledStart) + " – " + when(*inc.ScheduledEnd)
			}
			if inc.ETA != nil && inc.Phase != "past" {
				v.ETA = when(*inc.ETA)
			}
			if end := inc.EndedAt(); end != nil {
				v.Ended = when(*end)
				v.Duration = words.Duration(int64(end.Sub(inc.StartedAt()) / time.Second))
			} else if inc.Phase == "active" {
				v.Duration = words.Duration(int64(s.cfg.Now().Sub(inc.StartedAt()) / time.Second))
			}
			for _, u := range inc.Updates {
				v.Updates = append(v.Updates, statusUpdate{When: when(u.CreatedAt), StateWord: incidents.StateWords[u.State], Text: u.Text})
			}
			out = append(out, v)
		}
		return out
	}
	words := map[string]string{
		"operational": "All systems operational", "degraded": "Some services are degraded",
		"outage": "We are having an outage", "maintenance": "Planned maintenance in progress",
	}
	c.Set(fiber.HeaderCacheControl, "public, max-age=15")
	return s.render(c, fiber.StatusOK, "status.html", "Status", map[string]any{
		"Company": s.store.CompanyName(ctx), "State": d.State, "StateText": words[d.State],
		"Active": view(d.Active), "Upcoming": view(d.Upcoming), "History": view(d.History),
		"UpdatedAt": when(d.UpdatedAt), "HistoryDays": statusHistoryDays,
	})
}
