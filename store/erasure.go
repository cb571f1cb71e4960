package store

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"
)

// An erasure (Art. 17 GDPR) removes a person everywhere Kibo keeps them: the contact and
// its identities, their conversations with every message and note, attachment rows and
// the files no other message uses, the full-text index, raw e-mail and webhook sources,
// queued sends, and their data requests' links to them. Requests stay as the legal
// record (type, dates, status) under a pseudonym, and the audit log keeps that an
// erasure happened, when and by whom, under the same pseudonym: an HMAC of the contact
// id with a secret of this installation, so the entries about one person stay linked
// without saying who they were. Then the database is vacuumed and the WAL truncated, so
// no deleted page keeps the data on disk.

// ErasureOptions say who erases and which request the erasure fulfils.
type ErasureOptions struct {
	ActorID int64
	// DataRequestID, when set, is an erasure request of this contact to mark completed.
	DataRequestID int64
}

// ErasureResult counts what was removed; it holds no personal data.
type ErasureResult struct {
	Pseudonym       string  `json:"pseudonym"`
	Identities      int     `json:"identities"`
	Conversations   int     `json:"conversations"`
	Messages        int     `json:"messages"`
	Attachments     int     `json:"attachments"`
	FilesDeleted    int     `json:"files_deleted"`
	RawSources      int     `json:"raw_sources"`
	Outbox          int     `json:"outbox"`
	DataRequests    []int64 `json:"data_requests"`
	ConversationIDs []int64 `json:"conversation_ids"`
}

const pseudonymSetting = "pseudonym_secret"

// EraseContact erases a contact (see above) in one transaction, then deletes the
// attachment files nothing refers to any more and vacuums the database.
func (s *Store) EraseContact(ctx context.Context, id int64, opt ErasureOptions) (*ErasureResult, error) {
	res := &ErasureResult{DataRequests: []int64{}, ConversationIDs: []int64{}}
	var orphans []string
	// Deleted rows are overwritten in place, so not even the WAL keeps them until the
	// checkpoint below.
	if _, err := s.w.ExecContext(ctx, `PRAGMA secure_delete = ON`); err != nil {
		return nil, fmt.Errorf("secure_delete: %w", err)
	}
	err := s.tx(ctx, func(tx *Tx) error {
		var name, email string
		var emailVerified bool
		err := tx.queryRow(ctx, `SELECT name, email, email_verified FROM contacts WHERE id = ?`, id).Scan(&name, &email, &emailVerified)
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("contact", id)
		}
		if err != nil {
			return err
		}
		secret, err := tx.pseudonymSecret(ctx)
		if err != nil {
			return err
		}
		res.Pseudonym = Pseudonym(secret, id)
		personal := []string{name, email}

		idents, err := tx.queryStrings(ctx, `SELECT external_id FROM identities WHERE contact_id = ? AND kind <> 'visitor'
			UNION SELECT handle FROM identities WHERE contact_id = ? UNION SELECT name FROM identities WHERE contact_id = ?`, id, id, id)
		if err != nil {
			return err
		}
		personal = append(personal, idents...)
		// what names the person's own sources: not an address they only claimed
		// (unverified), which may be someone else's
		ownEmail := ""
		if emailVerified {
			ownEmail = email
		}
		keys, err := tx.personKeys(ctx, id, ownEmail)
		if err != nil {
			return err
		}
		convIDs, err := tx.queryIDs(ctx, `SELECT id FROM conversations WHERE contact_id = ? ORDER BY id`, id)
		if err != nil {
			return err
		}
		msgIDs, err := tx.queryIDs(ctx, contactMessages, id)
		if err != nil {
			return err
		}
		shas, err := tx.queryStrings(ctx, `SELECT DISTINCT sha256 FROM attachments WHERE sha256 <> '' AND message_id IN (SELECT value FROM json_each(?))`, jsonIDs(msgIDs))
		if err != nil {
			return err
		}
		reqIDs, err := tx.queryIDs(ctx, `SELECT id FROM data_requests WHERE contact_id = ? OR conversation_id IN (SELECT value FROM json_each(?))
			OR message_id IN (SELECT value FROM json_each(?)) ORDER BY id`, id, jsonIDs(convIDs), jsonIDs(msgIDs))
		if err != nil {
			return err
		}
		res.ConversationIDs, res.DataRequests = nonNil(convIDs), nonNil(reqIDs)

		if opt.DataRequestID != 0 {
			if err := tx.completeErasureRequest(ctx, opt, reqIDs, res.Pseudonym); err != nil {
				return err
			}
		}

		count := func(n *int, q string, args ...any) error {
			r, err := tx.exec(ctx, q, args...)
			if err != nil {
				return err
			}
			k, _ := r.RowsAffected()
			if n != nil {
				*n = int(k)
			}
			return nil
		}
		for _, rid := range reqIDs {
			if err := count(nil, `DELETE FROM notifications WHERE dedupe_key LIKE ?`, "dr:"+itoa(rid)+":%"); err != nil {
				return err
			}
		}
		if err := count(&res.Outbox, `DELETE FROM outbox WHERE contact_id = ? OR conversation_id IN (SELECT value FROM json_each(?))
			OR message_id IN (SELECT value FROM json_each(?))`, id, jsonIDs(convIDs), jsonIDs(msgIDs)); err != nil {
			return err
		}
		if err := count(&res.RawSources, `DELETE FROM raw_sources WHERE contact_id = ? OR message_id IN (SELECT value FROM json_each(?))`,
			id, jsonIDs(msgIDs)); err != nil {
			return err
		}
		// Sources never linked to a message (a quarantined e-mail, a webhook body not yet
		// processed) go when they name one of the person's addresses or ids.
		naming, err := tx.rawSourcesNaming(ctx, keys)
		if err != nil {
			return err
		}
		var n int
		if err := count(&n, `DELETE FROM raw_sources WHERE id IN (SELECT value FROM json_each(?))`, jsonIDs(naming)); err != nil {
			return err
		}
		res.RawSources += n
		// Rows of any other table that point at the person (a table added later).
		refs, err := personRefs(ctx, tx.query)
		if err != nil {
			return err
		}
		tables, where, args := relatedWhere(refs, id, convIDs, msgIDs)
		for _, table := range tables {
			if err := count(nil, `DELETE FROM "`+table+`" WHERE `+where[table], args[table]...); err != nil {
				return err
			}
		}
		if err := count(&res.Attachments, `DELETE FROM attachments WHERE message_id IN (SELECT value FROM json_each(?))`, jsonIDs(msgIDs)); err != nil {
			return err
		}
		// The requests stay, without anything that points at the person.
		if _, err := tx.exec(ctx, `UPDATE data_requests SET contact_id = NULL, conversation_id = NULL, message_id = NULL, evidence = '',
			extend_reason = '', subject_ref = ?, updated_at = ? WHERE id IN (SELECT value FROM json_each(?))`,
			res.Pseudonym, formatTime(s.Now()), jsonIDs(reqIDs)); err != nil {
			return err
		}
		if _, err := tx.exec(ctx, `UPDATE data_request_events SET change = substr(change, 1, instr(change, ?) - 1)
			WHERE request_id IN (SELECT value FROM json_each(?)) AND instr(change, ?) > 0`, extendReasonSep, jsonIDs(reqIDs), extendReasonSep); err != nil {
			return err
		}
		// A message of theirs that was the last in someone else's conversation leaves
		// its preview behind.
		if _, err := tx.exec(ctx, `UPDATE conversations SET preview = '' WHERE last_message_id IN (SELECT value FROM json_each(?))`, jsonIDs(msgIDs)); err != nil {
			return err
		}
		if err := count(&res.Messages, `DELETE FROM messages WHERE id IN (SELECT value FROM json_each(?))`, jsonIDs(msgIDs)); err != nil {
			return err
		}
		if err := count(&res.Conversations, `DELETE FROM conversations WHERE id IN (SELECT value FROM json_each(?))`, jsonIDs(convIDs)); err != nil {
			return err
		}
		if err := count(&res.Identities, `DELETE FROM identities WHERE contact_id = ?`, id); err != nil {
			return err
		}
		if err := tx.pseudonymizeAudit(ctx, id, res.Pseudonym, personal); err != nil {
			return err
		}
		if err := count(nil, `DELETE FROM contacts WHERE merged_into = ? OR id = ?`, id, id); err != nil {
			return err
		}
		// Merge every segment of the full-text index, so the deleted messages' terms are
		// gone from it rather than only marked deleted.
		for _, fts := range []string{"contacts_fts", "subjects_fts"} {
			// merged segments keep no trace of the deleted rows' words
			if _, err := tx.exec(ctx, `INSERT INTO `+fts+`(`+fts+`) VALUES ('optimize')`); err != nil {
				return err
			}
		}
		if _, err := tx.exec(ctx, `INSERT INTO messages_fts(messages_fts) VALUES ('optimize')`); err != nil {
			return fmt.Errorf("full-text index: %w", err)
		}
		for _, sha := range shas {
			var used bool
			if err := tx.queryRow(ctx, `SELECT EXISTS (SELECT 1 FROM attachments WHERE sha256 = ?)`, sha).Scan(&used); err != nil {
				return err
			}
			if !used {
				orphans = append(orphans, sha)
			}
		}
		return tx.audit(ctx, "agent", opt.ActorID, "contact.erase", "contact", res.Pseudonym, map[string]any{
			"identities": res.Identities, "conversations": res.Conversations, "messages": res.Messages,
			"attachments": res.Attachments, "raw_sources": res.RawSources, "outbox": res.Outbox,
			"data_requests": res.DataRequests, "data_request_id": opt.DataRequestID,
		})
	})
	if err != nil {
		return nil, err
	}
	for _, sha := range orphans {
		if len(sha) < 3 {
			continue
		}
		err := os.Remove(s.AttachmentPath(sha))
		if err == nil {
			res.FilesDeleted++
		} else if !errors.Is(err, os.ErrNotExist) {
			return res, fmt.Errorf("the contact is erased but attachment file %s could not be deleted: %w", sha, err)
		}
	}
	if err := s.scrubFile(ctx); err != nil {
		return res, fmt.Errorf("the contact is erased but the database file could not be compacted yet: %w", err)
	}
	return res, nil
}

// personKeys reads the addresses and channel ids of a contact (rawmatch.go).
func (t *Tx) personKeys(ctx context.Context, id int64, email string) (personKeys, error) {
	rows, err := t.query(ctx, `SELECT kind, external_id FROM identities WHERE contact_id = ? AND kind <> 'visitor'`, id)
	if err != nil {
		return personKeys{}, err
	}
	defer rows.Close()
	var idents [][2]string
	for rows.Next() {
		var kind, ext string
		if err := rows.Scan(&kind, &ext); err != nil {
			return personKeys{}, err
		}
		idents = append(idents, [2]string{kind, ext})
	}
	return newPersonKeys(email, idents), rows.Err()
}

// rawSourcesNaming returns the raw sources never linked to a message that name the
// person (rawmatch.go).
func (t *Tx) rawSourcesNaming(ctx context.Context, keys personKeys) ([]int64, error) {
	rows, err := t.query(ctx, `SELECT id, kind, body FROM raw_sources WHERE `+rawSourceCandidates, keys.needles())
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var id int64
		var kind string
		var body []byte
		if err := rows.Scan(&id, &kind, &body); err != nil {
			return nil, err
		}
		if keys.names(kind, body) {
			out = append(out, id)
		}
	}
	return out, rows.Err()
}

// Pseudonym is the stable, non-reversible name an erased contact goes by in the audit
// log and on its data requests.
func Pseudonym(secret []byte, contactID int64) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("contact:" + itoa(contactID)))
	return "erased:" + hex.EncodeToString(m.Sum(nil))[:20]
}

// pseudonymSecret returns this installation's secret for pseudonyms, made on first use.
func (t *Tx) pseudonymSecret(ctx context.Context) ([]byte, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	if _, err := t.exec(ctx, `INSERT INTO settings(key, value) VALUES (?, ?) ON CONFLICT(key) DO NOTHING`, pseudonymSetting, hex.EncodeToString(b)); err != nil {
		return nil, err
	}
	var v string
	if err := t.queryRow(ctx, `SELECT value FROM settings WHERE key = ?`, pseudonymSetting).Scan(&v); err != nil {
		return nil, err
	}
	return hex.DecodeString(v)
}

func (t *Tx) completeErasureRequest(ctx context.Context, opt ErasureOptions, reqIDs []int64, pseud string) error {
	mine := false
	for _, r := range reqIDs {
		mine = mine || r == opt.DataRequestID
	}
	if !mine {
		return invalid("data request %d is not one of this contact's", opt.DataRequestID)
	}
	return t.applyDataRequestUpdate(ctx, opt.DataRequestID, opt.ActorID, func(cur *DataRequest) (DataRequestUpdate, error) {
		if cur.Type != "erasure" {
			return DataRequestUpdate{}, invalid("data request %d is a request for %s, not erasure", cur.ID, cur.Type)
		}
		u := DataRequestUpdate{Notes: []string{"the contact's data was erased (" + pseud + ")"}}
		if cur.Status != "completed" {
			u.Status = ptr("completed")
		}
		return u, nil
	})
}

// personalDetail are the audit detail keys that may hold a person's data.
var personalDetail = map[string]bool{
	"name": true, "email": true, "merged_name": true, "merged_email": true, "external_id": true,
	"handle": true, "text": true, "subject": true, "address": true, "phone": true,
}

// pseudonymizeAudit moves the audit entries about the contact (and the contacts merged
// into it) to the pseudonym, dropping what in their detail could name the person.
func (t *Tx) pseudonymizeAudit(ctx context.Context, id int64, pseud string, personal []string) error {
	rows, err := t.query(ctx, contactRefs+` SELECT id, detail FROM audit_log WHERE subject = 'contact' AND subject_ref IN (SELECT ref FROM refs)`, id)
	if err != nil {
		return err
	}
	type entry struct {
		id     int64
		detail string
	}
	var entries []entry
	for rows.Next() {
		var e entry
		if err := rows.Scan(&e.id, &e.detail); err != nil {
			rows.Close()
			return err
		}
		entries = append(entries, e)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	var needles []string
	for _, p := range personal {
		if p = strings.ToLower(strings.TrimSpace(p)); len(p) >= 3 {
			needles = append(needles, p)
		}
	}
	for _, e := range entries {
		var d map[string]any
		if json.Unmarshal([]byte(e.detail), &d) != nil {
			d = nil
		}
		b, _ := json.Marshal(scrubDetail(d, pseud, needles))
		if _, err := t.exec(ctx, `UPDATE audit_log SET subject_ref = ?, detail = ? WHERE id = ?`, pseud, string(b), e.id); err != nil {
			return err
		}
	}
	return nil
}

func scrubDetail(d map[string]any, pseud string, needles []string) map[string]any {
	out := map[string]any{}
	for k, v := range d {
		switch {
		case personalDetail[k]:
			continue
		case k == "merged_contact_id" || k == "contact_id":
			out[k] = pseud
			continue
		}
		switch x := v.(type) {
		case string:
			low := strings.ToLower(x)
			keep := true
			for _, n := range needles {
				if strings.Contains(low, n) {
					keep = false
					break
				}
			}
			if keep {
				out[k] = x
			}
		case map[string]any:
			out[k] = scrubDetail(x, pseud, needles)
		default:
			out[k] = v
		}
	}
	return out
}

// scrubFile rewrites the database file without free pages (VACUUM) and folds the WAL
// into it and truncates it, retrying while a reader holds an old snapshot.
func (s *Store) scrubFile(ctx context.Context) error {
	if err := s.vacuum(ctx); err != nil {
		return err
	}
	for i := 0; ; i++ {
		var busy, logFrames, done int
		if err := s.w.QueryRowContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`).Scan(&busy, &logFrames, &done); err != nil {
			return err
		}
		if busy == 0 {
			return nil
		}
		if i == 50 {
			return errors.New("readers kept the write-ahead log busy")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (t *Tx) queryIDs(ctx context.Context, q string, args ...any) ([]int64, error) {
	rows, err := t.query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

func (t *Tx) queryStrings(ctx context.Context, q string, args ...any) ([]string, error) {
	rows, err := t.query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		if v != "" {
			out = append(out, v)
		}
	}
	return out, rows.Err()
}

func nonNil(ids []int64) []int64 {
	if ids == nil {
		return []int64{}
	}
	return ids
}
