package store

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"strings"
	"time"
)

// Notification is an in-app notice to one agent (a data request's deadline alert).
type Notification struct {
	ID        int64      `json:"id"`
	AgentID   int64      `json:"agent_id"`
	Kind      string     `json:"kind"`
	Text      string     `json:"text"`
	Link      string     `json:"link"`
	CreatedAt time.Time  `json:"created_at"`
	ReadAt    *time.Time `json:"read_at"`
}

// NewNotification is a notice to write; DedupeKey makes it once-only.
type NewNotification struct {
	AgentID   int64
	Kind      string
	Text      string
	Link      string
	DedupeKey string
}

// Notifications returns an agent's notices, newest first, and how many are unread (two
// statements).
func (s *Store) Notifications(ctx context.Context, agentID int64, limit int) ([]*Notification, int, error) {
	if limit <= 0 || limit > 200 {
		limit = 50
	}
	rows, err := s.query(ctx, `SELECT id, agent_id, kind, text, link, created_at, read_at FROM notifications
		WHERE agent_id = ? ORDER BY id DESC LIMIT ?`, agentID, limit)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	out := []*Notification{}
	for rows.Next() {
		var n Notification
		var created string
		var read sql.NullString
		if err := rows.Scan(&n.ID, &n.AgentID, &n.Kind, &n.Text, &n.Link, &created, &read); err != nil {
			return nil, 0, err
		}
		n.CreatedAt, n.ReadAt = parseTime(created), parseNullTime(read)
		out = append(out, &n)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, err
	}
	var unread int
	err = s.queryRow(ctx, `SELECT COUNT(*) FROM notifications WHERE agent_id = ? AND read_at IS NULL`, agentID).Scan(&unread)
	return out, unread, err
}

// MarkNotificationsRead marks an agent's notices up to upTo (0: all) as read.
func (s *Store) MarkNotificationsRead(ctx context.Context, agentID, upTo int64) error {
	return s.tx(ctx, func(tx *Tx) error {
		_, err := tx.exec(ctx, `UPDATE notifications SET read_at = ? WHERE agent_id = ? AND read_at IS NULL AND (? = 0 OR id <= ?)`,
			formatTime(s.Now()), agentID, upTo, upTo)
		return err
	})
}

// RecordDataRequestAlert sends a deadline alert once: in one transaction it records
// mark on the request (unless it is there already, when it does nothing and reports
// false), writes the notices and queues the e-mails. Notices and e-mails carry dedupe
// keys, so even a second writer could not double them.
func (s *Store) RecordDataRequestAlert(ctx context.Context, requestID int64, mark string, notes []NewNotification, mails []OutboxItem) (bool, error) {
	if mark == "" || strings.Contains(mark, ",") {
		return false, invalid("bad alert mark %q", mark)
	}
	recorded := false
	err := s.tx(ctx, func(tx *Tx) error {
		var sent string
		err := tx.queryRow(ctx, `SELECT alerts_sent FROM data_requests WHERE id = ?`, requestID).Scan(&sent)
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("data request", requestID)
		}
		if err != nil {
			return err
		}
		marks := splitMarks(sent)
		if slices.Contains(marks, mark) {
			return nil
		}
		marks = append(marks, mark)
		if _, err := tx.exec(ctx, `UPDATE data_requests SET alerts_sent = ? WHERE id = ?`, strings.Join(marks, ","), requestID); err != nil {
			return err
		}
		now := formatTime(s.Now())
		for _, n := range notes {
			var key any
			if n.DedupeKey != "" {
				key = n.DedupeKey
			}
			if _, err := tx.exec(ctx, `INSERT INTO notifications(agent_id, kind, text, link, dedupe_key, created_at) VALUES (?, ?, ?, ?, ?, ?)
				ON CONFLICT(dedupe_key) DO NOTHING`, n.AgentID, n.Kind, n.Text, n.Link, key, now); err != nil {
				return err
			}
		}
		for _, m := range mails {
			if err := tx.enqueue(ctx, m); err != nil {
				return err
			}
		}
		recorded = true
		return nil
	})
	return recorded, err
}
