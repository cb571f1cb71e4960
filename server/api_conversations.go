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

func paramID(c *fiber.Ctx, name string) (int64, error) {
	id, err := strconv.ParseInt(c.Params(name), 10, 64)
	if err != nil || id <= 0 {
		return 0, errBadRequest("%s must be a positive number, not %q", name, c.Params(name))
	}
	return id, nil
}

func queryInt(c *fiber.Ctx, name string) (int64, error) {
	v := c.Query(name)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, errBadRequest("%s must be a number, not %q", name, v)
	}
	return n, nil
}

// queryLimit reads a list's ?limit=: def when absent, at most max (a bigger one gets
// max, as if the client had asked for what it may have), and a clear 400 for
// anything but a positive number, so that no limit ever means "everything".
func queryLimit(c *fiber.Ctx, def, max int) (int, error) {
	v := c.Query("limit")
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil && errors.Is(err, strconv.ErrRange) && !strings.HasPrefix(v, "-") {
		return max, nil
	}
	if err != nil || n < 1 {
		return 0, errBadRequest("limit must be a number from 1 to %d, not %q", max, v)
	}
	return min(n, max), nil
}

// decodeBody reads a JSON body into v, with a clear error for bad JSON.
func decodeBody(c *fiber.Ctx, v any) error {
	body := c.Body()
	if len(body) == 0 {
		return errBadRequest("the request needs a JSON body")
	}
	if err := json.Unmarshal(body, v); err != nil {
		return errBadRequest("the body is not valid JSON for this request: %v", err)
	}
	return nil
}

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
	inbox, err := queryInt(c, "inbox")
	if err != nil {
		return err
	}
	contact, err := queryInt(c, "contact")
	if err != nil {
		return err
	}
	limit, err := queryLimit(c, 50, 200)
	if err != nil {
		return err
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
	var raw map[string]json.RawMessage
	if err := decodeBody(c, &raw); err != nil {
		return err
	}
	var u store.ConversationUpdate
	for key, v := range raw {
		var err error
		switch key {
		case "status":
			err = json.Unmarshal(v, &u.Status)
		case "priority":
			err = json.Unmarshal(v, &u.Priority)
		case "assignee_id":
			u.SetAssignee = true
			err = json.Unmarshal(v, &u.AssigneeID)
		case "tags":
			err = json.Unmarshal(v, &u.Tags)
		case "snoozed_until":
			var t *time.Time
			if err = json.Unmarshal(v, &t); err == nil && t != nil {
				u.SnoozedUntil = t
			}
		default:
			return errBadRequest("%q can't be changed here: use status, priority, assignee_id, tags or snoozed_until", key)
		}
		if err != nil {
			return errBadRequest("%s: %v", key, err)
		}
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
	after, err := queryInt(c, "after_id")
	if err != nil {
		return err
	}
	before, err := queryInt(c, "before_id")
	if err != nil {
		return err
	}
	// without a limit, every message: a conversation is read whole
	limit, err := queryLimit(c, 0, 1000)
	if err != nil {
		return err
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
