package server

import (
	"net/url"
	"strings"

	"github.com/gofiber/fiber/v2"

	"kibo/server/alerts"
	"kibo/store"
)

// The alerts raised to the team (server/alerts), and the team's webhook.

// GET /api/v1/alerts: the latest alerts raised to the team, and whether a webhook is set.
func (s *Server) listAlerts(c *fiber.Ctx) error {
	ctx := c.UserContext()
	list, err := s.store.TeamAlerts(ctx, 100)
	if err != nil {
		return err
	}
	settings, err := s.store.Settings(ctx, "alert_webhook_url")
	if err != nil {
		return err
	}
	if a := currentAgent(c); a == nil || !a.IsAdmin() {
		// a channel's error names hosts and addresses: the admins' to read
		for _, al := range list {
			if i := strings.Index(al.Text, alerts.ChannelDownWords); al.Kind == "channel_down" && i >= 0 {
				al.Text = al.Text[:i] + " has stopped working."
			}
		}
	}
	// the URL is a secret (write-only, like an inbox's tokens)
	return c.JSON(fiber.Map{"alerts": list, "webhook_url_set": settings["alert_webhook_url"] != ""})
}

// PATCH /api/v1/alerts (admin): {"webhook_url":"https://..."} ("" removes it).
func (s *Server) patchAlerts(c *fiber.Ctx) error {
	var body struct {
		WebhookURL *string `json:"webhook_url"`
	}
	if err := decodeBody(c, &body); err != nil {
		return err
	}
	if body.WebhookURL == nil {
		return errBadRequest("send {\"webhook_url\":\"https://...\"} (an empty string removes it)")
	}
	u := strings.TrimSpace(*body.WebhookURL)
	if u != "" {
		p, err := url.Parse(u)
		if err != nil || (p.Scheme != "https" && p.Scheme != "http") || p.Host == "" {
			return &store.ValidationError{Message: "webhook_url must be an http or https URL"}
		}
		// checked again on every call, on the address actually dialled
		if err := s.hosts().CheckURL(c.UserContext(), u); err != nil {
			return &store.ValidationError{Message: "webhook_url: " + err.Error()}
		}
	}
	if err := s.store.SetAlertWebhookURL(c.UserContext(), u, currentAgent(c).ID); err != nil {
		return err
	}
	return s.listAlerts(c)
}
