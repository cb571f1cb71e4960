package server

import (
	"github.com/gofiber/fiber/v2"

	"kibo/store"
)

func (s *Server) listContacts(c *fiber.Ctx) error {
	list, err := s.store.SearchContacts(c.UserContext(), c.Query("q"), 20)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"contacts": list})
}

// contactView is a contact's profile: identities on every channel and every
// conversation.
type contactView struct {
	*store.Contact
	Conversations []*store.Conversation `json:"conversations"`
}

func (s *Server) getContact(c *fiber.Ctx) error {
	id, err := paramID(c, "id")
	if err != nil {
		return err
	}
	ctx := c.UserContext()
	ct, err := s.store.Contact(ctx, id)
	if err != nil {
		return err
	}
	convs, _, err := s.store.Conversations(ctx, store.ConversationFilter{ContactID: id, Limit: 200, AgentID: currentAgent(c).ID})
	if err != nil {
		return err
	}
	if convs == nil {
		convs = []*store.Conversation{}
	}
	return c.JSON(contactView{ct, convs})
}

func (s *Server) updateContact(c *fiber.Ctx) error {
	id, err := paramID(c, "id")
	if err != nil {
		return err
	}
	var body struct {
		Name  *string `json:"name"`
		Email *string `json:"email"`
	}
	if err := decodeBody(c, &body); err != nil {
		return err
	}
	ct, err := s.store.UpdateContact(c.UserContext(), id, body.Name, body.Email, currentAgent(c).ID)
	if err != nil {
		return err
	}
	return c.JSON(ct)
}

func (s *Server) mergeContacts(c *fiber.Ctx) error {
	id, err := paramID(c, "id")
	if err != nil {
		return err
	}
	var body struct {
		OtherID int64 `json:"other_id"`
	}
	if err := decodeBody(c, &body); err != nil {
		return err
	}
	if body.OtherID <= 0 {
		return errBadRequest("other_id must name the contact to merge into this one")
	}
	ctx := c.UserContext()
	ct, err := s.store.MergeContacts(ctx, id, body.OtherID, currentAgent(c).ID)
	if err != nil {
		return err
	}
	// the moved conversations now show the kept contact
	convs, _, err := s.store.Conversations(ctx, store.ConversationFilter{ContactID: id, Limit: 200})
	if err == nil {
		for _, cv := range convs {
			s.events.ConversationUpdated(cv)
		}
	}
	return c.JSON(ct)
}
