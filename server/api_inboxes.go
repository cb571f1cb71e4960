package server

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/gofiber/fiber/v2"

	"kibo/connectors"
	"kibo/store"
)

// Inboxes: every answer about a kind comes from its channel's descriptor
// (connectors.Channel): its settings' rules and secrets, its snippet, its webhook.

// maskSettings replaces every secret by whether it is set. A secret key is secret at
// any depth (e-mail's imap.password and smtp.password).
func maskSettings(v map[string]any, secret func(key string) bool) map[string]any {
	out := make(map[string]any, len(v))
	for k, x := range v {
		switch {
		case secret(k):
			str, _ := x.(string)
			out[k] = str != ""
		default:
			if m, ok := x.(map[string]any); ok {
				out[k] = maskSettings(m, secret)
			} else {
				out[k] = x
			}
		}
	}
	return out
}

// mergeSettings applies a PATCH: a secret that is missing or sent as true/false keeps
// its stored value.
func mergeSettings(old, patch map[string]any, secret func(key string) bool) map[string]any {
	out := make(map[string]any, len(old))
	for k, v := range old {
		out[k] = v
	}
	for k, v := range patch {
		if secret(k) {
			if _, isBool := v.(bool); isBool || v == nil {
				continue
			}
		}
		if m, ok := v.(map[string]any); ok {
			if om, ok := out[k].(map[string]any); ok {
				out[k] = mergeSettings(om, m, secret)
				continue
			}
		}
		out[k] = v
	}
	return out
}

// secrets tells the secret keys of a channel. An inbox of a kind this Kibo does not
// run (a channel taken out of cmd/kibo) has all its settings treated as secret: no
// descriptor says which are not.
func secrets(ch *connectors.Channel) func(key string) bool {
	if ch == nil {
		return func(string) bool { return true }
	}
	return func(key string) bool { return slices.Contains(ch.Secrets, key) || slices.Contains(ch.Generated, key) }
}

type inboxView struct {
	ID         int64          `json:"id"`
	Kind       string         `json:"kind"`
	Name       string         `json:"name"`
	Settings   map[string]any `json:"settings"`
	State      string         `json:"state"`
	LastError  string         `json:"last_error"`
	PublicKey  string         `json:"public_key,omitempty"`
	Snippet    string         `json:"snippet,omitempty"`
	WebhookURL string         `json:"webhook_url,omitempty"`
	// shownOnce are secrets Kibo has just made (the chat's identity_secret), shown in
	// the answer that made them and never again; each is a field of its own
	shownOnce map[string]string
}

func (v inboxView) MarshalJSON() ([]byte, error) {
	type plain inboxView
	b, err := json.Marshal(plain(v))
	if err != nil || len(v.shownOnce) == 0 {
		return b, err
	}
	once, err := json.Marshal(v.shownOnce)
	if err != nil {
		return nil, err
	}
	return append(append(b[:len(b)-1], ','), once[1:]...), nil
}

// Connection errors name hosts, addresses and what the resolver said: admins see them
// (and the log keeps them); agents see these sentences instead.
const (
	agentInboxDown    = "This channel can't connect right now. An admin can see why in Settings → Inboxes."
	agentInboxProblem = "This channel reported a problem. An admin can see what in Settings → Inboxes."
)

func (s *Server) viewInbox(c *fiber.Ctx, in *store.Inbox) inboxView {
	ch, _ := s.channels.registry.Lookup(in.Kind)
	v := inboxView{ID: in.ID, Kind: in.Kind, Name: in.Name, Settings: maskSettings(in.Settings, secrets(ch)), State: in.State, LastError: in.LastError}
	if a := currentAgent(c); (a == nil || !a.IsAdmin()) && v.LastError != "" {
		v.LastError = agentInboxProblem
		if in.State == "error" {
			v.LastError = agentInboxDown
		}
	}
	if ch == nil {
		return v
	}
	base := s.baseURL(c)
	if ch.Snippet != nil {
		v.PublicKey = in.PublicKey
		v.Snippet = ch.Snippet(base, in.PublicKey)
	}
	if ch.Webhook {
		v.WebhookURL = fmt.Sprintf("%s/webhooks/%s/%d", base, in.Kind, in.ID)
	}
	return v
}

func (s *Server) listInboxes(c *fiber.Ctx) error {
	list, err := s.store.Inboxes(c.UserContext())
	if err != nil {
		return err
	}
	out := make([]inboxView, 0, len(list))
	for _, in := range list {
		out = append(out, s.viewInbox(c, in))
	}
	return c.JSON(fiber.Map{"inboxes": out})
}

func (s *Server) getInbox(c *fiber.Ctx) error {
	id, err := paramID(c, "id")
	if err != nil {
		return err
	}
	in, err := s.store.Inbox(c.UserContext(), id)
	if err != nil {
		return err
	}
	return c.JSON(s.viewInbox(c, in))
}

// inboxChannel is an inbox and the descriptor of its kind.
func (s *Server) inboxChannel(ctx context.Context, id int64) (*store.Inbox, *connectors.Channel, error) {
	in, err := s.store.Inbox(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	ch, err := s.channels.channel(in.Kind)
	return in, ch, err
}

// validateInbox checks settings by their channel's rules, hosts included.
func (s *Server) validateInbox(c *fiber.Ctx, ch *connectors.Channel, settings map[string]any) error {
	if ch.Validate == nil {
		return nil
	}
	if err := ch.Validate(c.UserContext(), settings, s.hosts()); err != nil {
		return errUnprocessable(err.Error())
	}
	return nil
}

func (s *Server) createInbox(c *fiber.Ctx) error {
	var body struct {
		Kind     string         `json:"kind"`
		Name     string         `json:"name"`
		Settings map[string]any `json:"settings"`
	}
	if err := decodeBody(c, &body); err != nil {
		return err
	}
	if body.Settings == nil {
		body.Settings = map[string]any{}
	}
	ch, err := s.channels.channel(body.Kind)
	if err != nil {
		return err
	}
	if err := s.validateInbox(c, ch, body.Settings); err != nil {
		return err
	}
	publicKey := ""
	if ch.Snippet != nil {
		publicKey = NewSecret(18)
	}
	// shown once: the page that made the inbox copies them where they are used
	once := map[string]string{}
	for _, k := range ch.Generated {
		once[k] = NewSecret(32)
		body.Settings[k] = once[k]
	}
	ctx := c.UserContext()
	in, err := s.store.CreateInbox(ctx, body.Kind, body.Name, publicKey, body.Settings)
	if err != nil {
		return err
	}
	s.store.Audit(ctx, "agent", currentAgent(c).ID, "inbox.create", "inbox", fmt.Sprint(in.ID), map[string]any{"kind": in.Kind, "name": in.Name})
	s.channels.restart(in)
	v := s.viewInbox(c, in)
	v.shownOnce = once
	return c.Status(fiber.StatusCreated).JSON(v)
}

func (s *Server) updateInbox(c *fiber.Ctx) error {
	id, err := paramID(c, "id")
	if err != nil {
		return err
	}
	var body struct {
		Name     *string        `json:"name"`
		Settings map[string]any `json:"settings"`
	}
	if err := decodeBody(c, &body); err != nil {
		return err
	}
	ctx := c.UserContext()
	in, ch, err := s.inboxChannel(ctx, id)
	if err != nil {
		return err
	}
	name := in.Name
	if body.Name != nil {
		name = *body.Name
	}
	settings := mergeSettings(in.Settings, body.Settings, secrets(ch))
	if err := s.validateInbox(c, ch, settings); err != nil {
		return err
	}
	in, err = s.store.UpdateInbox(ctx, id, name, settings)
	if err != nil {
		return err
	}
	s.store.Audit(ctx, "agent", currentAgent(c).ID, "inbox.update", "inbox", fmt.Sprint(id), map[string]any{"name": name})
	if ch.Connect == nil && in.State == "error" {
		// No connector reports on a hosted channel's inbox: its error is one Kibo
		// raised itself, a page refused for its origin (widget_origin.go). The new
		// settings may allow that site, and the next refusal is reported afresh.
		s.refusals.forget(in.ID)
		if err := s.store.SetInboxState(ctx, in.ID, "unknown", ""); err == nil {
			in.State, in.LastError = "unknown", ""
		}
	}
	s.channels.restart(in)
	return c.JSON(s.viewInbox(c, in))
}

// rotateIdentitySecret gives a chat inbox a new identity secret and answers the inbox
// with it, the only time it is shown (as at creation). The old secret stops verifying
// at once: a page still signing with it is refused its identity, and its widget goes
// on as an anonymous visitor until the site signs with the new one. Sockets already
// open keep the identity they proved.
func (s *Server) rotateIdentitySecret(c *fiber.Ctx) error {
	const key = "identity_secret"
	id, err := paramID(c, "id")
	if err != nil {
		return err
	}
	ctx := c.UserContext()
	in, err := s.store.Inbox(ctx, id)
	if err != nil {
		return err
	}
	if ch, ok := s.channels.registry.Lookup(in.Kind); !ok || !slices.Contains(ch.Generated, key) {
		return errUnprocessable(fmt.Sprintf("inbox %d is a %s inbox, which has no identity secret", id, in.Kind))
	}
	secret := NewSecret(32)
	settings := make(map[string]any, len(in.Settings)+1)
	for k, v := range in.Settings {
		settings[k] = v
	}
	settings[key] = secret
	in, err = s.store.UpdateInbox(ctx, id, in.Name, settings)
	if err != nil {
		return err
	}
	s.store.Audit(ctx, "agent", currentAgent(c).ID, "inbox.identity_secret", "inbox", fmt.Sprint(id), nil)
	v := s.viewInbox(c, in)
	v.shownOnce = map[string]string{key: secret}
	return c.JSON(v)
}

// testInbox is "Test connection": the inbox's settings as saved, tried by a connector
// built for the test alone.
func (s *Server) testInbox(c *fiber.Ctx) error {
	id, err := paramID(c, "id")
	if err != nil {
		return err
	}
	ctx := c.UserContext()
	in, ch, err := s.inboxChannel(ctx, id)
	if err != nil {
		return err
	}
	if ch.Connect == nil {
		return c.JSON(fiber.Map{"ok": true, "message": ch.Name + " needs no connection test"})
	}
	conn, err := s.channels.connect(ch, in, func(bool, error) {})
	if err != nil {
		return errUnprocessable(err.Error())
	}
	checker, ok := conn.(connectors.Checker)
	if !ok {
		return c.JSON(fiber.Map{"ok": true, "message": "no test for this channel"})
	}
	if err := checker.Check(ctx); err != nil {
		s.channels.report(id, false, err)
		return errUnprocessable(err.Error())
	}
	s.channels.report(id, true, nil)
	return c.JSON(fiber.Map{"ok": true, "message": "connected"})
}
