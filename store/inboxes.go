package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"strings"
	"time"
)

// Inbox is one configured channel account: a website's chat, a mailbox, a Facebook page,
// an X account. Settings are the kind's JSON (docs/CHANNELS.md), secrets included: the
// server masks them on the way out.
type Inbox struct {
	ID        int64
	Kind      string
	Name      string
	PublicKey string
	Settings  map[string]any
	State     string
	LastError string
	StateAt   *time.Time
	CreatedAt time.Time
}

const inboxColumns = `id, kind, name, COALESCE(public_key, ''), settings, state, last_error, state_at, created_at`

func scanInbox(sc interface{ Scan(...any) error }) (*Inbox, error) {
	var in Inbox
	var settings, created string
	var stateAt sql.NullString
	if err := sc.Scan(&in.ID, &in.Kind, &in.Name, &in.PublicKey, &settings, &in.State, &in.LastError, &stateAt, &created); err != nil {
		return nil, err
	}
	in.Settings = map[string]any{}
	if err := json.Unmarshal([]byte(settings), &in.Settings); err != nil {
		return nil, err
	}
	in.StateAt = parseNullTime(stateAt)
	in.CreatedAt = parseTime(created)
	return &in, nil
}

// CreateInbox adds an inbox. publicKey is empty for kinds that have none. Which kinds
// there are is the channels' business (connectors.Registry): the store keeps any.
func (s *Store) CreateInbox(ctx context.Context, kind, name, publicKey string, settings map[string]any) (*Inbox, error) {
	if strings.TrimSpace(kind) == "" || len(kind) > 40 {
		return nil, invalid("an inbox needs a kind")
	}
	b, err := checkInbox(name, settings)
	if err != nil {
		return nil, err
	}
	name = strings.TrimSpace(name)
	var pk any
	if publicKey != "" {
		pk = publicKey
	}
	var id int64
	err = s.tx(ctx, func(tx *Tx) error {
		var err error
		id, err = tx.insert(ctx, `INSERT INTO inboxes(kind, name, public_key, settings, created_at) VALUES (?, ?, ?, ?, ?)`,
			kind, name, pk, string(b), formatTime(s.Now()))
		return err
	})
	if err != nil {
		return nil, err
	}
	return s.Inbox(ctx, id)
}

// checkInbox checks an inbox's name and settings, and returns the settings as JSON.
func checkInbox(name string, settings map[string]any) ([]byte, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		return nil, invalid("an inbox needs a name")
	}
	if err := CheckLen("name", name, MaxNameLen); err != nil {
		return nil, err
	}
	b, err := json.Marshal(settings)
	if err != nil {
		return nil, invalid("settings: %v", err)
	}
	if len(b) > MaxSettingsLen {
		return nil, invalid("settings are larger than %d KiB", MaxSettingsLen>>10)
	}
	return b, nil
}

// Inbox returns one inbox.
func (s *Store) Inbox(ctx context.Context, id int64) (*Inbox, error) {
	in, err := scanInbox(s.queryRow(ctx, `SELECT `+inboxColumns+` FROM inboxes WHERE id = ? AND deleted_at IS NULL`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("inbox", id)
	}
	return in, err
}

// InboxByPublicKey finds a chat inbox by the key its widget snippet carries.
func (s *Store) InboxByPublicKey(ctx context.Context, key string) (*Inbox, error) {
	in, err := scanInbox(s.queryRow(ctx, `SELECT `+inboxColumns+` FROM inboxes WHERE public_key = ? AND deleted_at IS NULL`, key))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("inbox", key)
	}
	return in, err
}

// Inboxes lists every inbox.
func (s *Store) Inboxes(ctx context.Context) ([]*Inbox, error) {
	rows, err := s.query(ctx, `SELECT `+inboxColumns+` FROM inboxes WHERE deleted_at IS NULL ORDER BY id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*Inbox
	for rows.Next() {
		in, err := scanInbox(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, in)
	}
	return out, rows.Err()
}

// UpdateInbox replaces the name and settings of an inbox.
func (s *Store) UpdateInbox(ctx context.Context, id int64, name string, settings map[string]any) (*Inbox, error) {
	b, err := checkInbox(name, settings)
	if err != nil {
		return nil, err
	}
	name = strings.TrimSpace(name)
	err = s.tx(ctx, func(tx *Tx) error {
		res, err := tx.exec(ctx, `UPDATE inboxes SET name = ?, settings = ? WHERE id = ? AND deleted_at IS NULL`, name, string(b), id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return notFound("inbox", id)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return s.Inbox(ctx, id)
}

// SetInboxState records whether a channel works ("connected", "error") and its last
// error, so a failing mailbox is visible in the settings and never silent.
func (s *Store) SetInboxState(ctx context.Context, id int64, state, lastError string) error {
	return s.tx(ctx, func(tx *Tx) error {
		_, err := tx.exec(ctx, `UPDATE inboxes SET state = ?, last_error = ?, state_at = ? WHERE id = ?`, state, lastError, formatTime(s.Now()), id)
		return err
	})
}
