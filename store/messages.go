package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"time"

	"kibo/connectors"
)

// Message is one message in a conversation, or a private note between agents.
type Message struct {
	ID             int64         `json:"id"`
	ConversationID int64         `json:"conversation_id"`
	InboxID        int64         `json:"inbox_id"`
	Direction      string        `json:"direction"`
	Private        bool          `json:"private"`
	Author         Author        `json:"author"`
	Text           string        `json:"text"`
	HTML           string        `json:"html"`
	Attachments    []*Attachment `json:"attachments"`
	Delivery       string        `json:"delivery,omitempty"`
	DeliveryError  string        `json:"delivery_error,omitempty"`
	ClientID       string        `json:"client_id,omitempty"`
	ExternalID     string        `json:"-"`
	Auto           bool          `json:"auto,omitempty"`
	CreatedAt      time.Time     `json:"created_at"`
}

// Author says who wrote a message.
type Author struct {
	Kind string `json:"kind"`
	ID   int64  `json:"id"`
	Name string `json:"name"`
}

// Attachment is a stored file (or a record of one that was too large to keep).
type Attachment struct {
	ID          int64  `json:"id"`
	MessageID   int64  `json:"-"`
	Filename    string `json:"filename"`
	ContentType string `json:"content_type"`
	Size        int64  `json:"size"`
	SHA256      string `json:"-"`
	ContentID   string `json:"content_id,omitempty"`
	URL         string `json:"url"`
	TooLarge    bool   `json:"too_large,omitempty"`
}

const messageColumns = `id, conversation_id, inbox_id, direction, private, author_kind, COALESCE(author_id, 0), author_name,
	text, html, COALESCE(delivery, ''), delivery_error, COALESCE(client_id, ''), COALESCE(external_id, ''), auto, created_at`

func scanMessage(sc interface{ Scan(...any) error }) (*Message, error) {
	var m Message
	var created string
	err := sc.Scan(&m.ID, &m.ConversationID, &m.InboxID, &m.Direction, &m.Private, &m.Author.Kind, &m.Author.ID, &m.Author.Name,
		&m.Text, &m.HTML, &m.Delivery, &m.DeliveryError, &m.ClientID, &m.ExternalID, &m.Auto, &created)
	if err != nil {
		return nil, err
	}
	m.CreatedAt = parseTime(created)
	m.Attachments = []*Attachment{}
	return &m, nil
}

// MessageFilter pages through a conversation's messages.
type MessageFilter struct {
	// AfterID returns only messages after this id; BeforeID only before it.
	AfterID, BeforeID int64
	// Limit 0 means every message.
	Limit int
	// Public leaves out private notes (what a visitor may see).
	Public bool
}

// Messages returns a conversation's messages oldest first, with their attachments, in
// two statements whatever their number.
func (s *Store) Messages(ctx context.Context, conversationID int64, f MessageFilter) ([]*Message, error) {
	where := "conversation_id = ?"
	args := []any{conversationID}
	if f.AfterID > 0 {
		where += " AND id > ?"
		args = append(args, f.AfterID)
	}
	if f.BeforeID > 0 {
		where += " AND id < ?"
		args = append(args, f.BeforeID)
	}
	if f.Public {
		where += " AND private = 0"
	}
	q := `SELECT ` + messageColumns + ` FROM messages WHERE ` + where
	if f.Limit > 0 {
		// the newest Limit messages, returned oldest first
		q = `SELECT * FROM (` + q + ` ORDER BY id DESC LIMIT ?) ORDER BY id`
		args = append(args, f.Limit)
	} else {
		q += ` ORDER BY id`
	}
	rows, err := s.query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []*Message{}
	for rows.Next() {
		m, err := scanMessage(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, s.attachTo(ctx, out)
}

// Message returns one message.
func (s *Store) Message(ctx context.Context, id int64) (*Message, error) {
	m, err := scanMessage(s.queryRow(ctx, `SELECT `+messageColumns+` FROM messages WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("message", id)
	}
	if err != nil {
		return nil, err
	}
	return m, s.attachTo(ctx, []*Message{m})
}

// attachTo loads the attachments of msgs in one statement.
func (s *Store) attachTo(ctx context.Context, msgs []*Message) error {
	if len(msgs) == 0 {
		return nil
	}
	byID := make(map[int64]*Message, len(msgs))
	ids := make([]int64, len(msgs))
	for i, m := range msgs {
		byID[m.ID] = m
		ids[i] = m.ID
	}
	rows, err := s.query(ctx, `SELECT id, message_id, filename, content_type, size, sha256, content_id, url, too_large
		FROM attachments WHERE message_id IN (SELECT value FROM json_each(?)) ORDER BY id`, jsonIDs(ids))
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var a Attachment
		if err := rows.Scan(&a.ID, &a.MessageID, &a.Filename, &a.ContentType, &a.Size, &a.SHA256, &a.ContentID, &a.URL, &a.TooLarge); err != nil {
			return err
		}
		if a.URL == "" && !a.TooLarge {
			a.URL = attachmentURL(a.ID)
		}
		if m := byID[a.MessageID]; m != nil {
			m.Attachments = append(m.Attachments, &a)
		}
	}
	return rows.Err()
}

func attachmentURL(id int64) string { return "/api/v1/attachments/" + itoa(id) }

// indexMessages adds messages to the full-text index. Every insert into messages must
// call it in its transaction (migration 0009 replaced the insert trigger by this one
// statement per batch); TestEveryMessageIsSearchable checks each path.
func (t *Tx) indexMessages(ctx context.Context, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	_, err := t.exec(ctx, `INSERT INTO messages_fts(rowid, text) SELECT id, text FROM messages WHERE id IN (SELECT value FROM json_each(?))`, jsonIDs(ids))
	return err
}

func jsonIDs(ids []int64) string {
	b, _ := json.Marshal(ids)
	return string(b)
}

// AgentMessage is a reply or a private note written by an agent (or by Kibo itself,
// with AuthorKind "system").
type AgentMessage struct {
	ConversationID int64
	AgentID        int64
	AuthorName     string
	AuthorKind     string // "agent" (default) or "system"
	Text           string
	Private        bool
	// Queue puts the reply in the outbox for its channel; a chat reply is delivered by
	// the store itself (the widget reads it from here) and is sent at once.
	Queue bool
	// OutboxPayload is the channel's data for the send (JSON), kept with the outbox row.
	OutboxPayload any
	// DedupeKey makes the outbox row unique (broadcasts, auto-replies).
	DedupeKey string
	// Auto marks an automatic message (incident auto-reply).
	Auto bool
	// ExternalID is the channel id fixed before sending (an e-mail's Message-ID), so a
	// customer's answer threads onto this reply even before the send completes.
	ExternalID string
	// Files are attached to the message: written by content hash under the data
	// directory before the transaction (like inbound files), their rows inserted in
	// the same transaction as the message and its outbox row. Data must be set.
	Files []connectors.Attachment
}

// AddAgentMessage stores an agent's reply or note; a queued reply gets its outbox row
// in the same transaction, so nothing is sent that is not stored first.
func (s *Store) AddAgentMessage(ctx context.Context, am AgentMessage) (*Message, error) {
	text := strings.TrimSpace(am.Text)
	if text == "" && len(am.Files) == 0 {
		return nil, invalid("the message is empty")
	}
	if len(am.Text) > 64*1024 {
		return nil, invalid("the message is longer than 64 KiB")
	}
	if am.AuthorKind == "" {
		am.AuthorKind = "agent"
	}
	for i := range am.Files {
		if am.Files[i].Data == nil {
			return nil, invalid("the file %q has no content", am.Files[i].Filename)
		}
		// named by content hash: a retry rewrites the same file, a rolled back
		// transaction leaves only an orphan
		if err := s.writeAttachmentFile(&am.Files[i]); err != nil {
			return nil, err
		}
	}
	var id int64
	now := s.Now()
	err := s.tx(ctx, func(tx *Tx) error {
		var inboxID int64
		err := tx.queryRow(ctx, `SELECT inbox_id FROM conversations WHERE id = ? AND deleted_at IS NULL`, am.ConversationID).Scan(&inboxID)
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("conversation", am.ConversationID)
		}
		if err != nil {
			return err
		}
		var delivery any
		if !am.Private {
			delivery = "sent"
			if am.Queue {
				delivery = "queued"
			}
		}
		var authorID any
		if am.AgentID != 0 {
			authorID = am.AgentID
		}
		var externalID any
		if am.ExternalID != "" {
			externalID = am.ExternalID
		}
		id, err = tx.insert(ctx, `INSERT INTO messages(conversation_id, inbox_id, direction, private, author_kind, author_id, author_name, text, delivery, auto, external_id, created_at)
			VALUES (?, ?, 'out', ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			am.ConversationID, inboxID, am.Private, am.AuthorKind, authorID, am.AuthorName, am.Text, delivery, am.Auto, externalID, formatTime(now))
		if err != nil {
			return err
		}
		if err := tx.indexMessages(ctx, []int64{id}); err != nil {
			return err
		}
		for _, f := range am.Files {
			if _, err := tx.exec(ctx, `INSERT INTO attachments(message_id, filename, content_type, size, sha256, content_id, url, too_large) VALUES (?, ?, ?, ?, ?, '', '', 0)`,
				id, f.Filename, f.ContentType, f.Size, strings.TrimPrefix(f.URL, "sha256:")); err != nil {
				return err
			}
		}
		if am.Private {
			_, err = tx.exec(ctx, `UPDATE conversations SET updated_at = ? WHERE id = ?`, formatTime(now), am.ConversationID)
			return err
		}
		firstResponse := am.AuthorKind == "agent"
		summary := am.Text
		if text == "" && len(am.Files) > 0 {
			summary = "📎 " + am.Files[0].Filename
		}
		if _, err := tx.exec(ctx, `UPDATE conversations SET last_message_at = ?, last_message_id = ?, preview = ?, updated_at = ?,
			first_response_at = CASE WHEN ? AND first_response_at IS NULL THEN ? ELSE first_response_at END WHERE id = ?`,
			formatTime(now), id, preview(summary), formatTime(now), firstResponse, formatTime(now), am.ConversationID); err != nil {
			return err
		}
		if am.Queue {
			return tx.enqueue(ctx, OutboxItem{Kind: "reply", InboxID: inboxID, ConversationID: am.ConversationID, MessageID: id, DedupeKey: am.DedupeKey, Payload: am.OutboxPayload})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return s.Message(ctx, id)
}

// SetDelivery records the outcome of a send.
func (s *Store) SetDelivery(ctx context.Context, messageID int64, delivery, errText, externalID string) error {
	return s.tx(ctx, func(tx *Tx) error {
		var ext any
		if externalID != "" {
			ext = externalID
		}
		_, err := tx.exec(ctx, `UPDATE messages SET delivery = ?, delivery_error = ?, external_id = COALESCE(external_id, ?) WHERE id = ?`,
			delivery, errText, ext, messageID)
		return err
	})
}

// preview is the list's one-line summary of a message.
func preview(text string) string {
	text = strings.Join(strings.Fields(text), " ")
	if r := []rune(text); len(r) > 140 {
		return string(r[:140]) + "…"
	}
	return text
}

// AttachmentData reads the stored file of an attachment (an agent's file for the
// outbox, or an inbound one). It fails for one that was never stored (too large, or
// only a link).
func (s *Store) AttachmentData(a *Attachment) ([]byte, error) {
	if a.SHA256 == "" {
		return nil, notFound("file of attachment", a.ID)
	}
	return os.ReadFile(s.AttachmentPath(a.SHA256))
}

// AttachmentByID returns one attachment.
func (s *Store) AttachmentByID(ctx context.Context, id int64) (*Attachment, error) {
	var a Attachment
	err := s.queryRow(ctx, `SELECT id, message_id, filename, content_type, size, sha256, content_id, url, too_large FROM attachments WHERE id = ?`, id).
		Scan(&a.ID, &a.MessageID, &a.Filename, &a.ContentType, &a.Size, &a.SHA256, &a.ContentID, &a.URL, &a.TooLarge)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("attachment", id)
	}
	return &a, err
}

// Refs are the e-mail threading headers of a reply.
type Refs struct {
	InReplyTo  string
	References []string
}

// ThreadRefs returns the channel ids of a conversation's messages before beforeID, in
// order (References), and the last inbound one (In-Reply-To).
func (s *Store) ThreadRefs(ctx context.Context, conversationID, beforeID int64) (Refs, error) {
	rows, err := s.query(ctx, `SELECT direction, external_id FROM messages WHERE conversation_id = ? AND id < ? AND external_id IS NOT NULL AND private = 0 ORDER BY id`, conversationID, beforeID)
	if err != nil {
		return Refs{}, err
	}
	defer rows.Close()
	var r Refs
	for rows.Next() {
		var dir, ext string
		if err := rows.Scan(&dir, &ext); err != nil {
			return r, err
		}
		r.References = append(r.References, ext)
		if dir == "in" {
			r.InReplyTo = ext
		}
	}
	if r.InReplyTo == "" && len(r.References) > 0 {
		r.InReplyTo = r.References[len(r.References)-1]
	}
	return r, rows.Err()
}

// MessagesByID loads messages with their attachments, keyed by id, in two statements.
func (s *Store) MessagesByID(ctx context.Context, ids []int64) (map[int64]*Message, error) {
	rows, err := s.query(ctx, `SELECT `+messageColumns+` FROM messages WHERE id IN (SELECT value FROM json_each(?))`, jsonIDs(ids))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var list []*Message
	out := make(map[int64]*Message, len(ids))
	for rows.Next() {
		m, err := scanMessage(rows)
		if err != nil {
			return nil, err
		}
		list = append(list, m)
		out[m.ID] = m
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, s.attachTo(ctx, list)
}
