package store

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"kibo/connectors/mailaddr"
)

// Contact is one person across every channel.
type Contact struct {
	ID    int64  `json:"id"`
	Name  string `json:"name"`
	Email string `json:"email"`
	// EmailVerified and NameVerified are false when the address or name is only what
	// the person typed or a page passed unsigned (a widget identity proved by a hash of
	// its id): agents see it marked, and such an address joins nobody.
	EmailVerified bool        `json:"email_verified"`
	NameVerified  bool        `json:"name_verified"`
	CreatedAt     time.Time   `json:"created_at"`
	UpdatedAt     time.Time   `json:"updated_at"`
	Identities    []*Identity `json:"identities"`
}

// Identity is how one channel knows the contact.
type Identity struct {
	ID         int64  `json:"id"`
	Kind       string `json:"kind"`
	Scope      string `json:"scope"`
	ExternalID string `json:"external_id"`
	Name       string `json:"name"`
	Handle     string `json:"handle"`
	// Email is the address the identity came with (an e-mail identity's own address,
	// or what a widget identity passed), EmailVerified whether the channel or a
	// signature vouches for it, NameVerified the same for Name. Verified is all of them.
	Email         string    `json:"email"`
	EmailVerified bool      `json:"email_verified"`
	NameVerified  bool      `json:"name_verified"`
	Verified      bool      `json:"verified"`
	CreatedAt     time.Time `json:"created_at"`
}

// identityColumns are read by scanIdentity.
const identityColumns = `id, kind, scope, external_id, name, handle, email, email_verified, name_verified, created_at`

func scanIdentity(sc interface{ Scan(...any) error }) (*Identity, error) {
	var i Identity
	var at string
	if err := sc.Scan(&i.ID, &i.Kind, &i.Scope, &i.ExternalID, &i.Name, &i.Handle, &i.Email, &i.EmailVerified, &i.NameVerified, &at); err != nil {
		return nil, err
	}
	i.CreatedAt = parseTime(at)
	i.Verified = i.NameVerified && (i.Email == "" || i.EmailVerified)
	return &i, nil
}

// Contact returns a contact with its identities (two statements).
func (s *Store) Contact(ctx context.Context, id int64) (*Contact, error) {
	return loadContact(ctx, s, id)
}

// rowReader is what loads read through: the store's reader pool, or one read
// transaction (the export's snapshot).
type rowReader interface {
	query(ctx context.Context, q string, args ...any) (*sql.Rows, error)
	queryRow(ctx context.Context, q string, args ...any) *sql.Row
}

func loadContact(ctx context.Context, r rowReader, id int64) (*Contact, error) {
	var c Contact
	var created, updated string
	err := r.queryRow(ctx, `SELECT id, name, email, email_verified, name_verified, created_at, updated_at FROM contacts WHERE id = ?`, id).
		Scan(&c.ID, &c.Name, &c.Email, &c.EmailVerified, &c.NameVerified, &created, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("contact", id)
	}
	if err != nil {
		return nil, err
	}
	c.CreatedAt, c.UpdatedAt = parseTime(created), parseTime(updated)
	rows, err := r.query(ctx, `SELECT `+identityColumns+` FROM identities WHERE contact_id = ? ORDER BY id`, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	c.Identities = []*Identity{}
	for rows.Next() {
		i, err := scanIdentity(rows)
		if err != nil {
			return nil, err
		}
		// a visitor's id is the hash of their bearer token: a credential, not for display
		if i.Kind == "visitor" {
			i.ExternalID = i.ExternalID[:min(8, len(i.ExternalID))] + "…"
		}
		c.Identities = append(c.Identities, i)
	}
	return &c, rows.Err()
}

// ContactIdentity returns the contact's identity on a channel kind (the recipient of a
// reply), preferring the one in the given scope.
func (s *Store) ContactIdentity(ctx context.Context, contactID int64, kind, scope string) (*Identity, error) {
	i, err := scanIdentity(s.queryRow(ctx, `SELECT `+identityColumns+` FROM identities
		WHERE contact_id = ? AND kind = ? ORDER BY scope = ? DESC, id DESC LIMIT 1`, contactID, kind, scope))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound(kind+" identity of contact", contactID)
	}
	return i, err
}

// UpdateContact changes a contact's name and e-mail address. The address must be one
// bare address (mailaddr.Parse), or empty to remove it: exports and erasures find the
// person's mail by it. What an agent sets is theirs to vouch for: it counts as verified.
func (s *Store) UpdateContact(ctx context.Context, id int64, name, email *string, actorID int64) (*Contact, error) {
	if name != nil {
		if err := CheckLen("name", *name, MaxNameLen); err != nil {
			return nil, err
		}
	}
	if email != nil {
		if err := CheckLen("email", *email, MaxEmailLen); err != nil {
			return nil, err
		}
	}
	if email != nil && strings.TrimSpace(*email) != "" {
		addr, err := mailaddr.Parse(*email)
		if err != nil {
			return nil, invalid("%v", err)
		}
		email = &addr
	} else if email != nil {
		email = ptr("")
	}
	err := s.tx(ctx, func(tx *Tx) error {
		res, err := tx.exec(ctx, `UPDATE contacts SET name = COALESCE(?1, name), name_verified = CASE WHEN ?1 IS NULL THEN name_verified ELSE 1 END,
			email = COALESCE(?2, email), email_verified = CASE WHEN ?2 IS NULL THEN email_verified ELSE 1 END, updated_at = ?3 WHERE id = ?4`,
			name, email, formatTime(s.Now()), id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return notFound("contact", id)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return s.Contact(ctx, id)
}

// MergeContacts moves everything of otherID into keepID: identities, conversations,
// authorship of messages, data requests, raw sources, outbox rows. The other contact
// is then removed and the merge written to the audit log, all in one transaction.
func (s *Store) MergeContacts(ctx context.Context, keepID, otherID, actorID int64) (*Contact, error) {
	if keepID == otherID {
		return nil, invalid("a contact can't be merged into itself")
	}
	err := s.tx(ctx, func(tx *Tx) error {
		type who struct {
			name, email                 string
			nameVerified, emailVerified bool
		}
		var keep, other who
		const q = `SELECT name, email, name_verified, email_verified FROM contacts WHERE id = ?`
		if err := tx.queryRow(ctx, q, keepID).Scan(&keep.name, &keep.email, &keep.nameVerified, &keep.emailVerified); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return notFound("contact", keepID)
			}
			return err
		}
		if err := tx.queryRow(ctx, q, otherID).Scan(&other.name, &other.email, &other.nameVerified, &other.emailVerified); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return notFound("contact", otherID)
			}
			return err
		}
		moves := []string{
			`UPDATE identities SET contact_id = ? WHERE contact_id = ?`,
			`UPDATE conversations SET contact_id = ? WHERE contact_id = ?`,
			`UPDATE messages SET author_id = ? WHERE author_kind = 'contact' AND author_id = ?`,
			`UPDATE data_requests SET contact_id = ? WHERE contact_id = ?`,
			`UPDATE raw_sources SET contact_id = ? WHERE contact_id = ?`,
			`UPDATE outbox SET contact_id = ? WHERE contact_id = ?`,
		}
		counts := map[string]int64{}
		for i, q := range moves {
			res, err := tx.exec(ctx, q, keepID, otherID)
			if err != nil {
				return err
			}
			n, _ := res.RowsAffected()
			counts[[]string{"identities", "conversations", "messages", "data_requests", "raw_sources", "outbox"}[i]] = n
		}
		// the kept contact takes the other's name or address where it has none, or where
		// only the other's is verified
		if other.name != "" && (keep.name == "" || !keep.nameVerified && other.nameVerified) {
			keep.name, keep.nameVerified = other.name, other.nameVerified
		}
		if other.email != "" && (keep.email == "" || !keep.emailVerified && other.emailVerified) {
			keep.email, keep.emailVerified = other.email, other.emailVerified
		}
		if _, err := tx.exec(ctx, `UPDATE contacts SET name = ?, email = ?, name_verified = ?, email_verified = ?, updated_at = ? WHERE id = ?`,
			keep.name, keep.email, keep.nameVerified || keep.name == "", keep.emailVerified || keep.email == "", formatTime(s.Now()), keepID); err != nil {
			return err
		}
		if _, err := tx.exec(ctx, `DELETE FROM contacts WHERE id = ?`, otherID); err != nil {
			return err
		}
		return tx.audit(ctx, "agent", actorID, "contact.merge", "contact", itoa(keepID), map[string]any{
			"merged_contact_id": otherID, "merged_name": other.name, "merged_email": other.email, "moved": counts,
		})
	})
	if err != nil {
		return nil, err
	}
	return s.Contact(ctx, keepID)
}

// VisitorConversation finds the contact behind a chat identity and their latest
// conversation in the inbox (0 when they have not written yet).
func (s *Store) VisitorConversation(ctx context.Context, inboxID int64, kind, scope, externalID string) (contactID, conversationID int64, err error) {
	err = s.queryRow(ctx, `SELECT i.contact_id, COALESCE((SELECT c.id FROM conversations c WHERE c.contact_id = i.contact_id AND c.inbox_id = ? AND c.deleted_at IS NULL
		ORDER BY c.last_message_at DESC, c.id DESC LIMIT 1), 0) FROM identities i WHERE i.kind = ? AND i.scope = ? AND i.external_id = ?`,
		inboxID, kind, scope, externalID).Scan(&contactID, &conversationID)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, 0, nil
	}
	return contactID, conversationID, err
}

// SearchContacts finds contacts by name, e-mail address or identity (for the merge
// picker); an empty query lists the newest.
func (s *Store) SearchContacts(ctx context.Context, q string, limit int) ([]*Contact, error) {
	like := "%" + q + "%"
	rows, err := s.query(ctx, `SELECT id, name, email, email_verified, name_verified, created_at, updated_at FROM contacts
		WHERE ? = '' OR name LIKE ? OR email LIKE ? OR id IN (SELECT contact_id FROM identities WHERE external_id LIKE ? OR handle LIKE ? OR name LIKE ?)
		ORDER BY updated_at DESC LIMIT ?`, q, like, like, like, like, like, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []*Contact{}
	for rows.Next() {
		var c Contact
		var created, updated string
		if err := rows.Scan(&c.ID, &c.Name, &c.Email, &c.EmailVerified, &c.NameVerified, &created, &updated); err != nil {
			return nil, err
		}
		c.CreatedAt, c.UpdatedAt = parseTime(created), parseTime(updated)
		c.Identities = []*Identity{}
		out = append(out, &c)
	}
	return out, rows.Err()
}
