package server

import (
	"errors"
	"fmt"
	"strings"

	"github.com/gofiber/fiber/v2"

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
