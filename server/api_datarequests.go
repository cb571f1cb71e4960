package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"kibo/server/datarequests"
	"kibo/server/gdpr"
	"kibo/store"
)

// Data requests (GDPR): the API of docs/API.md, contact export and erasure. The law
// lives in server/gdpr; the SQL in store; the company's policy (time zone, rule), the
// detection on inbound messages and the deadline alerts in server/datarequests.

// ---- requests

func (s *Server) listDataRequests(c *fiber.Ctx) error {
	q := listQuery{c: c}
	limit, contact, conv := q.limit(100, 1000), q.int("contact"), q.int("conversation")
	if q.err != nil {
		return q.err
	}
	ctx := c.UserContext()
	p, err := datarequests.LoadPolicy(ctx, s.store)
	if err != nil {
		return err
	}
	list, next, err := s.store.DataRequests(ctx, store.DataRequestFilter{
		Status: c.Query("status"), Type: c.Query("type"), ContactID: contact, ConversationID: conv,
		Limit: limit, Cursor: c.Query("cursor"),
	})
	if err != nil {
		return err
	}
	now := s.cfg.Now()
	for _, dr := range list {
		p.WithDaysLeft(dr, now)
	}
	return c.JSON(fiber.Map{"data_requests": list, "next_cursor": next})
}

func (s *Server) countDataRequests(c *fiber.Ctx) error {
	n, err := s.store.CountDataRequests(c.UserContext(), s.cfg.Now())
	if err != nil {
		return err
	}
	return c.JSON(n)
}

// dataRequestParam loads the request named by the route's :id, with the policy its
// deadlines are read by.
func dataRequestParam(c *fiber.Ctx, st *store.Store) (*store.DataRequest, datarequests.Policy, error) {
	id, err := paramID(c, "id")
	if err != nil {
		return nil, datarequests.Policy{}, err
	}
	ctx := c.UserContext()
	p, err := datarequests.LoadPolicy(ctx, st)
	if err != nil {
		return nil, p, err
	}
	dr, err := st.DataRequest(ctx, id)
	return dr, p, err
}

func (s *Server) getDataRequest(c *fiber.Ctx) error {
	dr, p, err := dataRequestParam(c, s.store)
	if err != nil {
		return err
	}
	return c.JSON(p.WithDaysLeft(dr, s.cfg.Now()))
}

// createDataRequest opens a request from a conversation (the contact is taken from
// it) or for a contact. It counts from received_at when given (a letter that came by
// post last week), else from now; never from the future.
func (s *Server) createDataRequest(c *fiber.Ctx) error {
	var body struct {
		ConversationID int64      `json:"conversation_id"`
		ContactID      int64      `json:"contact_id"`
		Type           string     `json:"type"`
		ReceivedAt     *time.Time `json:"received_at"`
		AssigneeID     int64      `json:"assignee_id"`
	}
	if err := decodeBody(c, &body); err != nil {
		return err
	}
	if body.Type == "" {
		body.Type = gdpr.TypeOther
	}
	ctx := c.UserContext()
	agent := currentAgent(c)
	now := s.cfg.Now()
	received := now
	if body.ReceivedAt != nil {
		if body.ReceivedAt.After(now.Add(time.Minute)) {
			return errUnprocessable("received_at is in the future: a request counts from when it reached the company")
		}
		received = body.ReceivedAt.UTC()
	}
	p, err := datarequests.LoadPolicy(ctx, s.store)
	if err != nil {
		return err
	}
	dr, _, err := s.store.OpenDataRequest(ctx, store.NewDataRequest{
		ConversationID: body.ConversationID, ContactID: body.ContactID, Type: body.Type, ReceivedAt: received,
		DueAt: gdpr.DueDate(received, p.Rule, p.Loc), DueRule: string(p.Rule), AssigneeID: body.AssigneeID, AgentID: agent.ID,
	})
	if err != nil {
		return err
	}
	p.WithDaysLeft(dr, now)
	s.events.DataRequestUpdated(dr)
	return c.Status(fiber.StatusCreated).JSON(dr)
}

// updateDataRequest confirms, dismisses, assigns, retypes, extends, completes or
// refuses a request. Extending tells the customer why on the request's conversation
// first (Art. 12(3) asks that they be told within the first month): the extension is
// recorded only once the notice is stored and on its way.
func (s *Server) updateDataRequest(c *fiber.Ctx) error {
	id, err := paramID(c, "id")
	if err != nil {
		return err
	}
	var body struct {
		Status       *string
		Type         *string
		ExtendReason string
		ExtendMonths int
		Notify       *bool
		NoticeText   string
	}
	var u store.DataRequestUpdate
	err = decodePatch(c, patchFields{
		"status": into(&body.Status), "type": into(&body.Type),
		"assignee_id": func(v json.RawMessage) error {
			var a *int64
			err := json.Unmarshal(v, &a)
			if err == nil {
				u.AssigneeID = ptrTo(int64(0)) // null unassigns
				if a != nil {
					u.AssigneeID = a
				}
			}
			return err
		},
		"extend_reason": into(&body.ExtendReason), "extend_months": into(&body.ExtendMonths),
		"notify": into(&body.Notify), "notice_text": into(&body.NoticeText),
	}, "%q can't be changed here: use status, type, assignee_id, extend_reason, extend_months, notify or notice_text")
	if err != nil {
		return err
	}
	u.Status, u.Type = body.Status, body.Type
	ctx := c.UserContext()
	agent := currentAgent(c)
	p, err := datarequests.LoadPolicy(ctx, s.store)
	if err != nil {
		return err
	}
	extend := body.Status != nil && *body.Status == "extended"
	var ext *extension
	if extend {
		cur, err := s.store.DataRequest(ctx, id)
		if err != nil {
			return err
		}
		if cur.ExtendedDueAt != nil && cur.Status != "extended" {
			extend = false // back to "extended" after verifying: no new extension
		} else if ext, err = s.planExtension(ctx, cur, body.ExtendReason, body.ExtendMonths, p); err != nil {
			return err
		}
	}
	if extend && (body.Notify == nil || *body.Notify) {
		text := strings.TrimSpace(body.NoticeText)
		if text == "" {
			text = ext.notice
		}
		if ext.conversationID == 0 {
			return errUnprocessable("there is no conversation with this customer to tell them of the extension: open one, or extend with \"notify\":false once you have told them another way")
		}
		msg, err := s.reply(ctx, ext.conversationID, agent, text, false, "")
		if err != nil {
			return fmt.Errorf("the extension notice could not be sent, so the request was not extended: %w", err)
		}
		u.Notes = append(u.Notes, fmt.Sprintf("told the customer why, in message %d", msg.ID))
	}
	now := s.cfg.Now()
	dr, err := s.store.UpdateDataRequest(ctx, id, agent.ID, func(cur *store.DataRequest) (store.DataRequestUpdate, error) {
		if !extend {
			return u, nil
		}
		// the same check again, against the row as it is now
		due, err := gdpr.Extend(cur.ReceivedAt, cur.DueAt, now, cur.ExtendedDueAt != nil, ext.months, p.Loc)
		if err != nil {
			return u, extensionError(err)
		}
		u.ExtendedDueAt, u.ExtendReason = &due, ext.reason
		u.ExtensionNote = fmt.Sprintf("extended by %d month%s, now due %s", ext.months, plural(ext.months), p.Date(due))
		return u, nil
	})
	if err != nil {
		return err
	}
	p.WithDaysLeft(dr, now)
	s.events.DataRequestUpdated(dr)
	return c.JSON(dr)
}

// extension is a planned extension: the new due date, the drafted notice and where to
// send it.
type extension struct {
	months         int
	reason         string
	due            time.Time
	notice         string
	conversationID int64
}

func (s *Server) planExtension(ctx context.Context, cur *store.DataRequest, reason string, months int, p datarequests.Policy) (*extension, error) {
	reason = strings.TrimSpace(reason)
	if reason == "" {
		return nil, errUnprocessable("an extension needs extend_reason: the customer must be told why (Art. 12(3) GDPR)")
	}
	// checked here, not only by the store: the notice goes to the customer first
	if err := store.CheckLen("extend_reason", reason, store.MaxNoteLen); err != nil {
		return nil, err
	}
	if months == 0 {
		months = 2
	}
	if cur.Closed() {
		return nil, &store.ConflictError{Message: "a " + cur.Status + " request can't be extended"}
	}
	due, err := gdpr.Extend(cur.ReceivedAt, cur.DueAt, s.cfg.Now(), cur.ExtendedDueAt != nil, months, p.Loc)
	if err != nil {
		return nil, extensionError(err)
	}
	ext := &extension{months: months, reason: reason, due: due}
	name := ""
	if cur.Contact != nil {
		name = cur.Contact.Name
	}
	ext.notice = gdpr.DraftExtensionNotice(cur.Lang, name, due, reason, p.Loc)
	ext.conversationID, err = s.requestConversation(ctx, cur)
	return ext, err
}

// requestConversation is where to write to the person behind a request: the
// conversation it came from, else their latest one (0 when there is none).
func (s *Server) requestConversation(ctx context.Context, dr *store.DataRequest) (int64, error) {
	if dr.ConversationID != nil {
		return *dr.ConversationID, nil
	}
	if dr.ContactID == nil {
		return 0, nil
	}
	convs, _, err := s.store.Conversations(ctx, store.ConversationFilter{ContactID: *dr.ContactID, Limit: 1})
	if err != nil || len(convs) == 0 {
		return 0, err
	}
	return convs[0].ID, nil
}

func extensionError(err error) error {
	switch {
	case errors.Is(err, gdpr.ErrDeadlinePassed), errors.Is(err, gdpr.ErrAlreadyExtended):
		return &store.ConflictError{Message: strings.TrimPrefix(err.Error(), "gdpr: ")}
	case errors.Is(err, gdpr.ErrBadExtension):
		return errUnprocessable("extend_months must be 1 or 2: the GDPR allows at most two further months")
	}
	return err
}

// draftDataRequestMessage shows the message Kibo would send: kind=extension (with
// months and reason) or kind=erasure.
func (s *Server) draftDataRequestMessage(c *fiber.Ctx) error {
	dr, p, err := dataRequestParam(c, s.store)
	if err != nil {
		return err
	}
	name := ""
	if dr.Contact != nil {
		name = dr.Contact.Name
	}
	switch c.Query("kind", "extension") {
	case "extension":
		months, _ := strconv.Atoi(c.Query("months", "2"))
		due, err := gdpr.Extend(dr.ReceivedAt, dr.DueAt, s.cfg.Now(), dr.ExtendedDueAt != nil, months, p.Loc)
		if err != nil {
			return extensionError(err)
		}
		return c.JSON(fiber.Map{"kind": "extension", "extended_due_at": due,
			"text": gdpr.DraftExtensionNotice(dr.Lang, name, due, c.Query("reason"), p.Loc)})
	case "erasure":
		return c.JSON(fiber.Map{"kind": "erasure", "text": gdpr.DraftErasureConfirmation(dr.Lang, name)})
	}
	return errBadRequest("kind must be extension or erasure")
}

// ---- export and erasure

// exportContact answers everything held about a contact: one JSON document by default
// (docs/API.md), or with ?format=zip a ZIP of JSON files, the attachment files and a
// readable index.html. Every export is audited.
func (s *Server) exportContact(c *fiber.Ctx) error {
	id, err := paramID(c, "id")
	if err != nil {
		return err
	}
	format := c.Query("format", "json")
	if format != "json" && format != "zip" {
		return errBadRequest("format must be json or zip")
	}
	ctx := c.UserContext()
	ex, err := s.store.ExportContact(ctx, id)
	if err != nil {
		return err
	}
	if err := s.store.Audit(ctx, "agent", currentAgent(c).ID, "contact.export", "contact", strconv.FormatInt(id, 10), map[string]any{"format": format}); err != nil {
		return err
	}
	name := fmt.Sprintf("kibo-contact-%d", id)
	c.Set("Cache-Control", "no-store")
	if format == "json" {
		return c.JSON(ex)
	}
	var buf bytes.Buffer
	if err := s.store.WriteZIP(ex, &buf); err != nil {
		return err
	}
	c.Set(fiber.HeaderContentType, "application/zip")
	c.Set(fiber.HeaderContentDisposition, `attachment; filename="`+name+`.zip"`)
	return c.Send(buf.Bytes())
}

// eraseContact erases a person (admins only, with "confirm":true). With "notify" it
// first sends the erasure confirmation on the request's conversation and waits until
// the channel took it: afterwards Kibo no longer knows where to send it.
func (s *Server) eraseContact(c *fiber.Ctx) error {
	id, err := paramID(c, "id")
	if err != nil {
		return err
	}
	var body struct {
		Confirm       bool   `json:"confirm"`
		DataRequestID int64  `json:"data_request_id"`
		Notify        bool   `json:"notify"`
		NoticeText    string `json:"notice_text"`
	}
	if len(c.Body()) > 0 {
		if err := decodeBody(c, &body); err != nil {
			return err
		}
	}
	if !body.Confirm {
		return errUnprocessable("erasing a contact can't be undone: send {\"confirm\":true} to go ahead")
	}
	ctx := c.UserContext()
	agent := currentAgent(c)
	if _, err := s.store.Contact(ctx, id); err != nil {
		return err
	}
	if body.Notify {
		if err := s.sendErasureConfirmation(ctx, id, body.DataRequestID, agent, body.NoticeText); err != nil {
			return err
		}
	}
	res, err := s.store.EraseContact(ctx, id, store.ErasureOptions{ActorID: agent.ID, DataRequestID: body.DataRequestID})
	if res != nil {
		// committed (an error after the commit is about files or compaction): the
		// person's open widgets must not outlive their conversations
		s.chat.CloseConversations(res.ConversationIDs...)
	}
	if err != nil {
		return err
	}
	s.events.ContactErased(id, res.ConversationIDs)
	if p, err := datarequests.LoadPolicy(ctx, s.store); err == nil {
		for _, rid := range res.DataRequests {
			if dr, err := s.store.DataRequest(ctx, rid); err == nil {
				s.events.DataRequestUpdated(p.WithDaysLeft(dr, s.cfg.Now()))
			}
		}
	}
	return c.JSON(res)
}

// erasureNoticeWait is how long an erasure waits for the channel to take the
// confirmation before it gives up and leaves the contact as it is.
var erasureNoticeWait = 20 * time.Second

func (s *Server) sendErasureConfirmation(ctx context.Context, contactID, requestID int64, agent *store.Agent, text string) error {
	dr := &store.DataRequest{ContactID: &contactID}
	if requestID != 0 {
		var err error
		if dr, err = s.store.DataRequest(ctx, requestID); err != nil {
			return err
		}
		if dr.ContactID == nil || *dr.ContactID != contactID {
			return errUnprocessable(fmt.Sprintf("data request %d is not one of contact %d's", requestID, contactID))
		}
	}
	convID, err := s.requestConversation(ctx, dr)
	if err != nil {
		return err
	}
	if convID == 0 {
		return errUnprocessable("there is no conversation with this contact to send the confirmation on: erase without \"notify\"")
	}
	if strings.TrimSpace(text) == "" {
		ct, err := s.store.Contact(ctx, contactID)
		if err != nil {
			return err
		}
		text = gdpr.DraftErasureConfirmation(dr.Lang, ct.Name)
	}
	msg, err := s.reply(ctx, convID, agent, text, false, "")
	if err != nil {
		return err
	}
	deadline := time.Now().Add(erasureNoticeWait)
	for msg.Delivery == "queued" && time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
		if msg, err = s.store.Message(ctx, msg.ID); err != nil {
			return err
		}
	}
	switch msg.Delivery {
	case "sent":
		return nil
	case "failed":
		return &store.ConflictError{Message: "the confirmation could not be delivered (" + msg.DeliveryError + "), so nothing was erased: fix the channel, or erase without \"notify\""}
	}
	return &store.ConflictError{Message: "the confirmation is still waiting for its channel, so nothing was erased yet: try again in a minute, or erase without \"notify\""}
}

// ---- small helpers

func ptrTo[T any](v T) *T { return &v }

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
