package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"kibo/connectors"
)

// Incoming is a channel's inbound message as the store files it: the message itself,
// and how its channel threads a message that names no conversation (the channel's
// descriptor says, connectors.Channel). The raw source is filed under the inbox's kind.
type Incoming struct {
	connectors.Inbound
	// ReuseOpen threads a message that finds no conversation by its references or
	// ticket token onto the contact's latest unresolved conversation in the inbox
	// (chat, Messenger, X); without it such a message opens a new one (e-mail).
	ReuseOpen bool
}

// Ingested says what Ingest stored.
type Ingested struct {
	MessageID       int64
	ConversationID  int64
	ContactID       int64
	CreatedAt       time.Time
	Duplicate       bool
	NewConversation bool
	Reopened        bool
}

// Ingest stores an inbound message with its contact and conversation in one
// transaction, and returns only after the commit. Concurrent calls are committed
// together (group commit): one fsync for many messages.
func (s *Store) Ingest(ctx context.Context, in Incoming) (Ingested, error) {
	if err := validateIncoming(&in); err != nil {
		return Ingested{}, err
	}
	// Files go to disk before the transaction: named by content hash, so a retry
	// rewrites the same file and an aborted transaction leaves only an orphan. The
	// stored form (the hash as URL) goes on a copy: the channel keeps its own.
	in.Attachments = slices.Clone(in.Attachments)
	for i := range in.Attachments {
		if err := s.writeAttachmentFile(&in.Attachments[i]); err != nil {
			return Ingested{}, err
		}
	}
	return s.ingest.submit(ctx, in)
}

func validateIncoming(in *Incoming) error {
	if in.InboxID == 0 {
		return invalid("a message needs an inbox")
	}
	if in.Identity.Kind == "" || in.Identity.ExternalID == "" {
		return invalid("a message needs a sender identity")
	}
	if strings.TrimSpace(in.Text) == "" && len(in.Attachments) == 0 && in.HTML == "" {
		return invalid("the message is empty")
	}
	if in.SentAt.IsZero() {
		in.SentAt = time.Now()
	}
	return nil
}

// AttachmentDir is where files live, named by their SHA-256.
func (s *Store) AttachmentDir() string { return filepath.Join(filepath.Dir(s.path), "attachments") }

// AttachmentPath is the file of an attachment hash.
func (s *Store) AttachmentPath(sha string) string {
	return filepath.Join(s.AttachmentDir(), sha[:2], sha)
}

func (s *Store) writeAttachmentFile(a *connectors.Attachment) error {
	if a.Data == nil {
		return nil
	}
	sum := sha256.Sum256(a.Data)
	sha := hex.EncodeToString(sum[:])
	a.Size = int64(len(a.Data))
	path := s.AttachmentPath(sha)
	a.ContentID = strings.Trim(a.ContentID, "<>")
	a.URL = "sha256:" + sha
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	// a temporary file of its own: two messages may carry the same file at once
	f, err := os.CreateTemp(filepath.Dir(path), sha+".*.tmp")
	if err != nil {
		return err
	}
	if _, err := f.Write(a.Data); err != nil {
		f.Close()
		os.Remove(f.Name())
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return err
	}
	return os.Rename(f.Name(), path)
}

// ---- group commit

type ingestRequest struct {
	in   Incoming
	res  Ingested
	err  error
	done chan struct{}
}

type ingestQueue struct {
	s       *Store
	ch      chan *ingestRequest
	stopped chan struct{}
	quit    chan struct{}
}

const maxIngestBatch = 256

func newIngestQueue(s *Store) *ingestQueue {
	q := &ingestQueue{s: s, ch: make(chan *ingestRequest, 4096), stopped: make(chan struct{}), quit: make(chan struct{})}
	go q.run()
	return q
}

var errStoreClosed = errors.New("the store is closed")

func (q *ingestQueue) submit(ctx context.Context, in Incoming) (Ingested, error) {
	req := &ingestRequest{in: in, done: make(chan struct{})}
	select {
	case q.ch <- req:
	case <-q.quit:
		return Ingested{}, errStoreClosed
	case <-ctx.Done():
		return Ingested{}, ctx.Err()
	}
	// Once queued, the request is committed even if the caller gives up: the sender
	// resends and gets the stored message back as a duplicate.
	<-req.done
	return req.res, req.err
}

func (q *ingestQueue) stop() {
	select {
	case <-q.quit:
		return
	default:
	}
	close(q.quit)
	<-q.stopped
}

func (q *ingestQueue) run() {
	defer close(q.stopped)
	batch := make([]*ingestRequest, 0, maxIngestBatch)
	for {
		var first *ingestRequest
		select {
		case first = <-q.ch:
		case <-q.quit:
			// finish what was queued before the stop
			for {
				select {
				case r := <-q.ch:
					q.commit([]*ingestRequest{r})
				default:
					return
				}
			}
		}
		batch = append(batch[:0], first)
	fill:
		for len(batch) < maxIngestBatch {
			select {
			case r := <-q.ch:
				batch = append(batch, r)
			default:
				break fill
			}
		}
		q.commit(batch)
	}
}

// commit stores a batch in one transaction. Savepoints per message would let one bad
// message fail alone, but they copy every page a message touches into a sub-journal
// (without them the writer went from 3,550 to 5,600 msg/s); instead a batch in which
// any message fails is rolled back whole and committed again one message per
// transaction. Failures are rare (input is validated before it is queued), so the fast
// path is the common one.
func (q *ingestQueue) commit(batch []*ingestRequest) {
	ctx := context.Background()
	s := q.s
	if len(batch) > 1 {
		err := s.tx(ctx, func(tx *Tx) error {
			for _, r := range batch {
				if r.res, r.err = tx.ingestOne(ctx, r.in); r.err != nil {
					return r.err
				}
			}
			return tx.afterIngest(ctx, batch)
		})
		if err == nil {
			for _, r := range batch {
				close(r.done)
			}
			return
		}
	}
	for _, r := range batch {
		r.res, r.err = Ingested{}, nil
		err := s.tx(ctx, func(tx *Tx) error {
			if r.res, r.err = tx.ingestOne(ctx, r.in); r.err != nil {
				return r.err
			}
			return tx.afterIngest(ctx, []*ingestRequest{r})
		})
		if err != nil {
			r.res, r.err = Ingested{}, err
		}
		close(r.done)
	}
}

// afterIngest records, in the transaction of a batch of ingested messages, what every
// new message needs once committed: its place in the full-text index, and the
// follow-up work of an inbound one (followups.go). Re-deliveries need neither.
func (t *Tx) afterIngest(ctx context.Context, batch []*ingestRequest) error {
	ids := make([]int64, 0, len(batch))
	work := make([]Followup, 0, len(batch))
	for _, r := range batch {
		if r.res.Duplicate {
			continue
		}
		ids = append(ids, r.res.MessageID)
		if !r.in.Echo {
			work = append(work, Followup{MessageID: r.res.MessageID, NewConversation: r.res.NewConversation, Reopened: r.res.Reopened})
		}
	}
	if err := t.indexMessages(ctx, ids); err != nil {
		return err
	}
	return t.queueFollowups(ctx, work)
}

func (t *Tx) ingestOne(ctx context.Context, in Incoming) (Ingested, error) {
	// Re-delivery: the same channel id, or the same widget id in the same
	// conversation, returns what is stored.
	if in.ExternalID != "" {
		if r, ok, err := t.existingMessage(ctx, `inbox_id = ? AND external_id = ?`, in.InboxID, in.ExternalID); ok || err != nil {
			if err == nil && in.MailCursor != nil {
				err = t.saveMailCursor(ctx, in.InboxID, *in.MailCursor)
			}
			return r, err
		}
	}
	// A widget id is checked by the insert itself (ON CONFLICT below): a lookup before
	// it would cost the writer a statement for every message to catch the rare resend.
	now := t.s.Now()
	var contactID, convID int64
	var status string
	var err error
	if in.ConversationID != 0 {
		contactID, convID, status, err = t.knownConversation(ctx, in, now)
	} else {
		if contactID, err = t.resolveContact(ctx, in.Identity, now); err == nil {
			convID, status, err = t.findConversation(ctx, in, contactID)
		}
	}
	if err != nil {
		return Ingested{}, err
	}
	res := Ingested{ContactID: contactID, CreatedAt: now}
	if convID == 0 {
		subject := strings.TrimSpace(in.Subject)
		if subject == "" {
			subject = preview(in.Text)
			if r := []rune(subject); len(r) > 80 {
				subject = string(r[:80]) + "…"
			}
		}
		// the next ticket number after every one there is and every one deleted
		// (high_water, 0010_trust.sql): a number is never given twice
		convID, err = t.insert(ctx, `INSERT INTO conversations(number, inbox_id, contact_id, subject, created_at, updated_at, last_message_at)
			VALUES (MAX((SELECT COALESCE(MAX(number), 1000) FROM conversations),
				COALESCE((SELECT value FROM high_water WHERE name = 'conversation_number'), 0)) + 1, ?, ?, ?, ?, ?, ?)`,
			in.InboxID, contactID, subject, formatTime(now), formatTime(now), formatTime(now))
		if err != nil {
			return Ingested{}, err
		}
		res.NewConversation = true
	}
	res.ConversationID = convID

	direction, authorKind, authorName := "in", "contact", in.Identity.Name
	var delivery any
	if in.Echo {
		direction, authorKind, authorName, delivery = "out", "agent", "", "sent"
	}
	meta := "{}"
	if len(in.Metadata) > 0 {
		b, _ := json.Marshal(in.Metadata)
		meta = string(b)
	}
	var ext, cid any
	if in.ExternalID != "" {
		ext = in.ExternalID
	}
	if in.ClientID != "" {
		cid = in.ClientID
	}
	var authorID any
	if !in.Echo {
		authorID = contactID
	}
	ins, err := t.exec(ctx, `INSERT INTO messages(conversation_id, inbox_id, direction, author_kind, author_id, author_name, text, html,
		external_id, client_id, delivery, auto, metadata, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (conversation_id, client_id) WHERE client_id IS NOT NULL DO NOTHING`,
		convID, in.InboxID, direction, authorKind, authorID, authorName, in.Text, in.HTML, ext, cid, delivery, in.Auto, meta, formatTime(now))
	if err != nil {
		return Ingested{}, err
	}
	if n, err := ins.RowsAffected(); err != nil || n == 0 {
		if err != nil {
			return Ingested{}, err
		}
		// the same widget id in this conversation: a resend of what is stored. Nothing
		// else was written for it (the conversation existed, so did the contact).
		r, ok, err := t.existingMessage(ctx, `conversation_id = ? AND client_id = ?`, convID, in.ClientID)
		if err == nil && !ok {
			err = errors.New("ingest: a conflicting widget id without its message")
		}
		return r, err
	}
	msgID, err := ins.LastInsertId()
	if err != nil {
		return Ingested{}, err
	}
	res.MessageID = msgID
	for _, a := range in.Attachments {
		sha, url := "", a.URL
		if strings.HasPrefix(a.URL, "sha256:") {
			sha, url = strings.TrimPrefix(a.URL, "sha256:"), ""
		}
		if _, err := t.exec(ctx, `INSERT INTO attachments(message_id, filename, content_type, size, sha256, content_id, url, too_large) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			msgID, a.Filename, a.ContentType, a.Size, sha, a.ContentID, url, a.TooLarge); err != nil {
			return Ingested{}, err
		}
	}
	if len(in.Raw) > 0 {
		if _, err := t.exec(ctx, `INSERT INTO raw_sources(inbox_id, message_id, contact_id, kind, body, state, created_at)
			VALUES (?, ?, ?, (SELECT kind FROM inboxes WHERE id = ?), ?, 'processed', ?)`,
			in.InboxID, msgID, contactID, in.InboxID, in.Raw, formatTime(now)); err != nil {
			return Ingested{}, err
		}
	}
	text := in.Text
	if text == "" && len(in.Attachments) > 0 {
		text = "📎 " + in.Attachments[0].Filename
	}
	if in.Echo {
		_, err = t.exec(ctx, `UPDATE conversations SET last_message_at = ?, last_message_id = ?, preview = ?, updated_at = ? WHERE id = ?`,
			formatTime(now), msgID, preview(text), formatTime(now), convID)
	} else {
		// A customer writing again reopens a pending, snoozed or resolved conversation.
		res.Reopened = status != "open" && !res.NewConversation
		_, err = t.exec(ctx, `UPDATE conversations SET last_message_at = ?, last_message_id = ?, last_inbound_message_id = ?, preview = ?,
			updated_at = ?, last_customer_message_at = ?, status = 'open', snoozed_until = NULL, resolved_at = NULL WHERE id = ?`,
			formatTime(now), msgID, msgID, preview(text), formatTime(now), formatTime(now), convID)
	}
	if err != nil {
		return Ingested{}, err
	}
	if in.MailCursor != nil {
		if err := t.saveMailCursor(ctx, in.InboxID, *in.MailCursor); err != nil {
			return Ingested{}, err
		}
	}
	return res, nil
}

func (t *Tx) existingMessage(ctx context.Context, where string, args ...any) (Ingested, bool, error) {
	var r Ingested
	var created string
	var author sql.NullInt64
	err := t.queryRow(ctx, `SELECT m.id, m.conversation_id, m.created_at, c.contact_id FROM messages m JOIN conversations c ON c.id = m.conversation_id WHERE m.`+
		strings.ReplaceAll(where, " AND ", " AND m."), args...).Scan(&r.MessageID, &r.ConversationID, &created, &author)
	if errors.Is(err, sql.ErrNoRows) {
		return r, false, nil
	}
	if err != nil {
		return r, false, err
	}
	r.CreatedAt = parseTime(created)
	r.ContactID = author.Int64
	r.Duplicate = true
	return r, true, nil
}

// resolveContact finds the contact behind an identity, creating both when new. A
// merged contact resolves to the one it was merged into.
//
// Only a verified address joins an existing contact: an e-mail identity's own address,
// or one a widget identity's proof signed. An address passed unsigned is stored on the
// new identity and contact as unverified and matched against nothing, so a visitor who
// types someone else's address gets a contact of their own.
func (t *Tx) resolveContact(ctx context.Context, id connectors.Identity, now time.Time) (int64, error) {
	var contactID int64
	err := t.queryRow(ctx, `SELECT contact_id FROM identities WHERE kind = ? AND scope = ? AND external_id = ?`, id.Kind, id.Scope, id.ExternalID).Scan(&contactID)
	if err == nil {
		if id.Name != "" {
			if _, err := t.exec(ctx, `UPDATE contacts SET name = ?, name_verified = ?, updated_at = ? WHERE id = ? AND name = ''`,
				id.Name, !id.NameUnverified, formatTime(now), contactID); err != nil {
				return 0, err
			}
		}
		return contactID, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return 0, err
	}
	email, emailVerified := strings.ToLower(strings.TrimSpace(id.Email)), id.EmailVerified
	if id.Kind == "email" {
		email, emailVerified = strings.ToLower(id.ExternalID), true
	}
	emailVerified = emailVerified && email != ""
	if emailVerified && id.Kind != "email" {
		// a signed address joins the contact who owns it
		err := t.queryRow(ctx, `SELECT contact_id FROM identities WHERE kind = 'email' AND scope = '' AND external_id = ?`, email).Scan(&contactID)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return 0, err
		}
	}
	if contactID == 0 {
		contactID, err = t.insert(ctx, `INSERT INTO contacts(name, email, email_verified, name_verified, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)`,
			id.Name, email, emailVerified || email == "", !id.NameUnverified, formatTime(now), formatTime(now))
		if err != nil {
			return 0, err
		}
	}
	if _, err := t.exec(ctx, `INSERT INTO identities(contact_id, kind, scope, external_id, name, handle, email, email_verified, name_verified, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		contactID, id.Kind, id.Scope, id.ExternalID, id.Name, id.Handle, email, emailVerified, !id.NameUnverified, formatTime(now)); err != nil {
		return 0, err
	}
	if emailVerified && id.Kind != "email" {
		if _, err := t.exec(ctx, `INSERT INTO identities(contact_id, kind, scope, external_id, name, email, email_verified, created_at) VALUES (?, 'email', '', ?, ?, ?, 1, ?) ON CONFLICT DO NOTHING`,
			contactID, email, id.Name, email, formatTime(now)); err != nil {
			return 0, err
		}
	}
	return contactID, nil
}

// knownConversation reads, in one statement, what a message into a conversation the
// channel already knows needs: the conversation's status and the sender's contact; a
// deleted or erased conversation is not found (nothing more is filed under it). It
// is the widget's steady state, every message of a chat, and the writer is serial.
// The identity is a scalar subquery: written as a LEFT JOIN the same lookups cost the
// writer 31 µs instead of 9 (measured; separately they cost 14).
func (t *Tx) knownConversation(ctx context.Context, in Incoming, now time.Time) (contactID, convID int64, status string, err error) {
	var contact sql.NullInt64
	err = t.queryRow(ctx, `SELECT c.status, (SELECT contact_id FROM identities WHERE kind = ? AND scope = ? AND external_id = ?)
		FROM conversations c WHERE c.id = ? AND c.inbox_id = ? AND c.deleted_at IS NULL`,
		in.Identity.Kind, in.Identity.Scope, in.Identity.ExternalID, in.ConversationID, in.InboxID).Scan(&status, &contact)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, 0, "", notFound("conversation", in.ConversationID)
	}
	if err != nil {
		return 0, 0, "", err
	}
	if !contact.Valid {
		// a sender new to this conversation (an identity that changed mid-chat)
		contactID, err = t.resolveContact(ctx, in.Identity, now)
		return contactID, in.ConversationID, status, err
	}
	if in.Identity.Name != "" {
		// a name learnt later fills an empty one, as resolveContact does
		if _, err := t.exec(ctx, `UPDATE contacts SET name = ?, name_verified = ?, updated_at = ? WHERE id = ? AND name = ''`,
			in.Identity.Name, !in.Identity.NameUnverified, formatTime(now), contact.Int64); err != nil {
			return 0, 0, "", err
		}
	}
	return contact.Int64, in.ConversationID, status, nil
}

// findConversation returns the conversation a message belongs to and its status, or
// 0 for a new one, when the channel does not know it (see knownConversation).
func (t *Tx) findConversation(ctx context.Context, in Incoming, contactID int64) (int64, string, error) {
	var id int64
	var status string
	found := func(err error) (bool, error) {
		if err == nil {
			return true, nil
		}
		if errors.Is(err, sql.ErrNoRows) {
			return false, nil
		}
		return false, err
	}
	if in.NewThread {
		return 0, "", nil
	}
	// References first: In-Reply-To and every id in References against everything
	// stored or sent in this inbox, most relevant first.
	for _, ref := range in.ThreadRefs {
		if ref == "" {
			continue
		}
		ok, err := found(t.queryRow(ctx, `SELECT c.id, c.status FROM messages m JOIN conversations c ON c.id = m.conversation_id
			WHERE m.inbox_id = ? AND m.external_id = ? AND c.deleted_at IS NULL`, in.InboxID, ref).Scan(&id, &status))
		if ok || err != nil {
			return id, status, err
		}
	}
	// Then a ticket token in the subject, only when the sender takes part in that
	// conversation: quoting someone else's ticket number must not join it.
	if in.SubjectToken != 0 {
		ok, err := found(t.queryRow(ctx, `SELECT c.id, c.status FROM conversations c WHERE c.number = ? AND c.inbox_id = ? AND c.deleted_at IS NULL
			AND (c.contact_id = ? OR EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = c.id AND m.author_kind = 'contact' AND m.author_id = ?))`,
			in.SubjectToken, in.InboxID, contactID, contactID).Scan(&id, &status))
		if ok || err != nil {
			return id, status, err
		}
	}
	if in.ReuseOpen {
		ok, err := found(t.queryRow(ctx, `SELECT id, status FROM conversations WHERE inbox_id = ? AND contact_id = ? AND status <> 'resolved' AND deleted_at IS NULL
			ORDER BY last_message_at DESC LIMIT 1`, in.InboxID, contactID).Scan(&id, &status))
		if ok || err != nil {
			return id, status, err
		}
	}
	return 0, "", nil
}

func (t *Tx) saveMailCursor(ctx context.Context, inboxID int64, c connectors.MailCursor) error {
	_, err := t.exec(ctx, `INSERT INTO mail_sync(inbox_id, uid_validity, last_uid, updated_at) VALUES (?, ?, ?, ?)
		ON CONFLICT(inbox_id) DO UPDATE SET
			last_uid = CASE WHEN uid_validity = excluded.uid_validity THEN MAX(last_uid, excluded.last_uid) ELSE excluded.last_uid END,
			uid_validity = excluded.uid_validity, updated_at = excluded.updated_at`,
		inboxID, c.UIDValidity, c.UID, formatTime(t.s.Now()))
	return err
}

// MailCursor returns the stored IMAP position of an inbox (zeros when none).
func (s *Store) MailCursor(ctx context.Context, inboxID int64) (connectors.MailCursor, error) {
	var c connectors.MailCursor
	err := s.queryRow(ctx, `SELECT uid_validity, last_uid FROM mail_sync WHERE inbox_id = ?`, inboxID).Scan(&c.UIDValidity, &c.UID)
	if errors.Is(err, sql.ErrNoRows) {
		return connectors.MailCursor{}, nil
	}
	return c, err
}

// Quarantine keeps a message that could not be processed, with its raw source (filed
// under the inbox's kind) and the reason, and moves the mail cursor past it in the
// same transaction so it never blocks the messages after it.
func (s *Store) Quarantine(ctx context.Context, inboxID int64, raw []byte, reason string, cursor *connectors.MailCursor) error {
	return s.tx(ctx, func(tx *Tx) error {
		if _, err := tx.exec(ctx, `INSERT INTO raw_sources(inbox_id, kind, body, state, error, created_at)
			VALUES (?, (SELECT kind FROM inboxes WHERE id = ?), ?, 'quarantined', ?, ?)`,
			inboxID, inboxID, raw, reason, formatTime(s.Now())); err != nil {
			return err
		}
		if cursor != nil {
			return tx.saveMailCursor(ctx, inboxID, *cursor)
		}
		return nil
	})
}

// Quarantined counts the messages waiting in quarantine per inbox.
func (s *Store) Quarantined(ctx context.Context) (map[int64]int, error) {
	rows, err := s.query(ctx, `SELECT inbox_id, COUNT(*) FROM raw_sources WHERE state = 'quarantined' GROUP BY inbox_id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[int64]int{}
	for rows.Next() {
		var id int64
		var n int
		if err := rows.Scan(&id, &n); err != nil {
			return nil, err
		}
		out[id] = n
	}
	return out, rows.Err()
}

// StoreWebhook keeps a webhook body before it is processed.
func (s *Store) StoreWebhook(ctx context.Context, inboxID int64, kind string, body []byte) (int64, error) {
	var id int64
	err := s.tx(ctx, func(tx *Tx) error {
		var err error
		id, err = tx.insert(ctx, `INSERT INTO raw_sources(inbox_id, kind, body, state, created_at) VALUES (?, ?, ?, 'stored', ?)`, inboxID, kind, body, formatTime(s.Now()))
		return err
	})
	return id, err
}

// ForgetWebhook drops a processed webhook body: its messages keep their own raw parts.
func (s *Store) ForgetWebhook(ctx context.Context, id int64) error {
	return s.tx(ctx, func(tx *Tx) error {
		_, err := tx.exec(ctx, `DELETE FROM raw_sources WHERE id = ? AND state = 'stored'`, id)
		return err
	})
}

// PendingWebhook is a webhook body stored but not processed.
type PendingWebhook struct {
	ID      int64
	InboxID int64
	Body    []byte
}

// PendingWebhooks lists webhook bodies left unprocessed (by a crash), oldest first.
func (s *Store) PendingWebhooks(ctx context.Context) ([]PendingWebhook, error) {
	rows, err := s.query(ctx, `SELECT id, inbox_id, body FROM raw_sources WHERE state = 'stored' AND kind LIKE '%-webhook' ORDER BY id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []PendingWebhook
	for rows.Next() {
		var p PendingWebhook
		if err := rows.Scan(&p.ID, &p.InboxID, &p.Body); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}
