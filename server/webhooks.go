package server

import (
	"context"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"kibo/connectors"
	"kibo/connectors/messenger"
	"kibo/connectors/x"
	"kibo/store"
)

// registerSocialChannels adds the Messenger and X connectors to the channel registry.
func (s *Server) registerSocialChannels() {
	s.channels.register("messenger", func(in *store.Inbox, report func(bool, error)) (connectors.Connector, error) {
		str := func(k string) string { v, _ := in.Settings[k].(string); return v }
		return messenger.New(messenger.Config{
			PageID: str("page_id"), PageAccessToken: str("page_access_token"), AppSecret: str("app_secret"),
			VerifyToken: str("verify_token"), GraphBaseURL: str("graph_base_url"), OnStatus: report,
			AllowPrivateHosts: s.cfg.AllowPrivateHosts,
		})
	})
	s.channels.register("x", func(in *store.Inbox, report func(bool, error)) (connectors.Connector, error) {
		str := func(k string) string { v, _ := in.Settings[k].(string); return v }
		poll, _ := time.ParseDuration(str("poll_interval"))
		return x.New(x.Config{
			InboxID: in.ID, UserID: str("user_id"), ConsumerKey: str("consumer_key"), ConsumerSecret: str("consumer_secret"),
			AccessToken: str("access_token"), AccessSecret: str("access_secret"), APIBaseURL: str("api_base_url"),
			PollInterval: poll, OnStatus: report, AllowPrivateHosts: s.cfg.AllowPrivateHosts,
		})
	})
}

// webhook takes a platform's call for an inbox: the verification handshake on GET;
// on POST the signature over the raw body, then the events. The raw body is stored
// before processing, so a crash in between loses nothing (it is processed again at
// start); malformed JSON is refused with 400 and stores nothing.
func (s *Server) webhook(c *fiber.Ctx) error {
	kind := "messenger"
	if strings.HasPrefix(c.Path(), "/webhooks/x/") {
		kind = "x"
	}
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
	switch ch := conn.(type) {
	case *messenger.Connector:
		if c.Method() == fiber.MethodGet {
			challenge, ok := ch.Challenge(queryValues(c))
			if !ok {
				return errForbidden("the verify token does not match, or hub.challenge is not a plain token")
			}
			c.Set("X-Content-Type-Options", "nosniff")
			c.Type("txt")
			return c.SendString(challenge)
		}
		body := append([]byte(nil), c.Body()...)
		if !ch.VerifyWebhook(c.Get(messenger.SignatureHeader), body) {
			return errForbidden("the X-Hub-Signature-256 signature does not match")
		}
		events, err := messenger.ParseWebhook(id, body)
		if err != nil {
			return errBadRequest("%v", err)
		}
		rawID, err := s.store.StoreWebhook(ctx, id, "messenger-webhook", body)
		if err != nil {
			return err
		}
		s.processWebhook(rawID, func(ctx context.Context) error { return ch.DeliverMessages(ctx, sink{s}, events) })
		for _, r := range events.Receipts {
			s.hub.Ephemeral(map[string]any{"type": "receipt", "inbox_id": id, "kind": r.Kind, "external_ids": r.MIDs, "watermark": r.Watermark}, nil)
		}
		return c.SendString("EVENT_RECEIVED")
	case *x.Connector:
		if c.Method() == fiber.MethodGet {
			token := c.Query("crc_token")
			if token == "" {
				return errBadRequest("crc_token is missing")
			}
			answer, err := ch.CRC(token)
			if err != nil {
				return errBadRequest("%v", err)
			}
			return c.JSON(fiber.Map{"response_token": answer})
		}
		body := append([]byte(nil), c.Body()...)
		if !ch.VerifyWebhook(c.Get(x.SignatureHeader), body) {
			return errForbidden("the x-twitter-webhooks-signature does not match")
		}
		msgs, err := ch.ParseWebhook(body)
		if err != nil {
			return errBadRequest("%v", err)
		}
		rawID, err := s.store.StoreWebhook(ctx, id, "x-webhook", body)
		if err != nil {
			return err
		}
		s.processWebhook(rawID, func(ctx context.Context) error {
			for _, m := range msgs {
				if _, err := (sink{s}).Deliver(ctx, m); err != nil {
					return err
				}
			}
			return nil
		})
		return c.SendStatus(fiber.StatusOK)
	}
	return errNotFound("inbox %d takes no webhooks", id)
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
		switch ch := conn.(type) {
		case *messenger.Connector:
			if ev, err := messenger.ParseWebhook(p.InboxID, p.Body); err == nil {
				s.processWebhook(p.ID, func(ctx context.Context) error { return ch.DeliverMessages(ctx, sink{s}, ev) })
			}
		case *x.Connector:
			if msgs, err := ch.ParseWebhook(p.Body); err == nil {
				s.processWebhook(p.ID, func(ctx context.Context) error {
					for _, m := range msgs {
						if _, err := (sink{s}).Deliver(ctx, m); err != nil {
							return err
						}
					}
					return nil
				})
			}
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
