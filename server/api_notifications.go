package server

import "github.com/gofiber/fiber/v2"

// An agent's in-app notifications: alerts (server/alerts) and data-request deadlines
// (server/datarequests) leave them; the agent's page lists them and marks them read.

func (s *Server) listNotifications(c *fiber.Ctx) error {
	limit, err := queryLimit(c, 50, 200)
	if err != nil {
		return err
	}
	list, unread, err := s.store.Notifications(c.UserContext(), currentAgent(c).ID, limit)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"notifications": list, "unread": unread, "next_cursor": ""})
}

func (s *Server) readNotifications(c *fiber.Ctx) error {
	var body struct {
		UpTo int64 `json:"up_to"`
	}
	if len(c.Body()) > 0 {
		if err := decodeBody(c, &body); err != nil {
			return err
		}
	}
	if err := s.store.MarkNotificationsRead(c.UserContext(), currentAgent(c).ID, body.UpTo); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}
