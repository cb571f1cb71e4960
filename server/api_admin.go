package server

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/gofiber/fiber/v2"

	"kibo/connectors/mailaddr"
	"kibo/server/hub"
	"kibo/store"
)

// ---- agents

func (s *Server) listAgents(c *fiber.Ctx) error {
	list, err := s.store.Agents(c.UserContext())
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"agents": list})
}

func (s *Server) createAgent(c *fiber.Ctx) error {
	var body struct{ Email, Name, Role, Password string }
	if err := decodeBody(c, &body); err != nil {
		return err
	}
	if body.Role == "" {
		body.Role = "agent"
	}
	hash, err := HashPassword(body.Password)
	if err != nil {
		return err
	}
	ctx := c.UserContext()
	a, err := s.store.CreateAgent(ctx, body.Email, body.Name, body.Role, hash)
	if err != nil {
		return err
	}
	s.store.Audit(ctx, "agent", currentAgent(c).ID, "agent.create", "agent", fmt.Sprint(a.ID), map[string]any{"email": a.Email, "role": a.Role})
	return c.Status(fiber.StatusCreated).JSON(a)
}

// updateAgent changes an agent. An admin may change anyone; an agent only their own
// name and password. Changing one's own password needs the current one, so that a
// session or token left open somewhere cannot lock its owner out; an admin resetting
// someone else's does not. A new password ends the agent's other sessions and revokes
// their API tokens; it, a new role and disabling close the agent's open sockets.
func (s *Server) updateAgent(c *fiber.Ctx) error {
	id, err := paramID(c, "id")
	if err != nil {
		return err
	}
	me := currentAgent(c)
	var body struct {
		Name            *string `json:"name"`
		Role            *string `json:"role"`
		Password        *string `json:"password"`
		CurrentPassword *string `json:"current_password"`
		Disabled        *bool   `json:"disabled"`
	}
	if err := decodeBody(c, &body); err != nil {
		return err
	}
	if !me.IsAdmin() && (id != me.ID || body.Role != nil || body.Disabled != nil) {
		return errForbidden("only an admin may change other agents, roles or access")
	}
	u := store.AgentUpdate{Name: body.Name, Role: body.Role, Disabled: body.Disabled}
	if body.Password != nil {
		if id == me.ID {
			if body.CurrentPassword == nil || *body.CurrentPassword == "" {
				return errUnprocessable("give your current password (current_password) to change it")
			}
			if err := s.checkCurrentPassword(c, me, *body.CurrentPassword); err != nil {
				return err
			}
			if cred, _ := c.Locals(localCred).(*credential); cred != nil && cred.via == "session" {
				u.KeepSession = cred.secret
			}
		}
		hash, err := HashPassword(*body.Password)
		if err != nil {
			return err
		}
		u.PasswordHash = &hash
	}
	ctx := c.UserContext()
	a, err := s.store.UpdateAgent(ctx, id, u)
	if err != nil {
		return err
	}
	s.auth.forget("", id) // name, role, password or access changed
	switch {
	case body.Disabled != nil && *body.Disabled:
		s.hub.DisconnectAgent(id, reasonSignedOut)
	case body.Password != nil:
		kept := ""
		if u.KeepSession != "" {
			kept = sessionRef(u.KeepSession)
		}
		s.hub.Disconnect(func(v hub.Viewer) bool { return v.AgentID == id && v.Credential != kept }, reasonSignedOut)
		s.hub.DisconnectAgent(id, reasonAccessChanged)
	case body.Role != nil:
		s.hub.DisconnectAgent(id, reasonAccessChanged)
	}
	s.store.Audit(ctx, "agent", me.ID, "agent.update", "agent", fmt.Sprint(id), map[string]any{
		"name": body.Name != nil, "role": body.Role, "password": body.Password != nil, "disabled": body.Disabled})
	return c.JSON(a)
}

// ---- inboxes

// secretKeys are settings that are written, never read back: the API shows whether
// they are set.
var secretKeys = map[string]bool{
	"password": true, "page_access_token": true, "app_secret": true, "verify_token": true,
	"consumer_secret": true, "access_token": true, "access_secret": true, "identity_secret": true,
}

// maskSettings replaces every secret by whether it is set.
func maskSettings(v map[string]any) map[string]any {
	out := make(map[string]any, len(v))
	for k, x := range v {
		switch {
		case secretKeys[k]:
			str, _ := x.(string)
			out[k] = str != ""
		default:
			if m, ok := x.(map[string]any); ok {
				out[k] = maskSettings(m)
			} else {
				out[k] = x
			}
		}
	}
	return out
}

// mergeSettings applies a PATCH: a secret that is missing or sent as true/false keeps
// its stored value.
func mergeSettings(old, patch map[string]any) map[string]any {
	out := make(map[string]any, len(old))
	for k, v := range old {
		out[k] = v
	}
	for k, v := range patch {
		if secretKeys[k] {
			if _, isBool := v.(bool); isBool || v == nil {
				continue
			}
		}
		if m, ok := v.(map[string]any); ok {
			if om, ok := out[k].(map[string]any); ok {
				out[k] = mergeSettings(om, m)
				continue
			}
		}
		out[k] = v
	}
	return out
}

type inboxView struct {
	ID             int64          `json:"id"`
	Kind           string         `json:"kind"`
	Name           string         `json:"name"`
	Settings       map[string]any `json:"settings"`
	State          string         `json:"state"`
	LastError      string         `json:"last_error"`
	PublicKey      string         `json:"public_key,omitempty"`
	Snippet        string         `json:"snippet,omitempty"`
	IdentitySecret string         `json:"identity_secret,omitempty"`
	WebhookURL     string         `json:"webhook_url,omitempty"`
}

// Connection errors name hosts, addresses and what the resolver said: admins see them
// (and the log keeps them); agents see these sentences instead.
const (
	agentInboxDown    = "This channel can't connect right now. An admin can see why in Settings → Inboxes."
	agentInboxProblem = "This channel reported a problem. An admin can see what in Settings → Inboxes."
)

func (s *Server) viewInbox(c *fiber.Ctx, in *store.Inbox) inboxView {
	v := inboxView{ID: in.ID, Kind: in.Kind, Name: in.Name, Settings: maskSettings(in.Settings), State: in.State, LastError: in.LastError}
	if a := currentAgent(c); (a == nil || !a.IsAdmin()) && v.LastError != "" {
		v.LastError = agentInboxProblem
		if in.State == "error" {
			v.LastError = agentInboxDown
		}
	}
	base := s.baseURL(c)
	switch in.Kind {
	case "chat":
		v.PublicKey = in.PublicKey
		v.Snippet = fmt.Sprintf(`<script src="%s/widget.js" data-inbox="%s" async></script>`, base, in.PublicKey)
	case "messenger", "x":
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
	if err := validateInboxSettings(body.Kind, body.Settings); err != nil {
		return err
	}
	if err := s.checkInboxHosts(c.UserContext(), body.Kind, body.Settings); err != nil {
		return err
	}
	publicKey := ""
	if body.Kind == "chat" {
		publicKey = NewSecret(18)
		body.Settings["identity_secret"] = NewSecret(32)
	}
	ctx := c.UserContext()
	in, err := s.store.CreateInbox(ctx, body.Kind, body.Name, publicKey, body.Settings)
	if err != nil {
		return err
	}
	s.store.Audit(ctx, "agent", currentAgent(c).ID, "inbox.create", "inbox", fmt.Sprint(in.ID), map[string]any{"kind": in.Kind, "name": in.Name})
	s.channels.restart(in)
	v := s.viewInbox(c, in)
	if in.Kind == "chat" {
		// shown once: the page that made the inbox copies it into the website's backend
		v.IdentitySecret, _ = in.Settings["identity_secret"].(string)
	}
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
	in, err := s.store.Inbox(ctx, id)
	if err != nil {
		return err
	}
	name := in.Name
	if body.Name != nil {
		name = *body.Name
	}
	settings := mergeSettings(in.Settings, body.Settings)
	if err := validateInboxSettings(in.Kind, settings); err != nil {
		return err
	}
	if err := s.checkInboxHosts(ctx, in.Kind, settings); err != nil {
		return err
	}
	in, err = s.store.UpdateInbox(ctx, id, name, settings)
	if err != nil {
		return err
	}
	s.store.Audit(ctx, "agent", currentAgent(c).ID, "inbox.update", "inbox", fmt.Sprint(id), map[string]any{"name": name})
	if in.Kind == "chat" && in.State == "error" {
		// a refused page was reported on it (widget_origin.go): the new settings may
		// allow that site, and the next refusal is reported afresh
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
	id, err := paramID(c, "id")
	if err != nil {
		return err
	}
	ctx := c.UserContext()
	in, err := s.store.Inbox(ctx, id)
	if err != nil {
		return err
	}
	if in.Kind != "chat" {
		return errUnprocessable(fmt.Sprintf("inbox %d is a %s inbox: only a chat inbox has an identity secret", id, in.Kind))
	}
	secret := NewSecret(32)
	settings := make(map[string]any, len(in.Settings)+1)
	for k, v := range in.Settings {
		settings[k] = v
	}
	settings["identity_secret"] = secret
	in, err = s.store.UpdateInbox(ctx, id, in.Name, settings)
	if err != nil {
		return err
	}
	s.store.Audit(ctx, "agent", currentAgent(c).ID, "inbox.identity_secret", "inbox", fmt.Sprint(id), nil)
	v := s.viewInbox(c, in)
	v.IdentitySecret = secret
	return c.JSON(v)
}

// validateInboxSettings checks each kind's settings (docs/CHANNELS.md), with messages
// that say what to fix.
func validateInboxSettings(kind string, st map[string]any) error {
	str := func(m map[string]any, k string) string { v, _ := m[k].(string); return strings.TrimSpace(v) }
	switch kind {
	case "chat":
		if v, ok := st["allowed_origins"]; ok && v != nil {
			list, ok := v.([]any)
			if !ok {
				return errUnprocessable("allowed_origins must be a list of origins like https://example.com")
			}
			for _, o := range list {
				os, _ := o.(string)
				if !strings.HasPrefix(os, "http://") && !strings.HasPrefix(os, "https://") {
					return errUnprocessable(fmt.Sprintf("allowed origin %v must start with http:// or https://", o))
				}
			}
		}
		if c := str(st, "brand_color"); c != "" && (len(c) != 7 || c[0] != '#') {
			return errUnprocessable("brand_color must look like #2f6fed")
		}
	case "email":
		if _, err := mailaddr.Parse(str(st, "address")); err != nil {
			return errUnprocessable("address must be the inbox's e-mail address: " + err.Error())
		}
		for _, part := range []string{"imap", "smtp"} {
			m, ok := st[part].(map[string]any)
			if !ok {
				return errUnprocessable(part + " settings are missing: host, port, tls, username, password")
			}
			if str(m, "host") == "" {
				return errUnprocessable(part + ".host is missing")
			}
			if p, _ := m["port"].(float64); p <= 0 || p > 65535 {
				return errUnprocessable(part + ".port must be a port number")
			}
			switch str(m, "tls") {
			case "tls", "starttls", "none":
			default:
				return errUnprocessable(part + ".tls must be tls, starttls or none")
			}
		}
	case "messenger":
		for _, k := range []string{"page_id", "page_access_token", "app_secret", "verify_token"} {
			if str(st, k) == "" {
				return errUnprocessable(k + " is missing")
			}
		}
	case "x":
		for _, k := range []string{"user_id", "consumer_key", "consumer_secret", "access_token", "access_secret"} {
			if str(st, k) == "" {
				return errUnprocessable(k + " is missing")
			}
		}
	default:
		return errUnprocessable("kind must be chat, email, messenger or x")
	}
	return nil
}

// checkInboxHosts refuses, when an inbox is saved, the hosts its connector would
// refuse to reach (loopback, private, link-local: netguard), and base URLs that are not
// http(s), with the setting to fix. The connector checks again on every connection.
func (s *Server) checkInboxHosts(ctx context.Context, kind string, st map[string]any) error {
	str := func(m map[string]any, k string) string { v, _ := m[k].(string); return strings.TrimSpace(v) }
	p := s.hosts()
	switch kind {
	case "email":
		for _, part := range []string{"imap", "smtp"} {
			m, _ := st[part].(map[string]any)
			if err := p.CheckHost(ctx, str(m, "host")); err != nil {
				return errUnprocessable(part + ".host: " + err.Error())
			}
		}
	case "messenger", "x":
		key := map[string]string{"messenger": "graph_base_url", "x": "api_base_url"}[kind]
		if u := str(st, key); u != "" {
			if err := p.CheckURL(ctx, u); err != nil {
				return errUnprocessable(key + ": " + err.Error())
			}
		}
	}
	return nil
}

// checker is a connector that can test its settings ("Test connection").
type checker interface {
	Check(ctx context.Context) error
}

func (s *Server) testInbox(c *fiber.Ctx) error {
	id, err := paramID(c, "id")
	if err != nil {
		return err
	}
	ctx := c.UserContext()
	in, err := s.store.Inbox(ctx, id)
	if err != nil {
		return err
	}
	if in.Kind == "chat" {
		return c.JSON(fiber.Map{"ok": true, "message": "the chat needs no connection test"})
	}
	f := s.channels.factories[in.Kind]
	if f == nil {
		return errUnprocessable("this Kibo has no " + in.Kind + " channel")
	}
	conn, err := f(in, func(bool, error) {})
	if err != nil {
		return errUnprocessable(err.Error())
	}
	ch, ok := conn.(checker)
	if !ok {
		return c.JSON(fiber.Map{"ok": true, "message": "no test for this channel"})
	}
	if err := ch.Check(ctx); err != nil {
		s.channels.report(id, false, err)
		return errUnprocessable(err.Error())
	}
	s.channels.report(id, true, nil)
	return c.JSON(fiber.Map{"ok": true, "message": "connected"})
}

// ---- tokens

func (s *Server) listTokens(c *fiber.Ctx) error {
	me := currentAgent(c)
	owner := me.ID
	if me.IsAdmin() {
		owner = 0
	}
	list, err := s.store.APITokens(c.UserContext(), owner)
	if err != nil {
		return err
	}
	if list == nil {
		list = []*store.APIToken{}
	}
	return c.JSON(fiber.Map{"tokens": list})
}

func (s *Server) createToken(c *fiber.Ctx) error {
	var body struct {
		Name string `json:"name"`
	}
	if len(c.Body()) > 0 {
		if err := decodeBody(c, &body); err != nil {
			return err
		}
	}
	me := currentAgent(c)
	secret := NewAPIToken()
	ctx := c.UserContext()
	t, err := s.store.CreateAPIToken(ctx, me.ID, strings.TrimSpace(body.Name), secret)
	if err != nil {
		return err
	}
	s.store.Audit(ctx, "agent", me.ID, "token.create", "token", fmt.Sprint(t.ID), map[string]any{"name": t.Name})
	return c.Status(fiber.StatusCreated).JSON(fiber.Map{"id": t.ID, "name": t.Name, "prefix": t.Prefix, "created_at": t.CreatedAt, "token": secret})
}

func (s *Server) revokeToken(c *fiber.Ctx) error {
	id, err := paramID(c, "id")
	if err != nil {
		return err
	}
	me := currentAgent(c)
	owner := me.ID
	if me.IsAdmin() {
		owner = 0
	}
	ctx := c.UserContext()
	if err := s.store.RevokeAPIToken(ctx, id, owner); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return errNotFound("token %d does not exist or is not yours", id)
		}
		return err
	}
	s.auth.forget(tokenRef(id), 0)
	s.hub.DisconnectCredential(tokenRef(id), reasonSignedOut)
	s.store.Audit(ctx, "agent", me.ID, "token.revoke", "token", fmt.Sprint(id), nil)
	return c.SendStatus(fiber.StatusNoContent)
}

func (s *Server) auditLog(c *fiber.Ctx) error {
	limit, err := queryLimit(c, 100, 500)
	if err != nil {
		return err
	}
	list, err := s.store.AuditLog(c.UserContext(), c.Query("subject"), c.Query("ref"), limit)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"audit": list})
}
