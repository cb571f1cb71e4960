package server

import (
	"bytes"
	"encoding/json"
	"time"

	"github.com/gofiber/fiber/v2"

	"kibo/store"
)

// incidentView is an incident as agents see it: with its delivery figures when asked
// for one.
type incidentView struct {
	*store.Incident
	Delivery *store.IncidentDelivery `json:"delivery,omitempty"`
}

// Incidents as agents declare and follow them; telling customers is server/incidents'
// (the widgets, the status page's data, the fan-out to every channel, the auto-reply).

// GET /api/v1/incidents: open incidents first, then upcoming maintenance, then history.
func (s *Server) listIncidents(c *fiber.Ctx) error {
	limit, err := queryLimit(c, 100, 500)
	if err != nil {
		return err
	}
	list, err := s.store.Incidents(c.UserContext(), store.IncidentFilter{Limit: limit})
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"incidents": list, "next_cursor": ""})
}

// GET /api/v1/incidents/{id}: with updates and delivery figures.
func (s *Server) getIncident(c *fiber.Ctx) error {
	id, err := paramID(c, "id")
	if err != nil {
		return err
	}
	return s.sendIncident(c, id, fiber.StatusOK)
}

func (s *Server) sendIncident(c *fiber.Ctx, id int64, status int) error {
	ctx := c.UserContext()
	inc, err := s.store.Incident(ctx, id)
	if err != nil {
		return err
	}
	st, err := s.store.IncidentDeliveryStats(ctx, id)
	if err != nil {
		return err
	}
	return c.Status(status).JSON(incidentView{inc, st})
}

// optionalTime reads an RFC 3339 time that may be absent, null or "" (clear).
func optionalTime(raw json.RawMessage, name string) (t *time.Time, clear bool, err error) {
	if raw == nil {
		return nil, false, nil
	}
	if bytes.Equal(bytes.TrimSpace(raw), []byte("null")) || bytes.Equal(bytes.TrimSpace(raw), []byte(`""`)) {
		return nil, true, nil
	}
	var v time.Time
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, false, errBadRequest("%s must be an RFC 3339 time like 2026-03-01T15:00:00Z", name)
	}
	return &v, false, nil
}

// POST /api/v1/incidents (admin): {"title","state","impact","eta","message","audience",
// "services":[...],"scheduled_start","scheduled_end"}.
func (s *Server) createIncident(c *fiber.Ctx) error {
	var body struct {
		Title          string          `json:"title"`
		State          string          `json:"state"`
		Impact         string          `json:"impact"`
		Message        string          `json:"message"`
		Audience       string          `json:"audience"`
		Services       []string        `json:"services"`
		ETA            json.RawMessage `json:"eta"`
		ScheduledStart json.RawMessage `json:"scheduled_start"`
		ScheduledEnd   json.RawMessage `json:"scheduled_end"`
	}
	if err := decodeBody(c, &body); err != nil {
		return err
	}
	in := store.IncidentInput{Title: body.Title, State: body.State, Impact: body.Impact, Message: body.Message, Audience: body.Audience, Services: body.Services}
	var err error
	if in.ETA, _, err = optionalTime(body.ETA, "eta"); err != nil {
		return err
	}
	if in.ScheduledStart, _, err = optionalTime(body.ScheduledStart, "scheduled_start"); err != nil {
		return err
	}
	if in.ScheduledEnd, _, err = optionalTime(body.ScheduledEnd, "scheduled_end"); err != nil {
		return err
	}
	ctx := c.UserContext()
	inc, upd, err := s.store.CreateIncident(ctx, in, currentAgent(c).ID)
	if err != nil {
		return err
	}
	s.incidents.Changed(ctx, inc, upd)
	return s.sendIncident(c, inc.ID, fiber.StatusCreated)
}

// POST /api/v1/incidents/{id}/updates (admin): {"text","state","eta"} (eta null clears it;
// absent keeps it).
func (s *Server) addIncidentUpdate(c *fiber.Ctx) error {
	id, err := paramID(c, "id")
	if err != nil {
		return err
	}
	var body struct {
		Text  string          `json:"text"`
		State string          `json:"state"`
		ETA   json.RawMessage `json:"eta"`
	}
	if err := decodeBody(c, &body); err != nil {
		return err
	}
	in := store.IncidentUpdateInput{Text: body.Text, State: body.State}
	if in.ETA, in.ClearETA, err = optionalTime(body.ETA, "eta"); err != nil {
		return err
	}
	ctx := c.UserContext()
	inc, upd, err := s.store.AddIncidentUpdate(ctx, id, in, currentAgent(c).ID)
	if err != nil {
		return err
	}
	s.incidents.Changed(ctx, inc, upd)
	return s.sendIncident(c, id, fiber.StatusCreated)
}
