package store

import (
	"context"
	"encoding/json"
	"time"
)

// Followup is the work that follows one stored inbound message: data-request
// detection, SLA due times, the incident auto-reply. It is recorded in the message's
// own transaction (Tx.afterIngest) and deleted once done, so a crash or a backlog
// delays it but never loses it. What it needs to know of the moment of ingest is kept
// with it: whether the message opened a conversation or reopened one.
type Followup struct {
	MessageID       int64
	NewConversation bool
	Reopened        bool
	CreatedAt       time.Time
	Attempts        int
}

// queueFollowups records the follow-up work of a batch of messages, one statement for
// the batch (the writer is serial: a statement per message would cost every chat
// message).
func (t *Tx) queueFollowups(ctx context.Context, work []Followup) error {
	if len(work) == 0 {
		return nil
	}
	rows := make([][3]int64, len(work))
	for i, w := range work {
		rows[i] = [3]int64{w.MessageID, boolInt(w.NewConversation), boolInt(w.Reopened)}
	}
	b, err := json.Marshal(rows)
	if err != nil {
		return err
	}
	_, err = t.exec(ctx, `INSERT INTO inbound_followups(message_id, new_conversation, reopened, created_at)
		SELECT value ->> 0, value ->> 1, value ->> 2, ? FROM json_each(?)`, formatTime(t.s.Now()), string(b))
	return err
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// DueFollowups returns up to limit follow-ups that may run at now, oldest message
// first.
func (s *Store) DueFollowups(ctx context.Context, now time.Time, limit int) ([]Followup, error) {
	rows, err := s.query(ctx, `SELECT message_id, new_conversation, reopened, created_at, attempts FROM inbound_followups
		WHERE not_before IS NULL OR not_before <= ? ORDER BY message_id LIMIT ?`, formatTime(now), limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Followup
	for rows.Next() {
		var f Followup
		var created string
		if err := rows.Scan(&f.MessageID, &f.NewConversation, &f.Reopened, &created, &f.Attempts); err != nil {
			return nil, err
		}
		f.CreatedAt = parseTime(created)
		out = append(out, f)
	}
	return out, rows.Err()
}

// FinishFollowups deletes the follow-ups of messages whose work is done.
func (s *Store) FinishFollowups(ctx context.Context, messageIDs []int64) error {
	if len(messageIDs) == 0 {
		return nil
	}
	return s.tx(ctx, func(tx *Tx) error {
		_, err := tx.exec(ctx, `DELETE FROM inbound_followups WHERE message_id IN (SELECT value FROM json_each(?))`, jsonIDs(messageIDs))
		return err
	})
}

// PostponeFollowup records a failed attempt: the work runs again from notBefore on.
func (s *Store) PostponeFollowup(ctx context.Context, messageID int64, reason string, notBefore time.Time) error {
	return s.tx(ctx, func(tx *Tx) error {
		_, err := tx.exec(ctx, `UPDATE inbound_followups SET attempts = attempts + 1, last_error = ?, not_before = ? WHERE message_id = ?`,
			reason, formatTime(notBefore), messageID)
		return err
	})
}

// FollowupBacklog is what /metrics shows of the follow-up work: how many messages
// wait for it, how many of those failed at least once, and when the oldest arrived
// (zero when none waits).
type FollowupBacklog struct {
	Pending  int
	Retrying int
	Oldest   time.Time
}

// FollowupBacklog counts the follow-ups not done yet.
func (s *Store) FollowupBacklog(ctx context.Context) (FollowupBacklog, error) {
	var b FollowupBacklog
	var oldest *string
	err := s.queryRow(ctx, `SELECT COUNT(*), COUNT(*) FILTER (WHERE attempts > 0), MIN(created_at) FROM inbound_followups`).Scan(&b.Pending, &b.Retrying, &oldest)
	if err == nil && oldest != nil {
		b.Oldest = parseTime(*oldest)
	}
	return b, err
}
