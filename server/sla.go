package server

import (
	"context"
	"encoding/json"
	"time"

	"github.com/gofiber/fiber/v2"

	"kibo/store"
)

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
	s.refreshSLA(ctx, nil)
	return c.JSON(p)
}

// refreshSLA computes due times: of the given conversations, and of all still waiting
// (new, changed priority, new policy), a batch at a time.
func (s *Server) refreshSLA(ctx context.Context, work []store.SLAWork) {
	for i := 0; i < 100; i++ {
		n, err := s.store.RefreshSLA(ctx, work, 500)
		if err != nil {
			if ctx.Err() == nil {
				s.log.Warn("compute SLA due times", "err", err)
			}
			return
		}
		if n < 500 {
			return
		}
		work = nil
	}
}

// slaAfterUpdate is the hook of the conversation PATCH: a changed priority changes the
// due times at once. It returns the conversation as it now is.
func (s *Server) slaAfterUpdate(ctx context.Context, conv *store.Conversation, agentID int64) *store.Conversation {
	s.refreshSLA(ctx, []store.SLAWork{{ConversationID: conv.ID}})
	if c, err := s.store.Conversation(ctx, conv.ID, agentID); err == nil {
		return c
	}
	return conv
}

// opsLoop sweeps, every opsInterval, the due times the follow-up work of inbound
// messages has not computed (priority changes, a changed policy) and runs the alert
// checks.
func (s *Server) opsLoop(ctx context.Context) {
	t := time.NewTicker(opsInterval)
	defer t.Stop()
	s.runOpsChecks(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.ops.alertKick:
			s.sendAlertWebhooks(ctx)
		case <-t.C:
			s.runOpsChecks(ctx)
		}
	}
}

// runOpsChecks is one round of the periodic work; tests call it with a fake clock.
func (s *Server) runOpsChecks(ctx context.Context) {
	s.refreshSLA(ctx, nil)
	s.refreshIncidents(ctx)
	s.announceTimeChanges()
	s.checkSLAAlerts(ctx)
	s.checkVolumeSpike(ctx)
	s.checkChannels(ctx)
	s.sendDailySummary(ctx)
	s.sendAlertWebhooks(ctx)
}
