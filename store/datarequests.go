package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// A data request is a data subject's request under the GDPR (access, erasure, ...). Its
// due date is fixed when it is received and never moves, except by one extension; every
// change is written to data_request_events with who and when, in the same transaction.
// The store takes the dates as the server computes them (server/gdpr): it knows SQL, not
// the law.

var (
	// DataRequestTypes are the request types of docs/API.md.
	DataRequestTypes = []string{"access", "rectification", "erasure", "restriction", "portability", "objection", "other"}
	// DataRequestStatuses are the states a request moves through; "dismissed" is a
	// suggestion an agent found wrong.
	DataRequestStatuses = []string{"suggested", "open", "verifying", "extended", "completed", "refused", "dismissed"}
	// activeStatuses are the requests someone is working on: the clock runs.
	activeStatuses = []string{"open", "verifying", "extended"}
)

// DataRequest is one data-subject request. Contact, conversation and message are nil
// once the person has been erased: the request stays as the legal record.
type DataRequest struct {
	ID                 int64               `json:"id"`
	ContactID          *int64              `json:"contact_id"`
	ConversationID     *int64              `json:"conversation_id"`
	MessageID          *int64              `json:"message_id"`
	Type               string              `json:"type"`
	Status             string              `json:"status"`
	ReceivedAt         time.Time           `json:"received_at"`
	DueAt              time.Time           `json:"due_at"`
	DueRule            string              `json:"due_rule"`
	ExtendedDueAt      *time.Time          `json:"extended_due_at"`
	ExtendReason       string              `json:"extend_reason"`
	AssigneeID         *int64              `json:"assignee_id"`
	CompletedAt        *time.Time          `json:"completed_at"`
	EffectiveDueAt     time.Time           `json:"effective_due_at"`
	DaysLeft           *int                `json:"days_left"` // the server fills it: it knows the clock and the time zone
	Confidence         float64             `json:"confidence"`
	Lang               string              `json:"lang"`
	Evidence           string              `json:"evidence"`
	SubjectRef         string              `json:"subject_ref,omitempty"`
	Contact            *ContactSummary     `json:"contact"`
	ConversationNumber int64               `json:"conversation_number,omitempty"`
	CreatedAt          time.Time           `json:"created_at"`
	UpdatedAt          time.Time           `json:"updated_at"`
	History            []*DataRequestEvent `json:"history,omitempty"`
	// AlertsSent are the deadline alert marks already sent (server/datarequests).
	AlertsSent []string `json:"-"`
}

// DataRequestEvent is one line of a request's history.
type DataRequestEvent struct {
	At        time.Time `json:"at"`
	AgentID   *int64    `json:"agent_id"`
	AgentName string    `json:"agent_name"`
	Change    string    `json:"change"`
}

// Active tells whether an agent is working on the request (open, verifying, extended).
func (d *DataRequest) Active() bool { return oneOf(d.Status, activeStatuses) }

// Closed tells whether the request is over: completed, refused or dismissed.
func (d *DataRequest) Closed() bool {
	return d.Status == "completed" || d.Status == "refused" || d.Status == "dismissed"
}

const dataRequestSelect = `SELECT d.id, d.contact_id, d.conversation_id, d.message_id, d.type, d.status, d.received_at, d.due_at,
	d.due_rule, d.extended_due_at, d.extend_reason, d.assignee_id, d.completed_at, d.confidence, d.lang, d.evidence,
	d.subject_ref, d.alerts_sent, d.created_at, d.updated_at, ct.name, ct.email, COALESCE(ct.email_verified, 0), COALESCE(cv.number, 0)
	FROM data_requests d
	LEFT JOIN contacts ct ON ct.id = d.contact_id
	LEFT JOIN conversations cv ON cv.id = d.conversation_id`

// dueExpr is the date a request must be answered by.
const dueExpr = `COALESCE(d.extended_due_at, d.due_at)`

func scanDataRequest(sc interface{ Scan(...any) error }) (*DataRequest, error) {
	var d DataRequest
	var contact, conv, msg, assignee sql.NullInt64
	var received, due, created, updated, alerts string
	var extended, completed, name, email sql.NullString
	var emailVerified bool
	err := sc.Scan(&d.ID, &contact, &conv, &msg, &d.Type, &d.Status, &received, &due, &d.DueRule, &extended, &d.ExtendReason,
		&assignee, &completed, &d.Confidence, &d.Lang, &d.Evidence, &d.SubjectRef, &alerts, &created, &updated,
		&name, &email, &emailVerified, &d.ConversationNumber)
	if err != nil {
		return nil, err
	}
	d.ContactID, d.ConversationID, d.MessageID, d.AssigneeID = nullInt(contact), nullInt(conv), nullInt(msg), nullInt(assignee)
	d.ReceivedAt, d.DueAt = parseTime(received), parseTime(due)
	d.ExtendedDueAt, d.CompletedAt = parseNullTime(extended), parseNullTime(completed)
	d.CreatedAt, d.UpdatedAt = parseTime(created), parseTime(updated)
	d.EffectiveDueAt = d.DueAt
	if d.ExtendedDueAt != nil {
		d.EffectiveDueAt = *d.ExtendedDueAt
	}
	if d.ContactID != nil {
		d.Contact = &ContactSummary{ID: *d.ContactID, Name: name.String, Email: email.String, EmailVerified: emailVerified}
	}
	d.AlertsSent = splitMarks(alerts)
	return &d, nil
}

func nullInt(n sql.NullInt64) *int64 {
	if !n.Valid {
		return nil
	}
	v := n.Int64
	return &v
}

func splitMarks(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

// NewDataRequest is a request as an agent opens it or Kibo suggests it. The server
// computes DueAt from ReceivedAt and the company's rule.
type NewDataRequest struct {
	// ConversationID is where the request came from; the contact is taken from it.
	// Without one, ContactID names the person.
	ConversationID int64
	ContactID      int64
	MessageID      int64
	Type           string
	ReceivedAt     time.Time
	DueAt          time.Time
	DueRule        string
	AssigneeID     int64
	Confidence     float64
	Lang           string
	Evidence       string
	// AgentID is who opened it (0: Kibo's detector).
	AgentID int64
	// Change is the first line of the history.
	Change string
}

func (n *NewDataRequest) validate() error {
	if !oneOf(n.Type, DataRequestTypes) {
		return invalid("type must be one of %s, not %q", strings.Join(DataRequestTypes, ", "), n.Type)
	}
	if n.ConversationID == 0 && n.ContactID == 0 {
		return invalid("a data request needs a conversation_id or a contact_id")
	}
	if n.ReceivedAt.IsZero() || n.DueAt.IsZero() || n.DueRule == "" {
		return invalid("a data request needs its time of receipt and due date")
	}
	return nil
}

// OpenDataRequest records a request an agent opened. When Kibo had already suggested
// one on the conversation, that suggestion is confirmed instead (keeping its time of
// receipt, which is when the legal clock started); created tells which happened.
func (s *Store) OpenDataRequest(ctx context.Context, n NewDataRequest) (dr *DataRequest, created bool, err error) {
	if err := n.validate(); err != nil {
		return nil, false, err
	}
	var id int64
	err = s.tx(ctx, func(tx *Tx) error {
		if err := tx.resolveRequestContact(ctx, &n); err != nil {
			return err
		}
		if n.ConversationID != 0 {
			var sid int64
			err := tx.queryRow(ctx, `SELECT id FROM data_requests WHERE conversation_id = ? AND status = 'suggested'`, n.ConversationID).Scan(&sid)
			if err == nil {
				id = sid
				return tx.applyDataRequestUpdate(ctx, sid, n.AgentID, func(cur *DataRequest) (DataRequestUpdate, error) {
					u := DataRequestUpdate{Status: ptr("open"), Type: &n.Type}
					if n.AssigneeID != 0 {
						u.AssigneeID = &n.AssigneeID
					}
					return u, nil
				})
			}
			if !errors.Is(err, sql.ErrNoRows) {
				return err
			}
		}
		created = true
		id, err = tx.insertDataRequest(ctx, n, "open")
		return err
	})
	if err != nil {
		return nil, false, err
	}
	dr, err = s.DataRequest(ctx, id)
	return dr, created, err
}

// SuggestDataRequest records a request Kibo detected in an inbound message, for an
// agent to confirm. A conversation holds at most one suggestion, and none while a
// request on it is being worked on; created is false when nothing was added.
func (s *Store) SuggestDataRequest(ctx context.Context, n NewDataRequest) (dr *DataRequest, created bool, err error) {
	if err := n.validate(); err != nil {
		return nil, false, err
	}
	if n.ConversationID == 0 {
		return nil, false, invalid("a suggested data request needs the conversation it was seen in")
	}
	var id int64
	err = s.tx(ctx, func(tx *Tx) error {
		if err := tx.resolveRequestContact(ctx, &n); err != nil {
			return err
		}
		// One open request per conversation; and one suggestion per message ever, so that
		// detection run again (after a crash) doesn't bring back a dismissed one.
		var busy bool
		if err := tx.queryRow(ctx, `SELECT EXISTS (SELECT 1 FROM data_requests WHERE conversation_id = ? AND status IN ('suggested', 'open', 'verifying', 'extended'))
			OR EXISTS (SELECT 1 FROM data_requests WHERE message_id = ?)`,
			n.ConversationID, n.MessageID).Scan(&busy); err != nil {
			return err
		}
		if busy {
			return nil
		}
		var err error
		id, err = tx.insertDataRequest(ctx, n, "suggested")
		if isUniqueViolation(err) {
			return nil
		}
		created = err == nil
		return err
	})
	if err != nil || !created {
		return nil, false, err
	}
	dr, err = s.DataRequest(ctx, id)
	return dr, true, err
}

func (t *Tx) resolveRequestContact(ctx context.Context, n *NewDataRequest) error {
	if n.ConversationID != 0 {
		var contactID int64
		err := t.queryRow(ctx, `SELECT contact_id FROM conversations WHERE id = ? AND deleted_at IS NULL`, n.ConversationID).Scan(&contactID)
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("conversation", n.ConversationID)
		}
		if err != nil {
			return err
		}
		if n.ContactID != 0 && n.ContactID != contactID {
			return invalid("conversation %d is not with contact %d", n.ConversationID, n.ContactID)
		}
		n.ContactID = contactID
		return nil
	}
	var one int
	err := t.queryRow(ctx, `SELECT 1 FROM contacts WHERE id = ?`, n.ContactID).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return notFound("contact", n.ContactID)
	}
	return err
}

func (t *Tx) insertDataRequest(ctx context.Context, n NewDataRequest, status string) (int64, error) {
	if n.AssigneeID != 0 {
		if _, err := t.agentName(ctx, n.AssigneeID); err != nil {
			return 0, err
		}
	}
	now := formatTime(t.s.Now())
	id, err := t.insert(ctx, `INSERT INTO data_requests(contact_id, conversation_id, message_id, type, status, received_at, due_at, due_rule,
		assignee_id, confidence, lang, evidence, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		nullID(n.ContactID), nullID(n.ConversationID), nullID(n.MessageID), n.Type, status, formatTime(n.ReceivedAt), formatTime(n.DueAt),
		n.DueRule, nullID(n.AssigneeID), n.Confidence, n.Lang, n.Evidence, now, now)
	if err != nil {
		return 0, err
	}
	change := n.Change
	if change == "" {
		change = "opened (" + n.Type + ")"
		if status == "suggested" {
			change = "suggested by Kibo (" + n.Type + ")"
		}
	}
	return id, t.dataRequestEvent(ctx, id, n.AgentID, change)
}

func (t *Tx) dataRequestEvent(ctx context.Context, id, agentID int64, change string) error {
	_, err := t.exec(ctx, `INSERT INTO data_request_events(request_id, agent_id, at, change) VALUES (?, ?, ?, ?)`,
		id, nullID(agentID), formatTime(t.s.Now()), change)
	return err
}

func (t *Tx) agentName(ctx context.Context, id int64) (string, error) {
	var name string
	err := t.queryRow(ctx, `SELECT name FROM agents WHERE id = ?`, id).Scan(&name)
	if errors.Is(err, sql.ErrNoRows) {
		return "", invalid("agent %d does not exist", id)
	}
	return name, err
}

// DataRequest returns one request with its history (two statements).
func (s *Store) DataRequest(ctx context.Context, id int64) (*DataRequest, error) {
	d, err := scanDataRequest(s.queryRow(ctx, dataRequestSelect+` WHERE d.id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("data request", id)
	}
	if err != nil {
		return nil, err
	}
	d.History, err = s.dataRequestHistory(ctx, id)
	return d, err
}

func (s *Store) dataRequestHistory(ctx context.Context, id int64) ([]*DataRequestEvent, error) {
	rows, err := s.query(ctx, `SELECT e.at, e.agent_id, COALESCE(a.name, ''), e.change FROM data_request_events e
		LEFT JOIN agents a ON a.id = e.agent_id WHERE e.request_id = ? ORDER BY e.id`, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []*DataRequestEvent{}
	for rows.Next() {
		var e DataRequestEvent
		var at string
		var agent sql.NullInt64
		if err := rows.Scan(&at, &agent, &e.AgentName, &e.Change); err != nil {
			return nil, err
		}
		e.At, e.AgentID = parseTime(at), nullInt(agent)
		out = append(out, &e)
	}
	return out, rows.Err()
}

// DataRequestFilter selects the list of requests.
type DataRequestFilter struct {
	// Status is one status, "active" (open, verifying, extended) or "" (everything
	// but dismissed suggestions).
	Status         string
	Type           string
	ContactID      int64
	ConversationID int64
	Limit          int
	Cursor         string
}

// DataRequests lists requests by what is due first (the extended date when extended),
// a page at a time, in one statement.
func (s *Store) DataRequests(ctx context.Context, f DataRequestFilter) ([]*DataRequest, string, error) {
	if f.Limit <= 0 {
		f.Limit = 100
	}
	f.Limit = min(f.Limit, 1000)
	var where []string
	var args []any
	switch {
	case f.Status == "":
		where = append(where, "d.status <> 'dismissed'")
	case f.Status == "active":
		where = append(where, "d.status IN ('open', 'verifying', 'extended')")
	case oneOf(f.Status, DataRequestStatuses):
		where = append(where, "d.status = ?")
		args = append(args, f.Status)
	default:
		return nil, "", invalid("status must be active or one of %s, not %q", strings.Join(DataRequestStatuses, ", "), f.Status)
	}
	if f.Type != "" {
		if !oneOf(f.Type, DataRequestTypes) {
			return nil, "", invalid("type must be one of %s, not %q", strings.Join(DataRequestTypes, ", "), f.Type)
		}
		where = append(where, "d.type = ?")
		args = append(args, f.Type)
	}
	if f.ContactID != 0 {
		where = append(where, "d.contact_id = ?")
		args = append(args, f.ContactID)
	}
	if f.ConversationID != 0 {
		where = append(where, "d.conversation_id = ?")
		args = append(args, f.ConversationID)
	}
	if f.Cursor != "" {
		at, id, err := decodeCursor(f.Cursor)
		if err != nil {
			return nil, "", invalid("the cursor is not one this server gave out")
		}
		where = append(where, "("+dueExpr+", d.id) > (?, ?)")
		args = append(args, at, id)
	}
	args = append(args, f.Limit+1)
	rows, err := s.query(ctx, dataRequestSelect+` WHERE `+strings.Join(where, " AND ")+` ORDER BY `+dueExpr+`, d.id LIMIT ?`, args...)
	if err != nil {
		return nil, "", err
	}
	defer rows.Close()
	out := []*DataRequest{}
	for rows.Next() {
		d, err := scanDataRequest(rows)
		if err != nil {
			return nil, "", err
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, "", err
	}
	next := ""
	if len(out) > f.Limit {
		out = out[:f.Limit]
		last := out[len(out)-1]
		next = encodeCursor(formatTime(last.EffectiveDueAt), last.ID)
	}
	return out, next, nil
}

// DataRequestCounts is what the navigation shows.
type DataRequestCounts struct {
	Suggested int `json:"suggested"`
	Active    int `json:"active"`
	DueSoon   int `json:"due_soon"` // active and due within 7 days
	Overdue   int `json:"overdue"`
}

// CountDataRequests counts suggestions, active requests, and those due soon or overdue
// at now, in one statement.
func (s *Store) CountDataRequests(ctx context.Context, now time.Time) (*DataRequestCounts, error) {
	var c DataRequestCounts
	err := s.queryRow(ctx, `SELECT
		COALESCE(SUM(d.status = 'suggested'), 0),
		COALESCE(SUM(d.status IN ('open', 'verifying', 'extended')), 0),
		COALESCE(SUM(d.status IN ('open', 'verifying', 'extended') AND `+dueExpr+` >= ? AND `+dueExpr+` <= ?), 0),
		COALESCE(SUM(d.status IN ('suggested', 'open', 'verifying', 'extended') AND `+dueExpr+` < ?), 0)
		FROM data_requests d WHERE d.status IN ('suggested', 'open', 'verifying', 'extended')`,
		formatTime(now), formatTime(now.Add(7*24*time.Hour)), formatTime(now)).Scan(&c.Suggested, &c.Active, &c.DueSoon, &c.Overdue)
	return &c, err
}

// DataRequestUpdate is a change to a request. Nil fields stay as they are.
type DataRequestUpdate struct {
	Status *string
	Type   *string
	// AssigneeID set to 0 unassigns.
	AssigneeID *int64
	// ExtendedDueAt extends the request (once); ExtensionNote is its history line
	// (with the date as the company writes it) and ExtendReason why.
	ExtendedDueAt *time.Time
	ExtendReason  string
	ExtensionNote string
	// Notes are more history lines (a notice sent, an erasure done).
	Notes []string
}

// UpdateDataRequest changes a request in one transaction: it reads the request as
// stored, asks decide what to change (the server applies the law there, against the
// current row), checks the change and writes it with one history line for each part.
func (s *Store) UpdateDataRequest(ctx context.Context, id, agentID int64, decide func(cur *DataRequest) (DataRequestUpdate, error)) (*DataRequest, error) {
	err := s.tx(ctx, func(tx *Tx) error { return tx.applyDataRequestUpdate(ctx, id, agentID, decide) })
	if err != nil {
		return nil, err
	}
	return s.DataRequest(ctx, id)
}

func (t *Tx) applyDataRequestUpdate(ctx context.Context, id, agentID int64, decide func(cur *DataRequest) (DataRequestUpdate, error)) error {
	cur, err := scanDataRequest(t.queryRow(ctx, dataRequestSelect+` WHERE d.id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return notFound("data request", id)
	}
	if err != nil {
		return err
	}
	u, err := decide(cur)
	if err != nil {
		return err
	}
	next := *cur
	var changes []string
	if u.Type != nil && *u.Type != cur.Type {
		if !oneOf(*u.Type, DataRequestTypes) {
			return invalid("type must be one of %s, not %q", strings.Join(DataRequestTypes, ", "), *u.Type)
		}
		next.Type = *u.Type
		changes = append(changes, fmt.Sprintf("type: %s → %s", cur.Type, next.Type))
	}
	if u.ExtendedDueAt != nil {
		if cur.ExtendedDueAt != nil {
			return &ConflictError{Message: "this request has already been extended once: the GDPR allows one extension"}
		}
		if cur.Closed() {
			return &ConflictError{Message: "a " + cur.Status + " request can't be extended"}
		}
		next.ExtendedDueAt = u.ExtendedDueAt
		next.ExtendReason = strings.TrimSpace(u.ExtendReason)
		if err := CheckLen("extend_reason", next.ExtendReason, MaxNoteLen); err != nil {
			return err
		}
		note := u.ExtensionNote
		if note == "" {
			note = "extended to " + formatTime(*u.ExtendedDueAt)
		}
		if next.ExtendReason != "" {
			note += extendReasonSep + next.ExtendReason
		}
		changes = append(changes, note)
		if u.Status == nil {
			u.Status = ptr("extended")
		}
	}
	if u.Status != nil && *u.Status != cur.Status {
		st := *u.Status
		switch {
		case !oneOf(st, DataRequestStatuses) || st == "suggested":
			return invalid("status must be one of open, verifying, extended, completed, refused, dismissed, not %q", st)
		case st == "dismissed" && cur.Status != "suggested":
			return &ConflictError{Message: "only a suggestion can be dismissed; a " + cur.Status + " request is completed or refused"}
		case st == "extended" && next.ExtendedDueAt == nil:
			return invalid("to extend a request, give extend_reason (and extend_months): the new due date is worked out from them")
		}
		next.Status = st
		switch {
		case cur.Status == "suggested" && st == "open":
			changes = append(changes, "confirmed the suggestion")
		case st == "dismissed":
			changes = append(changes, "dismissed the suggestion")
		case st == "extended" && u.ExtendedDueAt != nil:
			// the extension line says it
		default:
			changes = append(changes, fmt.Sprintf("status: %s → %s", cur.Status, st))
		}
		switch {
		case st == "completed" || st == "refused" || st == "dismissed":
			now := t.s.Now()
			next.CompletedAt = &now
		default:
			next.CompletedAt = nil
		}
	}
	if u.AssigneeID != nil {
		want := *u.AssigneeID
		have := int64(0)
		if cur.AssigneeID != nil {
			have = *cur.AssigneeID
		}
		if want != have {
			if want == 0 {
				next.AssigneeID = nil
				changes = append(changes, "unassigned")
			} else {
				name, err := t.agentName(ctx, want)
				if err != nil {
					return err
				}
				next.AssigneeID = &want
				changes = append(changes, "assigned to "+name)
			}
		}
	}
	changes = append(changes, u.Notes...)
	if len(changes) == 0 {
		return nil
	}
	var assignee any
	if next.AssigneeID != nil {
		assignee = *next.AssigneeID
	}
	if _, err := t.exec(ctx, `UPDATE data_requests SET type = ?, status = ?, extended_due_at = ?, extend_reason = ?, assignee_id = ?,
		completed_at = ?, updated_at = ? WHERE id = ?`,
		next.Type, next.Status, nullTime(next.ExtendedDueAt), next.ExtendReason, assignee, nullTime(next.CompletedAt),
		formatTime(t.s.Now()), id); err != nil {
		return err
	}
	for _, ch := range changes {
		if err := t.dataRequestEvent(ctx, id, agentID, ch); err != nil {
			return err
		}
	}
	return nil
}

// extendReasonSep separates an extension's history line from its reason, which an
// erasure removes (a reason may name the person).
const extendReasonSep = "; reason: "

func ptr[T any](v T) *T { return &v }

// AlertingDataRequests lists the requests whose deadline still runs (suggested ones
// too: the legal clock starts at receipt, not at confirmation), for the alert worker.
func (s *Store) AlertingDataRequests(ctx context.Context) ([]*DataRequest, error) {
	rows, err := s.query(ctx, dataRequestSelect+` WHERE d.status IN ('suggested', 'open', 'verifying', 'extended') ORDER BY `+dueExpr+`, d.id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*DataRequest
	for rows.Next() {
		d, err := scanDataRequest(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// ---- company settings

// Settings returns the stored values of keys (missing keys are left out).
func (s *Store) Settings(ctx context.Context, keys ...string) (map[string]string, error) {
	out := map[string]string{}
	if len(keys) == 0 {
		return out, nil
	}
	args := make([]any, len(keys))
	for i, k := range keys {
		args[i] = k
	}
	rows, err := s.query(ctx, `SELECT key, value FROM settings WHERE key IN (`+placeholders(len(keys))+`)`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return nil, err
		}
		out[k] = v
	}
	return out, rows.Err()
}

// CompanyName signs what Kibo sends customers by itself: "Kibo" until a name is set,
// or when the settings can't be read.
func (s *Store) CompanyName(ctx context.Context) string {
	if v, err := s.Settings(ctx, "company_name"); err == nil && strings.TrimSpace(v["company_name"]) != "" {
		return strings.TrimSpace(v["company_name"])
	}
	return "Kibo"
}

// SetSettings stores values and writes the change to the audit log, in one transaction.
func (s *Store) SetSettings(ctx context.Context, values map[string]string, actorID int64) error {
	if len(values) == 0 {
		return nil
	}
	return s.tx(ctx, func(tx *Tx) error {
		for _, k := range sortedKeys(keySet(values)) {
			if _, err := tx.exec(ctx, `INSERT INTO settings(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value`, k, values[k]); err != nil {
				return err
			}
		}
		return tx.audit(ctx, "agent", actorID, "settings.update", "settings", "company", values)
	})
}

func keySet(m map[string]string) map[string]bool {
	out := make(map[string]bool, len(m))
	for k := range m {
		out[k] = true
	}
	return out
}
