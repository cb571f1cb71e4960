package server

import (
	"context"
	"errors"
	"time"

	"github.com/gofiber/fiber/v2"

	"kibo/connectors"
)

// webhook takes a platform's call for an inbox, at /webhooks/{kind}/{inbox}; the
// inbox's connector answers it (connectors.Webhook). GET is the verification
// handshake. A POST's signature is checked over the raw body, then the body is parsed
// and stored before processing, so a crash in between loses nothing (it is processed
// again at start); a malformed body is refused with 400 and stores nothing.
func (s *Server) webhook(c *fiber.Ctx) error {
	kind := c.Params("kind")
	id, err := paramID(c, "inbox")
	if err != nil {
		return err
	}
	ctx := c.UserContext()
	in, err := s.store.Inbox(ctx, id)
	if err != nil || in.Kind != kind {
		return errNotFound("inbox %d is not a %s inbox", id, kind)
	}
	conn, err := s.channels.get(ctx, id)
	if err != nil {
		return &apiError{fiber.StatusServiceUnavailable, "unavailable", err.Error()}
	}
	hook, ok := conn.(connectors.Webhook)
	if !ok {
		return errNotFound("inbox %d takes no webhooks", id)
	}
	if c.Method() == fiber.MethodGet {
		answer, err := hook.Handshake(queryValues(c))
		switch {
		case errors.Is(err, connectors.ErrMalformed):
			return errBadRequest("%v", err)
		case err != nil:
			return errForbidden(err.Error())
		}
		c.Set("X-Content-Type-Options", "nosniff")
		return sendAnswer(c, answer)
	}
	body := append([]byte(nil), c.Body()...)
	if err := hook.Verify(func(name string) string { return c.Get(name) }, body); err != nil {
		return errForbidden(err.Error())
	}
	events, err := hook.Parse(body)
	if err != nil {
		return errBadRequest("%v", err)
	}
	rawID, err := s.store.StoreWebhook(ctx, id, kind+"-webhook", body)
	if err != nil {
		return err
	}
	s.processWebhook(rawID, func(ctx context.Context) error { return hook.Deliver(ctx, sink{s}, events) })
	for _, r := range events.Receipts {
		s.hub.Ephemeral(map[string]any{"type": "receipt", "inbox_id": id, "kind": r.Kind, "external_ids": r.ExternalIDs, "watermark": r.Watermark}, nil)
	}
	return sendAnswer(c, events.Ack)
}

func sendAnswer(c *fiber.Ctx, a connectors.WebhookAnswer) error {
	if a.ContentType != "" {
		c.Set(fiber.HeaderContentType, a.ContentType)
	}
	if len(a.Body) == 0 {
		return c.SendStatus(fiber.StatusOK)
	}
	return c.Send(a.Body)
}

// processWebhook turns a stored webhook body into messages, then forgets the body
// (each message keeps its own raw part). A failure leaves the body for the retry at
// the next start.
func (s *Server) processWebhook(rawID int64, process func(ctx context.Context) error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := process(ctx); err != nil {
		s.log.Warn("webhook processing failed; kept for retry", "raw", rawID, "err", err)
		return
	}
	if err := s.store.ForgetWebhook(ctx, rawID); err != nil {
		s.log.Warn("forget processed webhook", "raw", rawID, "err", err)
	}
}

// replayWebhooks processes webhook bodies stored but not processed before a crash.
func (s *Server) replayWebhooks(ctx context.Context) {
	pending, err := s.store.PendingWebhooks(ctx)
	if err != nil {
		s.log.Warn("pending webhooks", "err", err)
		return
	}
	for _, p := range pending {
		conn, err := s.channels.get(ctx, p.InboxID)
		if err != nil {
			continue
		}
		hook, ok := conn.(connectors.Webhook)
		if !ok {
			continue
		}
		if events, err := hook.Parse(p.Body); err == nil {
			s.processWebhook(p.ID, func(ctx context.Context) error { return hook.Deliver(ctx, sink{s}, events) })
		}
	}
}

func queryValues(c *fiber.Ctx) map[string][]string {
	out := map[string][]string{}
	c.Context().QueryArgs().VisitAll(func(k, v []byte) {
		out[string(k)] = append(out[string(k)], string(v))
	})
	return out
}
