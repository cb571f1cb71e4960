package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"time"
)

// OutboxItem is one send waiting for its channel.
type OutboxItem struct {
	ID             int64
	Kind           string // "reply", "broadcast", "alert", "auto_reply"
	InboxID        int64
	ConversationID int64
	MessageID      int64
	ContactID      int64
	DedupeKey      string
	Payload        any
	PayloadJSON    string
	Attempts       int
	LastError      string
	CreatedAt      time.Time
}

func (t *Tx) enqueue(ctx context.Context, it OutboxItem) error {
	payload := "{}"
	if it.Payload != nil {
		b, err := json.Marshal(it.Payload)
		if err != nil {
			return err
		}
		payload = string(b)
	}
	var dedupe any
	if it.DedupeKey != "" {
		dedupe = it.DedupeKey
	}
	now := formatTime(t.s.Now())
	_, err := t.exec(ctx, `INSERT INTO outbox(kind, inbox_id, conversation_id, message_id, contact_id, dedupe_key, payload, next_attempt_at, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(dedupe_key) DO NOTHING`,
		it.Kind, nullID(it.InboxID), nullID(it.ConversationID), nullID(it.MessageID), nullID(it.ContactID), dedupe, payload, now, now)
	return err
}

// Enqueue adds a send to the outbox; a repeated DedupeKey is a no-op (returns false).
func (s *Store) Enqueue(ctx context.Context, it OutboxItem) (bool, error) {
	var added bool
	err := s.tx(ctx, func(tx *Tx) error {
		var before int64
		if it.DedupeKey != "" {
			tx.queryRow(ctx, `SELECT COUNT(*) FROM outbox WHERE dedupe_key = ?`, it.DedupeKey).Scan(&before)
			if before > 0 {
				return nil
			}
		}
		added = true
		return tx.enqueue(ctx, it)
	})
	return added, err
}

func nullID(id int64) any {
	if id == 0 {
		return nil
	}
	return id
}

// DueOutbox claims up to n sends whose time has come. A claimed row stays 'sending'
// until its outcome is recorded; after a crash, rows left 'sending' for longer than
// stale are due again (the channel's own id dedupes where it can).
func (s *Store) DueOutbox(ctx context.Context, n int, stale time.Duration) ([]*OutboxItem, error) {
	now := s.Now()
	var out []*OutboxItem
	err := s.tx(ctx, func(tx *Tx) error {
		rows, err := tx.query(ctx, `UPDATE outbox SET state = 'sending', attempts = attempts + 1, next_attempt_at = ?
			WHERE id IN (SELECT id FROM outbox WHERE (state = 'pending' AND next_attempt_at <= ?) OR (state = 'sending' AND next_attempt_at <= ?)
			ORDER BY next_attempt_at, id LIMIT ?)
			RETURNING id, kind, COALESCE(inbox_id, 0), COALESCE(conversation_id, 0), COALESCE(message_id, 0), COALESCE(contact_id, 0),
			COALESCE(dedupe_key, ''), payload, attempts, last_error, created_at`,
			formatTime(now.Add(stale)), formatTime(now), formatTime(now), n)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var it OutboxItem
			var created string
			if err := rows.Scan(&it.ID, &it.Kind, &it.InboxID, &it.ConversationID, &it.MessageID, &it.ContactID, &it.DedupeKey, &it.PayloadJSON, &it.Attempts, &it.LastError, &created); err != nil {
				return err
			}
			it.CreatedAt = parseTime(created)
			out = append(out, &it)
		}
		return rows.Err()
	})
	return out, err
}

// OutboxSent records a send the channel took, and the message's delivery with it.
func (s *Store) OutboxSent(ctx context.Context, id int64, externalID string) error {
	now := formatTime(s.Now())
	return s.tx(ctx, func(tx *Tx) error {
		var msgID sql.NullInt64
		if err := tx.queryRow(ctx, `UPDATE outbox SET state = 'sent', sent_at = ?, external_id = ?, last_error = '' WHERE id = ? RETURNING message_id`, now, externalID, id).Scan(&msgID); err != nil {
			return err
		}
		if msgID.Valid {
			var ext any
			if externalID != "" {
				ext = externalID
			}
			_, err := tx.exec(ctx, `UPDATE messages SET delivery = 'sent', delivery_error = '', external_id = COALESCE(external_id, ?) WHERE id = ?`, ext, msgID.Int64)
			return err
		}
		return nil
	})
}

// OutboxRetry schedules another attempt after a refusal a retry may cure.
func (s *Store) OutboxRetry(ctx context.Context, id int64, errText string, at time.Time) error {
	return s.tx(ctx, func(tx *Tx) error {
		_, err := tx.exec(ctx, `UPDATE outbox SET state = 'pending', last_error = ?, next_attempt_at = ? WHERE id = ?`, errText, formatTime(at), id)
		return err
	})
}

// OutboxFailed records a refusal for good; the agent sees it on the message.
func (s *Store) OutboxFailed(ctx context.Context, id int64, errText string) error {
	return s.tx(ctx, func(tx *Tx) error {
		var msgID sql.NullInt64
		if err := tx.queryRow(ctx, `UPDATE outbox SET state = 'failed', last_error = ? WHERE id = ? RETURNING message_id`, errText, id).Scan(&msgID); err != nil {
			return err
		}
		if msgID.Valid {
			_, err := tx.exec(ctx, `UPDATE messages SET delivery = 'failed', delivery_error = ? WHERE id = ?`, errText, msgID.Int64)
			return err
		}
		return nil
	})
}

// RetryMessage puts a failed reply back in the outbox at once (the agent's "retry").
func (s *Store) RetryMessage(ctx context.Context, messageID int64) error {
	now := formatTime(s.Now())
	return s.tx(ctx, func(tx *Tx) error {
		res, err := tx.exec(ctx, `UPDATE outbox SET state = 'pending', next_attempt_at = ?, attempts = 0 WHERE message_id = ? AND state = 'failed'`, now, messageID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return &ConflictError{Message: "only a failed message can be retried"}
		}
		_, err = tx.exec(ctx, `UPDATE messages SET delivery = 'queued', delivery_error = '' WHERE id = ?`, messageID)
		return err
	})
}

// OutboxStats counts sends by state (for /metrics and the incident page).
func (s *Store) OutboxStats(ctx context.Context) (map[string]int, error) {
	rows, err := s.query(ctx, `SELECT state, COUNT(*) FROM outbox GROUP BY state`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var st string
		var n int
		if err := rows.Scan(&st, &n); err != nil {
			return nil, err
		}
		out[st] = n
	}
	return out, rows.Err()
}
