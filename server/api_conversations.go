package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"kibo/store"
)

func (s *Server) me(c *fiber.Ctx) error { return c.JSON(currentAgent(c)) }

func (s *Server) counts(c *fiber.Ctx) error {
	n, err := s.store.ConversationCounts(c.UserContext(), currentAgent(c).ID)
	if err != nil {
		return err
	}
	return c.JSON(n)
}

func (s *Server) tags(c *fiber.Ctx) error {
	t, err := s.store.Tags(c.UserContext())
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"tags": t})
}

func (s *Server) listConversations(c *fiber.Ctx) error {
	q := listQuery{c: c}
	inbox, contact, limit := q.int("inbox"), q.int("contact"), q.limit(50, 200)
	if q.err != nil {
		return q.err
	}
	list, next, err := s.store.Conversations(c.UserContext(), store.ConversationFilter{
		Status: c.Query("status"), InboxID: inbox, Assignee: c.Query("assignee"), Tag: c.Query("tag"),
		Query: c.Query("q"), ContactID: contact, Limit: limit, Cursor: c.Query("cursor"), AgentID: currentAgent(c).ID,
		Sort: c.Query("sort"), SLA: c.Query("sla"), // sort=due, sla=breached|due_soon (store/sla.go)
	})
	if err != nil {
		return err
	}
	if list == nil {
		list = []*store.Conversation{}
	}
	return c.JSON(fiber.Map{"conversations": list, "next_cursor": next})
}

func (s *Server) getConversation(c *fiber.Ctx) error {
	id, err := paramID(c, "id")
	if err != nil {
		return err
	}
	conv, err := s.store.Conversation(c.UserContext(), id, currentAgent(c).ID)
	if err != nil {
		return err
	}
	return c.JSON(conv)
}

func (s *Server) updateConversation(c *fiber.Ctx) error {
	id, err := paramID(c, "id")
	if err != nil {
		return err
	}
	var u store.ConversationUpdate
	err = decodePatch(c, patchFields{
		"status": into(&u.Status), "priority": into(&u.Priority), "tags": into(&u.Tags),
		"assignee_id": func(v json.RawMessage) error {
			u.SetAssignee = true // null unassigns
			return json.Unmarshal(v, &u.AssigneeID)
		},
		"snoozed_until": func(v json.RawMessage) error {
			var t *time.Time
			err := json.Unmarshal(v, &t)
			if err == nil && t != nil {
				u.SnoozedUntil = t
			}
			return err
		},
	}, "%q can't be changed here: use status, priority, assignee_id, tags or snoozed_until")
	if err != nil {
		return err
	}
	agent := currentAgent(c)
	conv, err := s.store.UpdateConversation(c.UserContext(), id, agent.ID, u)
	if err != nil {
		return err
	}
	conv = s.dueTimes.AfterUpdate(c.UserContext(), conv, agent.ID) // a new priority moves the due times (server/sla)
	s.events.ConversationUpdated(conv)
	return c.JSON(conv)
}

func (s *Server) listMessages(c *fiber.Ctx) error {
	id, err := paramID(c, "id")
	if err != nil {
		return err
	}
	// without a limit, every message: a conversation is read whole
	q := listQuery{c: c}
	after, before, limit := q.int("after_id"), q.int("before_id"), q.limit(0, 1000)
	if q.err != nil {
		return q.err
	}
	ctx := c.UserContext()
	if _, err := s.store.Conversation(ctx, id, 0); err != nil {
		return err
	}
	msgs, err := s.store.Messages(ctx, id, store.MessageFilter{AfterID: after, BeforeID: before, Limit: limit})
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"messages": msgs})
}

func (s *Server) postMessage(c *fiber.Ctx) error {
	id, err := paramID(c, "id")
	if err != nil {
		return err
	}
	// JSON {"text","private","tag"}, or a multipart form with the same fields and
	// "file" parts (attachments.go)
	var body replyBody
	if isMultipart(c) {
		body, err = readReplyForm(c)
	} else {
		err = decodeBody(c, &body)
	}
	if err != nil {
		return err
	}
	agent := currentAgent(c)
	msg, err := s.replyWithFiles(c.UserContext(), id, agent, body.Text, body.Private, body.Tag, body.Files)
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(msg)
}

func (s *Server) markRead(c *fiber.Ctx) error {
	id, err := paramID(c, "id")
	if err != nil {
		return err
	}
	var body struct {
		UpTo int64 `json:"up_to"`
	}
	if err := decodeBody(c, &body); err != nil {
		return err
	}
	agent := currentAgent(c)
	if err := s.store.MarkRead(c.UserContext(), id, agent.ID, body.UpTo); err != nil {
		return err
	}
	s.liveCounts.Kick() // the agent's unread count
	return c.SendStatus(fiber.StatusNoContent)
}

func (s *Server) retryMessage(c *fiber.Ctx) error {
	id, err := paramID(c, "id")
	if err != nil {
		return err
	}
	if err := s.store.RetryMessage(c.UserContext(), id); err != nil {
		return err
	}
	s.outbox.wake()
	if m, err := s.store.Message(c.UserContext(), id); err == nil {
		s.events.MessageUpdated(m)
	}
	return c.SendStatus(fiber.StatusNoContent)
}

func (s *Server) getAttachment(c *fiber.Ctx) error {
	id, err := paramID(c, "id")
	if err != nil {
		return err
	}
	a, err := s.store.AttachmentByID(c.UserContext(), id)
	if err != nil {
		return err
	}
	if a.SHA256 == "" {
		return errNotFound("attachment %d was not stored (too large, or only a link)", id)
	}
	f, err := os.ReadFile(s.store.AttachmentPath(a.SHA256))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return errNotFound("the file of attachment %d is gone", id)
		}
		return err
	}
	// Never let a customer's file run as a page on our origin.
	ctype := a.ContentType
	if !strings.HasPrefix(ctype, "image/") || strings.Contains(ctype, "svg") {
		ctype = "application/octet-stream"
		c.Set(fiber.HeaderContentDisposition, `attachment; filename="`+strings.ReplaceAll(a.Filename, `"`, "")+`"`)
	}
	c.Set(fiber.HeaderContentType, ctype)
	c.Set("X-Content-Type-Options", "nosniff")
	c.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	return c.Send(f)
}

// deleteConversation hides a conversation for good (spam, a test). Its messages keep
// their channel ids, so a mail still on the server is never imported again.
func (s *Server) deleteConversation(c *fiber.Ctx) error {
	id, err := paramID(c, "id")
	if err != nil {
		return err
	}
	ctx := c.UserContext()
	if err := s.store.DeleteConversation(ctx, id); err != nil {
		return err
	}
	// the visitor's open widget starts afresh instead of writing into a deleted ticket
	s.chat.CloseConversations(id)
	s.store.Audit(ctx, "agent", currentAgent(c).ID, "conversation.delete", "conversation", strconv.FormatInt(id, 10), nil)
	s.events.ConversationDeleted(id)
	return c.SendStatus(fiber.StatusNoContent)
}

// ---- bulk actions: the same change or reply on many conversations (those of an
// incident, a tag, a search)

const maxBulk = 500

type bulkError struct {
	ID    int64  `json:"id"`
	Error string `json:"error"`
}

func checkBulkIDs(ids []int64) error {
	if len(ids) == 0 {
		return errBadRequest("ids lists the conversations to change")
	}
	if len(ids) > maxBulk {
		return errBadRequest("at most %d conversations at once", maxBulk)
	}
	return nil
}

// POST /api/v1/conversations/bulk: {"ids":[...], "status","priority","assignee_id"}:
// the same change to each conversation; one that fails does not stop the others.
func (s *Server) bulkUpdateConversations(c *fiber.Ctx) error {
	var body struct {
		IDs        []int64          `json:"ids"`
		Status     *string          `json:"status"`
		Priority   *string          `json:"priority"`
		AssigneeID *json.RawMessage `json:"assignee_id"`
	}
	if err := decodeBody(c, &body); err != nil {
		return err
	}
	if err := checkBulkIDs(body.IDs); err != nil {
		return err
	}
	u := store.ConversationUpdate{Status: body.Status, Priority: body.Priority}
	if body.AssigneeID != nil {
		u.SetAssignee = true
		if err := json.Unmarshal(*body.AssigneeID, &u.AssigneeID); err != nil {
			return errBadRequest("assignee_id: %v", err)
		}
	}
	if u.Status == nil && u.Priority == nil && !u.SetAssignee {
		return errBadRequest("say what to change: status, priority or assignee_id")
	}
	ctx := c.UserContext()
	agent := currentAgent(c)
	out := []*store.Conversation{}
	failed := []bulkError{}
	for _, id := range body.IDs {
		conv, err := s.store.UpdateConversation(ctx, id, agent.ID, u)
		if err != nil {
			failed = append(failed, bulkError{id, err.Error()})
			continue
		}
		conv = s.dueTimes.AfterUpdate(ctx, conv, agent.ID)
		s.events.ConversationUpdated(conv)
		out = append(out, conv)
	}
	return c.JSON(fiber.Map{"conversations": out, "errors": failed})
}

// POST /api/v1/conversations/bulk-reply: {"ids":[...], "text":"...", "private":false}:
// the same reply on each conversation, each on its own channel.
func (s *Server) bulkReply(c *fiber.Ctx) error {
	var body struct {
		IDs     []int64 `json:"ids"`
		Text    string  `json:"text"`
		Private bool    `json:"private"`
	}
	if err := decodeBody(c, &body); err != nil {
		return err
	}
	if err := checkBulkIDs(body.IDs); err != nil {
		return err
	}
	if len(bytes.TrimSpace([]byte(body.Text))) == 0 {
		return &store.ValidationError{Message: "the reply is empty"}
	}
	ctx := c.UserContext()
	agent := currentAgent(c)
	out := []*store.Message{}
	failed := []bulkError{}
	for _, id := range body.IDs {
		msg, err := s.reply(ctx, id, agent, body.Text, body.Private, "")
		if err != nil {
			failed = append(failed, bulkError{id, err.Error()})
			continue
		}
		out = append(out, msg)
	}
	return c.JSON(fiber.Map{"messages": out, "errors": failed})
}
