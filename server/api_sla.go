package server

import (
	"encoding/json"

	"github.com/gofiber/fiber/v2"

	"kibo/store"
)

// The SLA policy; the due times it sets are kept by server/sla.

// GET /api/v1/sla: the policy in force.
func (s *Server) getSLA(c *fiber.Ctx) error {
	p, err := s.store.SLAPolicy(c.UserContext())
	if err != nil {
		return err
	}
	return c.JSON(p)
}

// PATCH /api/v1/sla (admin): any of {"targets":{"urgent":{"first_response_minutes":60,
// "resolution_minutes":240},...}, "business_hours":{...}|null, "warn_percent":80}. A
// priority named in targets is replaced; the others stay. Every unresolved
// conversation's due times are computed again.
func (s *Server) patchSLA(c *fiber.Ctx) error {
	ctx := c.UserContext()
	p, err := s.store.SLAPolicy(ctx)
	if err != nil {
		return err
	}
	err = decodePatch(c, patchFields{
		"targets": func(v json.RawMessage) error {
			var t map[string]store.SLATarget
			err := json.Unmarshal(v, &t)
			if err == nil {
				for prio, target := range t {
					p.Targets[prio] = target
				}
			}
			return err
		},
		"business_hours": func(v json.RawMessage) error {
			var bh *store.BusinessHours
			err := json.Unmarshal(v, &bh)
			if err == nil {
				p.BusinessHours = bh
			}
			return err
		},
		"warn_percent": into(&p.WarnPercent),
	}, "%q is not part of the SLA policy: use targets, business_hours or warn_percent")
	if err != nil {
		return err
	}
	if err := s.store.SetSLAPolicy(ctx, p, currentAgent(c).ID); err != nil {
		return err
	}
	s.dueTimes.Refresh(ctx, nil)
	return c.JSON(p)
}
