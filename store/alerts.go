package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"sort"
	"time"
)

// TeamAlert is something the team must hear about now: an SLA about to breach or
// breached, a spike in inbound volume, a channel that stopped working. Its text never
// carries customer content (only ticket numbers), so an erasure leaves none behind.
type TeamAlert struct {
	ID        int64     `json:"id"`
	DedupeKey string    `json:"-"`
	Kind      string    `json:"kind"`
	Text      string    `json:"text"`
	Link      string    `json:"link"`
	CreatedAt time.Time `json:"at"`
	// Webhook asks for the team's outgoing webhook to be called (when one is set).
	Webhook bool `json:"-"`
}

// RaiseTeamAlert records an alert once: in one transaction it writes the alert (unless
// its dedupe key is there already, when it does nothing and reports false), the
// in-app notices and the e-mails (outbox rows of kind "alert").
func (s *Store) RaiseTeamAlert(ctx context.Context, a TeamAlert, notes []NewNotification, mails []OutboxItem) (bool, error) {
	if a.DedupeKey == "" || a.Kind == "" {
		return false, invalid("an alert needs a kind and a dedupe key")
	}
	raised := false
	now := s.Now()
	err := s.tx(ctx, func(tx *Tx) error {
		state, next := "none", any(nil)
		if a.Webhook {
			state, next = "pending", formatTime(now)
		}
		res, err := tx.exec(ctx, `INSERT INTO alert_log(dedupe_key, kind, text, link, created_at, webhook_state, webhook_next_at) VALUES (?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT(dedupe_key) DO NOTHING`, a.DedupeKey, a.Kind, a.Text, a.Link, formatTime(now), state, next)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil
		}
		for _, n := range notes {
			var key any
			if n.DedupeKey != "" {
				key = n.DedupeKey
			}
			if _, err := tx.exec(ctx, `INSERT INTO notifications(agent_id, kind, text, link, dedupe_key, created_at) VALUES (?, ?, ?, ?, ?, ?)
				ON CONFLICT(dedupe_key) DO NOTHING`, n.AgentID, n.Kind, n.Text, n.Link, key, formatTime(now)); err != nil {
				return err
			}
		}
		for _, m := range mails {
			if err := tx.enqueue(ctx, m); err != nil {
				return err
			}
		}
		raised = true
		return nil
	})
	return raised, err
}

// TeamAlertRaised tells whether an alert with this key exists (and is not cleared).
func (s *Store) TeamAlertRaised(ctx context.Context, dedupeKey string) (bool, error) {
	var n int
	err := s.queryRow(ctx, `SELECT COUNT(*) FROM alert_log WHERE dedupe_key = ? AND cleared_at IS NULL`, dedupeKey).Scan(&n)
	return n > 0, err
}

// OpenTeamAlerts lists the alerts of a kind not cleared yet, by dedupe key.
func (s *Store) OpenTeamAlerts(ctx context.Context, kind string) (map[string]int64, error) {
	rows, err := s.query(ctx, `SELECT dedupe_key, id FROM alert_log WHERE kind = ? AND cleared_at IS NULL`, kind)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var k string
		var id int64
		if err := rows.Scan(&k, &id); err != nil {
			return nil, err
		}
		out[k] = id
	}
	return out, rows.Err()
}

// ClearTeamAlert marks an alert over (a channel works again), so the next failure is a
// new alert.
func (s *Store) ClearTeamAlert(ctx context.Context, id int64) error {
	return s.tx(ctx, func(tx *Tx) error {
		_, err := tx.exec(ctx, `UPDATE alert_log SET cleared_at = ? WHERE id = ? AND cleared_at IS NULL`, formatTime(s.Now()), id)
		return err
	})
}

// TeamAlerts lists the latest alerts, newest first.
func (s *Store) TeamAlerts(ctx context.Context, limit int) ([]*TeamAlert, error) {
	if limit <= 0 || limit > 500 {
		limit = 100
	}
	rows, err := s.query(ctx, `SELECT id, dedupe_key, kind, text, link, created_at FROM alert_log ORDER BY id DESC LIMIT ?`, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []*TeamAlert{}
	for rows.Next() {
		var a TeamAlert
		var at string
		if err := rows.Scan(&a.ID, &a.DedupeKey, &a.Kind, &a.Text, &a.Link, &at); err != nil {
			return nil, err
		}
		a.CreatedAt = parseTime(at)
		out = append(out, &a)
	}
	return out, rows.Err()
}

// DueAlertWebhook is an alert whose webhook call is due, with the attempts made.
type DueAlertWebhook struct {
	Alert    TeamAlert
	Attempts int
}

// DueAlertWebhooks claims the alerts whose webhook call is due, oldest first: a claimed
// alert is not due again for lease (so two workers never post it twice), unless its
// outcome is recorded first.
func (s *Store) DueAlertWebhooks(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]DueAlertWebhook, error) {
	var out []DueAlertWebhook
	err := s.tx(ctx, func(tx *Tx) error {
		rows, err := tx.query(ctx, `UPDATE alert_log SET webhook_next_at = ? WHERE id IN (
				SELECT id FROM alert_log WHERE webhook_state = 'pending' AND webhook_next_at <= ? ORDER BY webhook_next_at, id LIMIT ?)
			RETURNING id, dedupe_key, kind, text, link, created_at, webhook_attempts`, formatTime(now.Add(lease)), formatTime(now), limit)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var d DueAlertWebhook
			var at string
			if err := rows.Scan(&d.Alert.ID, &d.Alert.DedupeKey, &d.Alert.Kind, &d.Alert.Text, &d.Alert.Link, &at, &d.Attempts); err != nil {
				return err
			}
			d.Alert.CreatedAt = parseTime(at)
			out = append(out, d)
		}
		return rows.Err()
	})
	// RETURNING promises no order
	sort.Slice(out, func(i, j int) bool { return out[i].Alert.ID < out[j].Alert.ID })
	return out, err
}

// AlertWebhookDone records the outcome of a webhook call: sent, or failed for good
// (next nil), or to be tried again at next.
func (s *Store) AlertWebhookDone(ctx context.Context, id int64, errText string, next *time.Time) error {
	state := "sent"
	switch {
	case errText != "" && next != nil:
		state = "pending"
	case errText != "":
		state = "failed"
	}
	return s.tx(ctx, func(tx *Tx) error {
		_, err := tx.exec(ctx, `UPDATE alert_log SET webhook_state = ?, webhook_error = ?, webhook_attempts = webhook_attempts + 1, webhook_next_at = ? WHERE id = ?`,
			state, errText, nullTime(next), id)
		return err
	})
}

// ---- volume

// InboundCount counts the messages customers sent in [from, to).
func (s *Store) InboundCount(ctx context.Context, from, to time.Time) (int, error) {
	var n int
	err := s.queryRow(ctx, `SELECT COUNT(*) FROM messages WHERE direction = 'in' AND created_at >= ? AND created_at < ?`, formatTime(from), formatTime(to)).Scan(&n)
	return n, err
}

// InboundCountWindows counts the messages customers sent in each window [from, to), in
// one statement.
func (s *Store) InboundCountWindows(ctx context.Context, windows [][2]time.Time) (int, error) {
	w := make([][2]string, len(windows))
	for i, x := range windows {
		w[i] = [2]string{formatTime(x[0]), formatTime(x[1])}
	}
	b, err := json.Marshal(w)
	if err != nil {
		return 0, err
	}
	var n sql.NullInt64
	err = s.queryRow(ctx, `SELECT SUM((SELECT COUNT(*) FROM messages m WHERE m.direction = 'in'
		AND m.created_at >= json_extract(w.value, '$[0]') AND m.created_at < json_extract(w.value, '$[1]'))) FROM json_each(?) w`, string(b)).Scan(&n)
	return int(n.Int64), err
}

// SetAlertWebhookURL sets the team's alert webhook ("" removes it). The URL often holds
// a secret (a chat tool's incoming-webhook token), so the audit log says only whether
// one is set.
func (s *Store) SetAlertWebhookURL(ctx context.Context, url string, actorID int64) error {
	return s.tx(ctx, func(tx *Tx) error {
		if _, err := tx.exec(ctx, `INSERT INTO settings(key, value) VALUES ('alert_webhook_url', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value`, url); err != nil {
			return err
		}
		return tx.audit(ctx, "agent", actorID, "settings.update", "settings", "alert_webhook_url", map[string]any{"set": url != ""})
	})
}
