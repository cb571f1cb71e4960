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
	var raw map[string]json.RawMessage
	if err := decodeBody(c, &raw); err != nil {
		return err
	}
	p, err := s.store.SLAPolicy(ctx)
	if err != nil {
		return err
	}
	for key, v := range raw {
		var err error
		switch key {
		case "targets":
			var t map[string]store.SLATarget
			if err = json.Unmarshal(v, &t); err == nil {
				for prio, target := range t {
					p.Targets[prio] = target
				}
			}
		case "business_hours":
			var bh *store.BusinessHours
			if err = json.Unmarshal(v, &bh); err == nil {
				p.BusinessHours = bh
			}
		case "warn_percent":
			err = json.Unmarshal(v, &p.WarnPercent)
		default:
			return errBadRequest("%q is not part of the SLA policy: use targets, business_hours or warn_percent", key)
		}
		if err != nil {
			return errBadRequest("%s: %v", key, err)
		}
	}
	if err := s.store.SetSLAPolicy(ctx, p, currentAgent(c).ID); err != nil {
		return err
	}
	s.dueTimes.Refresh(ctx, nil)
	return c.JSON(p)
}
