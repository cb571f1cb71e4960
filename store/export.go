package store

import (
	"archive/zip"
	"bytes"
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"os"
	"path"
	"strings"
	"time"
	"unicode/utf8"
)

// An export is everything Kibo holds about one person (Art. 15 and 20 GDPR): the
// profile and identities, every conversation on every channel with every message
// (private notes marked), attachments, data requests with their history, the audit
// entries about them, the raw sources their messages came from and the sends queued to
// them. It is read in one snapshot, so it is consistent even while messages arrive.

// ContactExport is the machine-readable export of one contact.
type ContactExport struct {
	Format        string                `json:"format"`
	ExportedAt    time.Time             `json:"exported_at"`
	Contact       *ExportContact        `json:"contact"`
	Conversations []*ExportConversation `json:"conversations"`
	DataRequests  []*DataRequest        `json:"data_requests"`
	Audit         []*AuditEntry         `json:"audit"`
	RawSources    []*ExportRawSource    `json:"raw_sources"`
	Outbox        []*ExportOutbox       `json:"outbox"`
	// Related holds the rows of any other table that points at the person, by table,
	// so that a table added later is exported before anyone writes code for it.
	Related map[string][]map[string]any `json:"related"`
}

// ExportFormat names the layout of an export, for programs that read it.
const ExportFormat = "kibo-contact-export/1"

// ExportContact is the profile with every identity.
type ExportContact struct {
	ID            int64       `json:"id"`
	Name          string      `json:"name"`
	Email         string      `json:"email"`
	EmailVerified bool        `json:"email_verified"`
	NameVerified  bool        `json:"name_verified"`
	CreatedAt     time.Time   `json:"created_at"`
	UpdatedAt     time.Time   `json:"updated_at"`
	Identities    []*Identity `json:"identities"`
}

// ExportConversation is one conversation with its messages. ParticipantOnly marks a
// conversation with someone else in which the person wrote: only their messages are in
// it.
type ExportConversation struct {
	ID              int64            `json:"id"`
	Number          int64            `json:"number"`
	InboxID         int64            `json:"inbox_id"`
	InboxName       string           `json:"inbox_name"`
	Channel         string           `json:"channel"`
	Subject         string           `json:"subject"`
	Status          string           `json:"status"`
	Priority        string           `json:"priority"`
	Tags            []string         `json:"tags"`
	CreatedAt       time.Time        `json:"created_at"`
	LastMessageAt   time.Time        `json:"last_message_at"`
	ResolvedAt      *time.Time       `json:"resolved_at"`
	DeletedAt       *time.Time       `json:"deleted_at,omitempty"`
	ParticipantOnly bool             `json:"participant_only,omitempty"`
	Messages        []*ExportMessage `json:"messages"`
}

// ExportMessage is one message or private note.
type ExportMessage struct {
	ID          int64               `json:"id"`
	Direction   string              `json:"direction"`
	Private     bool                `json:"private"`
	Author      Author              `json:"author"`
	Text        string              `json:"text"`
	HTML        string              `json:"html,omitempty"`
	ExternalID  string              `json:"external_id,omitempty"`
	Delivery    string              `json:"delivery,omitempty"`
	Auto        bool                `json:"auto,omitempty"`
	Metadata    map[string]any      `json:"metadata,omitempty"`
	CreatedAt   time.Time           `json:"created_at"`
	Attachments []*ExportAttachment `json:"attachments"`
}

// ExportAttachment is an attachment; File is its path in the ZIP when the file is held.
type ExportAttachment struct {
	ID          int64  `json:"id"`
	Filename    string `json:"filename"`
	ContentType string `json:"content_type"`
	Size        int64  `json:"size"`
	SHA256      string `json:"sha256,omitempty"`
	URL         string `json:"url,omitempty"`
	TooLarge    bool   `json:"too_large,omitempty"`
	File        string `json:"file,omitempty"`
}

// ExportRawSource is a message as the channel delivered it (an e-mail, a webhook body).
type ExportRawSource struct {
	ID        int64     `json:"id"`
	MessageID *int64    `json:"message_id"`
	Kind      string    `json:"kind"`
	State     string    `json:"state"`
	Encoding  string    `json:"encoding"` // "text" or "base64"
	Body      string    `json:"body"`
	CreatedAt time.Time `json:"created_at"`
}

// ExportOutbox is a send queued to the person.
type ExportOutbox struct {
	ID             int64      `json:"id"`
	Kind           string     `json:"kind"`
	ConversationID *int64     `json:"conversation_id"`
	MessageID      *int64     `json:"message_id"`
	State          string     `json:"state"`
	Payload        string     `json:"payload"`
	CreatedAt      time.Time  `json:"created_at"`
	SentAt         *time.Time `json:"sent_at"`
}

// snapshot is a read transaction on the reader pool: one consistent view for many
// statements (WAL), each counted like every other statement.
type snapshot struct {
	tx *sql.Tx
	s  *Store
}

func (r *snapshot) query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	r.s.counted(q, args)
	return r.tx.QueryContext(ctx, q, args...)
}

func (r *snapshot) queryRow(ctx context.Context, q string, args ...any) *sql.Row {
	r.s.counted(q, args)
	return r.tx.QueryRowContext(ctx, q, args...)
}

func (s *Store) readSnapshot(ctx context.Context, fn func(r *snapshot) error) error {
	rtx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return err
	}
	defer rtx.Rollback()
	return fn(&snapshot{tx: rtx, s: s})
}

// ExportContact reads everything held about a contact, in a fixed number of statements.
func (s *Store) ExportContact(ctx context.Context, id int64) (*ContactExport, error) {
	ex := &ContactExport{Format: ExportFormat, ExportedAt: s.Now()}
	err := s.readSnapshot(ctx, func(tx *snapshot) error {
		var err error
		if ex.Contact, err = tx.exportContact(ctx, id); err != nil {
			return err
		}
		if ex.Conversations, err = tx.exportConversations(ctx, id); err != nil {
			return err
		}
		var convIDs, msgIDs []int64
		for _, c := range ex.Conversations {
			convIDs = append(convIDs, c.ID)
			for _, m := range c.Messages {
				msgIDs = append(msgIDs, m.ID)
			}
		}
		if ex.DataRequests, err = tx.exportDataRequests(ctx, id); err != nil {
			return err
		}
		if ex.Audit, err = tx.auditAbout(ctx, id, convIDs); err != nil {
			return err
		}
		var idents [][2]string
		for _, i := range ex.Contact.Identities {
			if i.Kind != "visitor" { // shown shortened: the export has no full visitor id
				idents = append(idents, [2]string{i.Kind, i.ExternalID})
			}
		}
		// an address the person only claimed (unverified) may be someone else's: mail
		// from it is not theirs to receive
		email := ""
		if ex.Contact.EmailVerified {
			email = ex.Contact.Email
		}
		if ex.RawSources, err = tx.exportRawSources(ctx, id, msgIDs, newPersonKeys(email, idents)); err != nil {
			return err
		}
		if ex.Outbox, err = tx.exportOutbox(ctx, id, convIDs, msgIDs); err != nil {
			return err
		}
		ex.Related, err = tx.exportRelated(ctx, id, convIDs, msgIDs)
		return err
	})
	if err != nil {
		return nil, err
	}
	return ex, nil
}

func (t *snapshot) exportContact(ctx context.Context, id int64) (*ExportContact, error) {
	c, err := loadContact(ctx, t, id)
	if err != nil {
		return nil, err
	}
	ec := ExportContact(*c)
	return &ec, nil
}

// contactMessages is every message of the contact's conversations, and every message
// they wrote in someone else's.
const contactMessages = `SELECT id FROM messages WHERE conversation_id IN (SELECT id FROM conversations WHERE contact_id = ?1)
	UNION SELECT id FROM messages WHERE author_kind = 'contact' AND author_id = ?1`

func (t *snapshot) exportConversations(ctx context.Context, id int64) ([]*ExportConversation, error) {
	rows, err := t.query(ctx, `SELECT c.id, c.number, c.inbox_id, COALESCE(i.name, ''), COALESCE(i.kind, ''), c.subject, c.status, c.priority,
		COALESCE((SELECT group_concat(tag, char(31)) FROM (SELECT tag FROM conversation_tags t WHERE t.conversation_id = c.id ORDER BY tag)), ''),
		c.created_at, c.last_message_at, c.resolved_at, c.deleted_at, c.contact_id <> ?1
		FROM conversations c LEFT JOIN inboxes i ON i.id = c.inbox_id
		WHERE c.contact_id = ?1 OR c.id IN (SELECT conversation_id FROM messages WHERE author_kind = 'contact' AND author_id = ?1)
		ORDER BY c.id`, id)
	if err != nil {
		return nil, err
	}
	out := []*ExportConversation{}
	byID := map[int64]*ExportConversation{}
	for rows.Next() {
		var c ExportConversation
		var tags, created, last string
		var resolved, deleted sql.NullString
		if err := rows.Scan(&c.ID, &c.Number, &c.InboxID, &c.InboxName, &c.Channel, &c.Subject, &c.Status, &c.Priority, &tags,
			&created, &last, &resolved, &deleted, &c.ParticipantOnly); err != nil {
			rows.Close()
			return nil, err
		}
		c.CreatedAt, c.LastMessageAt = parseTime(created), parseTime(last)
		c.ResolvedAt, c.DeletedAt = parseNullTime(resolved), parseNullTime(deleted)
		c.Tags = []string{}
		if tags != "" {
			c.Tags = strings.Split(tags, "\x1f")
		}
		c.Messages = []*ExportMessage{}
		out = append(out, &c)
		byID[c.ID] = &c
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}

	rows, err = t.query(ctx, `SELECT id, conversation_id, direction, private, author_kind, COALESCE(author_id, 0), author_name, text, html,
		COALESCE(external_id, ''), COALESCE(delivery, ''), auto, metadata, created_at
		FROM messages WHERE id IN (`+contactMessages+`) ORDER BY id`, id)
	if err != nil {
		return nil, err
	}
	byMsg := map[int64]*ExportMessage{}
	for rows.Next() {
		var m ExportMessage
		var convID int64
		var meta, created string
		if err := rows.Scan(&m.ID, &convID, &m.Direction, &m.Private, &m.Author.Kind, &m.Author.ID, &m.Author.Name, &m.Text, &m.HTML,
			&m.ExternalID, &m.Delivery, &m.Auto, &meta, &created); err != nil {
			rows.Close()
			return nil, err
		}
		m.CreatedAt = parseTime(created)
		if meta != "" && meta != "{}" {
			json.Unmarshal([]byte(meta), &m.Metadata)
		}
		m.Attachments = []*ExportAttachment{}
		if c := byID[convID]; c != nil {
			c.Messages = append(c.Messages, &m)
		}
		byMsg[m.ID] = &m
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}

	rows, err = t.query(ctx, `SELECT id, message_id, filename, content_type, size, sha256, url, too_large FROM attachments
		WHERE message_id IN (`+contactMessages+`) ORDER BY id`, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var a ExportAttachment
		var msgID int64
		if err := rows.Scan(&a.ID, &msgID, &a.Filename, &a.ContentType, &a.Size, &a.SHA256, &a.URL, &a.TooLarge); err != nil {
			return nil, err
		}
		if a.SHA256 != "" {
			a.File = "attachments/" + a.SHA256 + "-" + safeFilename(a.Filename)
		}
		if m := byMsg[msgID]; m != nil {
			m.Attachments = append(m.Attachments, &a)
		}
	}
	return out, rows.Err()
}

// safeFilename keeps a name usable as one path element in a ZIP on any system.
func safeFilename(name string) string {
	name = strings.Map(func(r rune) rune {
		switch {
		case r < 0x20, r == 0x7f, strings.ContainsRune(`/\:*?"<>|`, r):
			return '_'
		}
		return r
	}, path.Base(strings.ReplaceAll(name, `\`, "/")))
	name = strings.TrimLeft(name, ".")
	if name == "" {
		name = "file"
	}
	if len(name) > 120 {
		name = strings.ToValidUTF8(name[:120], "")
	}
	return name
}

func (t *snapshot) exportDataRequests(ctx context.Context, id int64) ([]*DataRequest, error) {
	rows, err := t.query(ctx, dataRequestSelect+` WHERE d.contact_id = ? ORDER BY d.id`, id)
	if err != nil {
		return nil, err
	}
	out := []*DataRequest{}
	byID := map[int64]*DataRequest{}
	var ids []int64
	for rows.Next() {
		d, err := scanDataRequest(rows)
		if err != nil {
			rows.Close()
			return nil, err
		}
		d.History = []*DataRequestEvent{}
		out = append(out, d)
		byID[d.ID] = d
		ids = append(ids, d.ID)
	}
	rows.Close()
	if err := rows.Err(); err != nil || len(ids) == 0 {
		return out, err
	}
	rows, err = t.query(ctx, `SELECT e.request_id, e.at, e.agent_id, COALESCE(a.name, ''), e.change FROM data_request_events e
		LEFT JOIN agents a ON a.id = e.agent_id WHERE e.request_id IN (SELECT value FROM json_each(?)) ORDER BY e.id`, jsonIDs(ids))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var e DataRequestEvent
		var reqID int64
		var at string
		var agent sql.NullInt64
		if err := rows.Scan(&reqID, &at, &agent, &e.AgentName, &e.Change); err != nil {
			return nil, err
		}
		e.At, e.AgentID = parseTime(at), nullInt(agent)
		byID[reqID].History = append(byID[reqID].History, &e)
	}
	return out, rows.Err()
}

// contactRefs are the audit refs that stand for a contact: its id, and the ids of the
// contacts merged into it, transitively.
const contactRefs = `WITH RECURSIVE refs(ref) AS (
		SELECT CAST(?1 AS TEXT)
		UNION
		SELECT CAST(json_extract(a.detail, '$.merged_contact_id') AS TEXT) FROM audit_log a JOIN refs
			ON a.subject = 'contact' AND a.subject_ref = refs.ref AND a.action = 'contact.merge'
			AND json_extract(a.detail, '$.merged_contact_id') IS NOT NULL
	)`

// auditAbout returns the audit entries about a contact (or a contact merged into it)
// and about its conversations.
func (t *snapshot) auditAbout(ctx context.Context, id int64, convIDs []int64) ([]*AuditEntry, error) {
	convRefs := make([]string, len(convIDs))
	for i, c := range convIDs {
		convRefs[i] = itoa(c)
	}
	refsJSON, _ := json.Marshal(convRefs)
	rows, err := t.query(ctx, contactRefs+` SELECT `+auditColumns+` FROM audit_log
		WHERE (subject = 'contact' AND subject_ref IN (SELECT ref FROM refs))
		   OR (subject = 'conversation' AND subject_ref IN (SELECT value FROM json_each(?2)))
		ORDER BY id`, id, string(refsJSON))
	if err != nil {
		return nil, err
	}
	return scanAudit(rows)
}

// exportRawSources reads the raw sources of the person's messages and those never
// linked to a message that name them (rawmatch.go).
func (t *snapshot) exportRawSources(ctx context.Context, id int64, msgIDs []int64, keys personKeys) ([]*ExportRawSource, error) {
	rows, err := t.query(ctx, `SELECT id, message_id, kind, state, body, created_at,
		COALESCE(contact_id = ?1 OR message_id IN (SELECT value FROM json_each(?2)), 0) FROM raw_sources
		WHERE contact_id = ?1 OR message_id IN (SELECT value FROM json_each(?2)) OR `+strings.ReplaceAll(rawSourceCandidates, "?", "?3")+` ORDER BY id`,
		id, jsonIDs(msgIDs), keys.needles())
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []*ExportRawSource{}
	for rows.Next() {
		var r ExportRawSource
		var msg sql.NullInt64
		var body []byte
		var created string
		var linked bool
		if err := rows.Scan(&r.ID, &msg, &r.Kind, &r.State, &body, &created, &linked); err != nil {
			return nil, err
		}
		if !linked && !keys.names(r.Kind, body) {
			continue
		}
		r.MessageID, r.CreatedAt = nullInt(msg), parseTime(created)
		if utf8.Valid(body) {
			r.Encoding, r.Body = "text", string(body)
		} else {
			r.Encoding, r.Body = "base64", base64.StdEncoding.EncodeToString(body)
		}
		out = append(out, &r)
	}
	return out, rows.Err()
}

func (t *snapshot) exportOutbox(ctx context.Context, id int64, convIDs, msgIDs []int64) ([]*ExportOutbox, error) {
	rows, err := t.query(ctx, `SELECT id, kind, conversation_id, message_id, state, payload, created_at, sent_at FROM outbox
		WHERE contact_id = ? OR conversation_id IN (SELECT value FROM json_each(?)) OR message_id IN (SELECT value FROM json_each(?))
		ORDER BY id`, id, jsonIDs(convIDs), jsonIDs(msgIDs))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []*ExportOutbox{}
	for rows.Next() {
		var o ExportOutbox
		var conv, msg sql.NullInt64
		var created string
		var sent sql.NullString
		if err := rows.Scan(&o.ID, &o.Kind, &conv, &msg, &o.State, &o.Payload, &created, &sent); err != nil {
			return nil, err
		}
		o.ConversationID, o.MessageID = nullInt(conv), nullInt(msg)
		o.CreatedAt, o.SentAt = parseTime(created), parseNullTime(sent)
		out = append(out, &o)
	}
	return out, rows.Err()
}

// personTables are the tables whose rows point at a person (a contact, a conversation
// or a message) and that the export and the erasure handle by name; conversation_reads
// are the agents' read markers, not the person's data.
var personTables = map[string]bool{
	"contacts": true, "identities": true, "conversations": true, "messages": true, "attachments": true,
	"raw_sources": true, "outbox": true, "data_requests": true, "conversation_tags": true, "conversation_reads": true,
}

// PersonRef is a column that points at a person's rows: table.column → parent
// (contacts, conversations or messages).
type PersonRef struct{ Table, Column, Parent string }

// personRefs reads the foreign keys to contacts, conversations and messages from the
// schema itself.
func personRefs(ctx context.Context, q func(ctx context.Context, q string, args ...any) (*sql.Rows, error)) ([]PersonRef, error) {
	rows, err := q(ctx, `SELECT m.name, f."from", f."table" FROM sqlite_master m JOIN pragma_foreign_key_list(m.name) f
		WHERE m.type = 'table' AND f."table" IN ('contacts', 'conversations', 'messages') ORDER BY m.name, f.id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []PersonRef
	for rows.Next() {
		var r PersonRef
		if err := rows.Scan(&r.Table, &r.Column, &r.Parent); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// relatedWhere groups the references of the tables not handled by name into one
// condition per table, with its arguments.
func relatedWhere(refs []PersonRef, contactID int64, convIDs, msgIDs []int64) (tables []string, where map[string]string, args map[string][]any) {
	where, args = map[string]string{}, map[string][]any{}
	for _, r := range refs {
		if personTables[r.Table] {
			continue
		}
		cond := `"` + r.Column + `" `
		var arg any
		switch r.Parent {
		case "contacts":
			cond, arg = cond+"= ?", contactID
		case "conversations":
			cond, arg = cond+"IN (SELECT value FROM json_each(?))", jsonIDs(convIDs)
		default:
			cond, arg = cond+"IN (SELECT value FROM json_each(?))", jsonIDs(msgIDs)
		}
		if _, ok := where[r.Table]; !ok {
			tables = append(tables, r.Table)
			where[r.Table] = cond
		} else {
			where[r.Table] += " OR " + cond
		}
		args[r.Table] = append(args[r.Table], arg)
	}
	return tables, where, args
}

func (t *snapshot) exportRelated(ctx context.Context, id int64, convIDs, msgIDs []int64) (map[string][]map[string]any, error) {
	refs, err := personRefs(ctx, t.query)
	if err != nil {
		return nil, err
	}
	out := map[string][]map[string]any{}
	tables, where, args := relatedWhere(refs, id, convIDs, msgIDs)
	for _, table := range tables {
		rows, err := t.query(ctx, `SELECT * FROM "`+table+`" WHERE `+where[table], args[table]...)
		if err != nil {
			return nil, err
		}
		list, err := scanMaps(rows)
		if err != nil {
			return nil, err
		}
		if len(list) > 0 {
			out[table] = list
		}
	}
	return out, nil
}

// scanMaps reads rows of any shape as column → value, text for text and blobs.
func scanMaps(rows *sql.Rows) ([]map[string]any, error) {
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	var out []map[string]any
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		m := make(map[string]any, len(cols))
		for i, c := range cols {
			if b, ok := vals[i].([]byte); ok {
				vals[i] = string(b)
			}
			m[c] = vals[i]
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// WriteZIP writes the export as a ZIP: contact.json, conversations.json,
// data_requests.json, audit.json, raw_sources.json, outbox.json, the attachment files
// under attachments/, and index.html, a summary a person can read. Files that are no
// longer on disk are listed in index.html as missing.
func (s *Store) WriteZIP(ex *ContactExport, w io.Writer) error {
	z := zip.NewWriter(w)
	parts := []struct {
		name string
		v    any
	}{
		{"contact.json", ex.Contact},
		{"conversations.json", ex.Conversations},
		{"data_requests.json", ex.DataRequests},
		{"audit.json", ex.Audit},
		{"raw_sources.json", ex.RawSources},
		{"outbox.json", ex.Outbox},
		{"related.json", ex.Related},
	}
	for _, p := range parts {
		b, err := json.MarshalIndent(p.v, "", "  ")
		if err != nil {
			return err
		}
		if err := zipFile(z, p.name, ex.ExportedAt, b); err != nil {
			return err
		}
	}
	written := map[string]bool{}
	var missing []string
	for _, c := range ex.Conversations {
		for _, m := range c.Messages {
			for _, a := range m.Attachments {
				if a.File == "" || written[a.File] {
					continue
				}
				b, err := os.ReadFile(s.AttachmentPath(a.SHA256))
				if err != nil {
					missing = append(missing, a.File)
					continue
				}
				if err := zipFile(z, a.File, ex.ExportedAt, b); err != nil {
					return err
				}
				written[a.File] = true
			}
		}
	}
	var page bytes.Buffer
	if err := exportPage.Execute(&page, map[string]any{"X": ex, "Missing": missing, "Written": written}); err != nil {
		return err
	}
	if err := zipFile(z, "index.html", ex.ExportedAt, page.Bytes()); err != nil {
		return err
	}
	return z.Close()
}

func zipFile(z *zip.Writer, name string, at time.Time, body []byte) error {
	f, err := z.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Deflate, Modified: at})
	if err != nil {
		return fmt.Errorf("zip %s: %w", name, err)
	}
	_, err = f.Write(body)
	return err
}

// exportPage is the readable summary. html/template escapes everything that comes
// from the data; links go only to files inside the ZIP.
var exportPage = template.Must(template.New("export").Funcs(template.FuncMap{
	"when": func(t time.Time) string { return t.UTC().Format("2 Jan 2006 15:04 UTC") },
	"whenp": func(t *time.Time) string {
		if t == nil {
			return "—"
		}
		return t.UTC().Format("2 Jan 2006 15:04 UTC")
	},
	"id": func(p *int64) string {
		if p == nil {
			return "—"
		}
		return itoa(*p)
	},
	"has": func(m map[string]bool, k string) bool { return m[k] },
}).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Your data held by us</title>
<style>body{font:15px/1.5 system-ui,sans-serif;max-width:60em;margin:2em auto;padding:0 1em;color:#1d2330}
h1,h2,h3{line-height:1.2}table{border-collapse:collapse}td,th{border:1px solid #d5d9e0;padding:.3em .6em;text-align:left;vertical-align:top}
.msg{border-left:3px solid #c7cdd8;margin:.8em 0;padding:.2em .8em}.in{border-color:#2f6fed}.private{background:#fff8e1}
.meta{color:#5b6475;font-size:.9em}pre{white-space:pre-wrap;font:inherit;margin:.3em 0}</style></head>
<body>
<h1>Your data held by us</h1>
<p class="meta">Exported {{when .X.ExportedAt}}. The same data is in the JSON files beside this page, which programs can read ({{.X.Format}}).</p>
{{with .X.Contact}}
<h2>Profile</h2>
<table><tr><th>Name</th><td>{{.Name}}</td></tr><tr><th>E-mail</th><td>{{.Email}}</td></tr>
<tr><th>Known since</th><td>{{when .CreatedAt}}</td></tr></table>
<h3>How each channel knows you</h3>
<table><tr><th>Channel</th><th>Id</th><th>Name</th><th>Handle</th><th>Since</th></tr>
{{range .Identities}}<tr><td>{{.Kind}}</td><td>{{.ExternalID}}</td><td>{{.Name}}</td><td>{{.Handle}}</td><td>{{when .CreatedAt}}</td></tr>{{end}}
</table>{{end}}
<h2>Conversations ({{len .X.Conversations}})</h2>
{{range .X.Conversations}}
<h3>#{{.Number}} {{.Subject}}</h3>
<p class="meta">{{.Channel}} · {{.InboxName}} · {{.Status}} · started {{when .CreatedAt}}{{if .ParticipantOnly}} · only your messages in someone else's conversation{{end}}</p>
{{range .Messages}}<div class="msg{{if eq .Direction "in"}} in{{end}}{{if .Private}} private{{end}}">
<div class="meta">{{.Author.Name}} ({{.Author.Kind}}) · {{when .CreatedAt}}{{if .Private}} · internal note of our staff{{end}}</div>
<pre>{{.Text}}</pre>
{{range .Attachments}}<div class="meta">Attachment: {{if and .File (has $.Written .File)}}<a href="{{.File}}">{{.Filename}}</a>{{else}}{{.Filename}} (file not held){{end}} · {{.ContentType}} · {{.Size}} bytes</div>{{end}}
</div>{{end}}
{{end}}
<h2>Data protection requests ({{len .X.DataRequests}})</h2>
{{if .X.DataRequests}}<table><tr><th>Id</th><th>Type</th><th>Status</th><th>Received</th><th>Due</th><th>Extended to</th><th>Completed</th></tr>
{{range .X.DataRequests}}<tr><td>{{.ID}}</td><td>{{.Type}}</td><td>{{.Status}}</td><td>{{when .ReceivedAt}}</td><td>{{when .DueAt}} ({{.DueRule}})</td><td>{{whenp .ExtendedDueAt}}</td><td>{{whenp .CompletedAt}}</td></tr>{{end}}
</table>{{else}}<p>None.</p>{{end}}
<h2>Record of actions about you ({{len .X.Audit}})</h2>
{{if .X.Audit}}<table><tr><th>When</th><th>Action</th><th>By</th></tr>
{{range .X.Audit}}<tr><td>{{when .At}}</td><td>{{.Action}}</td><td>{{.ActorKind}} {{.ActorID}}</td></tr>{{end}}
</table>{{else}}<p>None.</p>{{end}}
<h2>Messages as delivered ({{len .X.RawSources}}) and sends to you ({{len .X.Outbox}})</h2>
<p>The raw e-mails and webhook bodies are in raw_sources.json; the queued and sent replies in outbox.json.</p>
{{if .Missing}}<h2>Files no longer held</h2><ul>{{range .Missing}}<li>{{.}}</li>{{end}}</ul>{{end}}
</body></html>
`))
