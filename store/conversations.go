package store

import (
	"context"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// Conversation is a ticket: one thread with one contact in one inbox.
type Conversation struct {
	ID                    int64          `json:"id"`
	Number                int64          `json:"number"`
	InboxID               int64          `json:"inbox_id"`
	Channel               string         `json:"channel"`
	Status                string         `json:"status"`
	Priority              string         `json:"priority"`
	AssigneeID            *int64         `json:"assignee_id"`
	Tags                  []string       `json:"tags"`
	Subject               string         `json:"subject"`
	Contact               ContactSummary `json:"contact"`
	Preview               string         `json:"preview"`
	Unread                int            `json:"unread_count"`
	SnoozedUntil          *time.Time     `json:"snoozed_until"`
	CreatedAt             time.Time      `json:"created_at"`
	LastMessageAt         time.Time      `json:"last_message_at"`
	LastCustomerMessageAt *time.Time     `json:"last_customer_message_at"`
	FirstResponseAt       *time.Time     `json:"first_response_at"`
	ResolvedAt            *time.Time     `json:"resolved_at"`
	LastMessageID         int64          `json:"last_message_id"`
	// ContactReadID is the last message from the company the customer has seen (the
	// widget says so), 0 before any.
	ContactReadID int64      `json:"contact_read_id"`
	SLA           *SLAStatus `json:"sla"` // due times and breach (store/sla.go)
}

// ContactSummary is the part of a contact a conversation carries. EmailVerified is
// false for an address only typed or passed unsigned (Contact).
type ContactSummary struct {
	ID            int64  `json:"id"`
	Name          string `json:"name"`
	Email         string `json:"email"`
	EmailVerified bool   `json:"email_verified"`
}

var (
	Statuses   = []string{"open", "pending", "snoozed", "resolved"}
	Priorities = []string{"low", "normal", "high", "urgent"}
)

func oneOf(v string, set []string) bool {
	for _, s := range set {
		if s == v {
			return true
		}
	}
	return false
}

// conversationSelect reads conversations with their channel, contact, tags and the
// viewing agent's unread count in one statement, so a page costs one query.
const conversationSelect = `SELECT c.id, c.number, c.inbox_id, i.kind, c.status, c.priority, c.assignee_id, c.subject,
	ct.id, ct.name, ct.email, ct.email_verified, c.preview, c.snoozed_until, c.created_at, c.last_message_at,
	c.last_customer_message_at, c.first_response_at, c.resolved_at, c.last_message_id, c.contact_read_id,
	COALESCE((SELECT group_concat(tag, char(31)) FROM (SELECT tag FROM conversation_tags t WHERE t.conversation_id = c.id ORDER BY tag)), ''),
	CASE WHEN c.last_inbound_message_id <= COALESCE(r.last_read_id, 0) THEN 0 ELSE
		(SELECT COUNT(*) FROM (SELECT 1 FROM messages m WHERE m.conversation_id = c.id AND m.direction = 'in'
		AND m.id > COALESCE(r.last_read_id, 0) LIMIT 99)) END,
	` + SLASelectColumns + `
	FROM conversations c
	JOIN inboxes i ON i.id = c.inbox_id
	JOIN contacts ct ON ct.id = c.contact_id
	LEFT JOIN conversation_reads r ON r.conversation_id = c.id AND r.agent_id = ?`

func scanConversation(sc interface{ Scan(...any) error }) (*Conversation, error) {
	var c Conversation
	var assignee sql.NullInt64
	var snoozed, lastCustomer, firstResp, resolved sql.NullString
	var frDue, resDue, breached, nextDue sql.NullString
	var created, last, tags string
	err := sc.Scan(&c.ID, &c.Number, &c.InboxID, &c.Channel, &c.Status, &c.Priority, &assignee, &c.Subject,
		&c.Contact.ID, &c.Contact.Name, &c.Contact.Email, &c.Contact.EmailVerified, &c.Preview, &snoozed, &created, &last,
		&lastCustomer, &firstResp, &resolved, &c.LastMessageID, &c.ContactReadID, &tags, &c.Unread,
		&frDue, &resDue, &breached, &nextDue)
	if err != nil {
		return nil, err
	}
	if assignee.Valid {
		c.AssigneeID = &assignee.Int64
	}
	c.SnoozedUntil = parseNullTime(snoozed)
	c.CreatedAt = parseTime(created)
	c.LastMessageAt = parseTime(last)
	c.LastCustomerMessageAt = parseNullTime(lastCustomer)
	c.FirstResponseAt = parseNullTime(firstResp)
	c.ResolvedAt = parseNullTime(resolved)
	c.SLA = scanSLA(frDue, resDue, breached, nextDue)
	c.Tags = []string{}
	if tags != "" {
		c.Tags = strings.Split(tags, "\x1f")
	}
	return &c, nil
}

// Conversation returns one conversation as agentID sees it (unread count).
func (s *Store) Conversation(ctx context.Context, id, agentID int64) (*Conversation, error) {
	c, err := scanConversation(s.queryRow(ctx, conversationSelect+` WHERE c.id = ? AND c.deleted_at IS NULL`, agentID, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("conversation", id)
	}
	return c, err
}

// ConversationFilter selects the inbox list.
type ConversationFilter struct {
	Status    string // "" for every status
	InboxID   int64
	Assignee  string // "" anyone, "me", "none", or an agent id
	Tag       string
	Query     string
	ContactID int64
	Limit     int
	Cursor    string
	// AgentID is who is looking: "me" and the unread counts are theirs.
	AgentID int64
	// Sort "due" lists the earliest pending SLA target first; SLA filters "breached" or
	// "due_soon" (store/sla.go).
	Sort, SLA string
}

// Conversations lists conversations, newest activity first, a page at a time. It
// costs one statement whatever the page size.
func (s *Store) Conversations(ctx context.Context, f ConversationFilter) ([]*Conversation, string, error) {
	if f.Limit <= 0 || f.Limit > 200 {
		f.Limit = 50
	}
	q, args, err := s.conversationsQuery(f)
	if err != nil {
		return nil, "", err
	}
	rows, err := s.query(ctx, q, args...)
	if err != nil {
		return nil, "", err
	}
	defer rows.Close()
	var out []*Conversation
	for rows.Next() {
		c, err := scanConversation(rows)
		if err != nil {
			return nil, "", err
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, "", err
	}
	next := ""
	if len(out) > f.Limit {
		out = out[:f.Limit]
		last := out[len(out)-1]
		next = encodeCursor(formatTime(last.LastMessageAt), last.ID)
		if f.Sort == "due" {
			next = SLADueCursor(last)
		}
	}
	return out, next, nil
}

// conversationsQuery is the statement of Conversations and its arguments (apart so the
// tests can read its plan).
func (s *Store) conversationsQuery(f ConversationFilter) (string, []any, error) {
	where := []string{"c.deleted_at IS NULL"}
	var args []any
	if f.Status != "" {
		if !oneOf(f.Status, Statuses) {
			return "", nil, invalid("status must be one of %s, not %q", strings.Join(Statuses, ", "), f.Status)
		}
		where = append(where, "c.status = ?")
		args = append(args, f.Status)
	}
	if f.InboxID != 0 {
		where = append(where, "c.inbox_id = ?")
		args = append(args, f.InboxID)
	}
	if f.ContactID != 0 {
		where = append(where, "c.contact_id = ?")
		args = append(args, f.ContactID)
	}
	switch f.Assignee {
	case "", "anyone", "all":
	case "me":
		where = append(where, "c.assignee_id = ?")
		args = append(args, f.AgentID)
	case "none", "unassigned":
		where = append(where, "c.assignee_id IS NULL")
	default:
		id, err := strconv.ParseInt(f.Assignee, 10, 64)
		if err != nil {
			return "", nil, invalid("assignee must be me, none or an agent id, not %q", f.Assignee)
		}
		where = append(where, "c.assignee_id = ?")
		args = append(args, id)
	}
	// A tag's list walks the tag rows in list order (their copy of last_message_at and
	// status, migration 0007) and stops after a page. A search or a contact names a few
	// conversations already: each is looked up in the tag's primary key (EXISTS, so the
	// planner cannot start from the tag's whole list instead, 100 ms for 'billing').
	// Sort=due is not in activity order: the tag's conversations are read and sorted.
	searched := strings.TrimSpace(f.Query) != "" || f.ContactID != 0
	tagWalk := f.Tag != "" && !searched && f.Sort != "due"
	join, joinArgs := "", []any{}
	switch {
	case f.Tag == "":
	case tagWalk:
		join = " JOIN conversation_tags tg ON tg.conversation_id = c.id AND tg.tag = ?"
		joinArgs = append(joinArgs, normalizeTag(f.Tag))
		if f.Status != "" {
			join += " AND tg.status = ?"
			joinArgs = append(joinArgs, f.Status)
		}
	case searched:
		where = append(where, "EXISTS (SELECT 1 FROM conversation_tags t WHERE t.conversation_id = c.id AND t.tag = ?)")
		args = append(args, normalizeTag(f.Tag))
	default:
		where = append(where, "c.id IN (SELECT conversation_id FROM conversation_tags WHERE tag = ?)")
		args = append(args, normalizeTag(f.Tag))
	}
	if q := strings.TrimSpace(f.Query); q != "" {
		clause, qargs := searchClause(q)
		where = append(where, clause)
		args = append(args, qargs...)
	}
	slaWhere, slaArgs, err := SLAFilter(f.SLA, s.Now())
	if err != nil {
		return "", nil, err
	}
	if slaWhere != "" {
		where = append(where, slaWhere)
		args = append(args, slaArgs...)
	}
	order, after := "c.last_message_at DESC, c.id DESC", "(c.last_message_at < ? OR (c.last_message_at = ? AND c.id < ?))"
	if tagWalk {
		// the same order, named on the tag row so that its index gives it
		order, after = "tg.last_message_at DESC, tg.conversation_id DESC", "(tg.last_message_at < ? OR (tg.last_message_at = ? AND tg.conversation_id < ?))"
	}
	if f.Sort == "due" {
		order = SLADueOrder
	} else if f.Sort != "" && f.Sort != "activity" {
		return "", nil, invalid("sort must be activity or due, not %q", f.Sort)
	}
	if f.Cursor != "" && f.Sort == "due" {
		at, id, err := decodeCursor(f.Cursor)
		if err != nil {
			return "", nil, invalid("cursor is not one this server gave out")
		}
		where = append(where, SLADueAfter)
		args = append(args, at, at, id)
	} else if f.Cursor != "" {
		at, id, err := decodeCursor(f.Cursor)
		if err != nil {
			return "", nil, invalid("cursor is not one this server gave out")
		}
		where = append(where, after)
		args = append(args, at, at, id)
	}
	q := conversationSelect + join + " WHERE " + strings.Join(where, " AND ") + " ORDER BY " + order + " LIMIT ?"
	return q, append(append(append([]any{f.AgentID}, joinArgs...), args...), f.Limit+1), nil
}

func encodeCursor(at string, id int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte(at + "|" + strconv.FormatInt(id, 10)))
}

func decodeCursor(c string) (string, int64, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return "", 0, err
	}
	at, idStr, ok := strings.Cut(string(b), "|")
	if !ok {
		return "", 0, errors.New("bad cursor")
	}
	id, err := strconv.ParseInt(idStr, 10, 64)
	return at, id, err
}

// searchClause turns what a person typed into a safe FTS5 query (each word quoted, the
// last one a prefix) and finds conversations by message text (the newest matches
// first, bounded, so a common word costs no more than a rare one), by contact name or
// e-mail address, by subject, or by ticket number: each through its own index.
func searchClause(q string) (string, []any) {
	var terms []string
	for _, w := range strings.FieldsFunc(q, func(r rune) bool { return unicode.IsSpace(r) || r == '"' }) {
		terms = append(terms, `"`+w+`"`)
	}
	var parts []string
	var args []any
	if len(terms) > 0 {
		terms[len(terms)-1] += "*"
		match := strings.Join(terms, " ")
		limit := " ORDER BY rowid DESC LIMIT " + strconv.Itoa(searchLimit)
		parts = append(parts,
			`SELECT m.conversation_id FROM messages m WHERE m.id IN (SELECT rowid FROM messages_fts WHERE messages_fts MATCH ?`+limit+`)`,
			`SELECT c2.id FROM conversations c2 WHERE c2.contact_id IN (SELECT rowid FROM contacts_fts WHERE contacts_fts MATCH ?`+limit+`)`,
			`SELECT * FROM (SELECT rowid FROM subjects_fts WHERE subjects_fts MATCH ?`+limit+`)`)
		args = append(args, match, match, match)
	}
	if n, err := strconv.ParseInt(strings.TrimPrefix(strings.TrimSpace(q), "#"), 10, 64); err == nil {
		parts = append(parts, `SELECT id FROM conversations WHERE number = ?`)
		args = append(args, n)
	}
	if len(parts) == 0 {
		return "0", nil
	}
	return "c.id IN (" + strings.Join(parts, " UNION ") + ")", args
}

// searchLimit bounds how many matching messages, contacts and subjects a search
// reads: the newest, which is what an agent looks for.
const searchLimit = 2000

func normalizeTag(t string) string { return strings.ToLower(strings.TrimSpace(t)) }

// ConversationUpdate holds the changes an agent makes; nil leaves a field alone.
type ConversationUpdate struct {
	Status       *string
	Priority     *string
	AssigneeID   *int64 // 0 clears the assignee
	SetAssignee  bool
	Tags         *[]string
	SnoozedUntil *time.Time
}

// UpdateConversation applies an agent's changes.
func (s *Store) UpdateConversation(ctx context.Context, id, actorID int64, u ConversationUpdate) (*Conversation, error) {
	if u.Status != nil && !oneOf(*u.Status, Statuses) {
		return nil, invalid("status must be one of %s, not %q", strings.Join(Statuses, ", "), *u.Status)
	}
	if u.Priority != nil && !oneOf(*u.Priority, Priorities) {
		return nil, invalid("priority must be one of %s, not %q", strings.Join(Priorities, ", "), *u.Priority)
	}
	if u.Status != nil && *u.Status == "snoozed" && u.SnoozedUntil == nil {
		return nil, invalid("snoozed needs snoozed_until: the time the conversation comes back")
	}
	if u.SnoozedUntil != nil && !u.SnoozedUntil.After(s.Now()) {
		return nil, invalid("snoozed_until must be in the future")
	}
	now := formatTime(s.Now())
	err := s.tx(ctx, func(tx *Tx) error {
		var status string
		if err := tx.queryRow(ctx, `SELECT status FROM conversations WHERE id = ? AND deleted_at IS NULL`, id).Scan(&status); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return notFound("conversation", id)
			}
			return err
		}
		if u.SnoozedUntil != nil && u.Status == nil {
			s := "snoozed"
			u.Status = &s
		}
		if u.Status != nil {
			var snoozed any
			if *u.Status == "snoozed" {
				snoozed = formatTime(*u.SnoozedUntil)
			}
			if _, err := tx.exec(ctx, `UPDATE conversations SET status = ?, snoozed_until = ?, updated_at = ?,
				resolved_at = CASE WHEN ? = 'resolved' THEN ? ELSE NULL END WHERE id = ?`,
				*u.Status, snoozed, now, *u.Status, now, id); err != nil {
				return err
			}
		}
		if u.Priority != nil {
			if _, err := tx.exec(ctx, `UPDATE conversations SET priority = ?, updated_at = ? WHERE id = ?`, *u.Priority, now, id); err != nil {
				return err
			}
		}
		if u.SetAssignee {
			var assignee any
			if u.AssigneeID != nil && *u.AssigneeID != 0 {
				var active int
				if err := tx.queryRow(ctx, `SELECT COUNT(*) FROM agents WHERE id = ? AND disabled_at IS NULL`, *u.AssigneeID).Scan(&active); err != nil {
					return err
				}
				if active == 0 {
					return invalid("agent %d does not exist or is disabled", *u.AssigneeID)
				}
				assignee = *u.AssigneeID
			}
			if _, err := tx.exec(ctx, `UPDATE conversations SET assignee_id = ?, updated_at = ? WHERE id = ?`, assignee, now, id); err != nil {
				return err
			}
		}
		if u.Tags != nil {
			if _, err := tx.exec(ctx, `DELETE FROM conversation_tags WHERE conversation_id = ?`, id); err != nil {
				return err
			}
			seen := map[string]bool{}
			for _, t := range *u.Tags {
				t = normalizeTag(t)
				if t == "" || seen[t] {
					continue
				}
				if err := CheckLen("tag", t, MaxTagLen); err != nil {
					return err
				}
				if seen[t] = true; len(seen) > MaxTags {
					return invalid("a conversation has at most %d tags", MaxTags)
				}
				if _, err := tx.exec(ctx, `INSERT INTO conversation_tags(conversation_id, tag) VALUES (?, ?)`, id, t); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return s.Conversation(ctx, id, actorID)
}

// WakeSnoozed reopens snoozed conversations whose time has come and returns their ids.
func (s *Store) WakeSnoozed(ctx context.Context) ([]int64, error) {
	var ids []int64
	now := formatTime(s.Now())
	err := s.tx(ctx, func(tx *Tx) error {
		rows, err := tx.query(ctx, `UPDATE conversations INDEXED BY conversations_snoozed_until SET status = 'open', snoozed_until = NULL, updated_at = ?
			WHERE status = 'snoozed' AND snoozed_until <= ? RETURNING id`, now, now)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				return err
			}
			ids = append(ids, id)
		}
		return rows.Err()
	})
	return ids, err
}

// MarkRead records that an agent has read a conversation up to a message.
func (s *Store) MarkRead(ctx context.Context, conversationID, agentID, upTo int64) error {
	return s.tx(ctx, func(tx *Tx) error {
		_, err := tx.exec(ctx, `INSERT INTO conversation_reads(conversation_id, agent_id, last_read_id) VALUES (?, ?, ?)
			ON CONFLICT(conversation_id, agent_id) DO UPDATE SET last_read_id = MAX(last_read_id, excluded.last_read_id)`,
			conversationID, agentID, upTo)
		return err
	})
}

// ContactRead records that the customer has seen the company's messages of a
// conversation up to message upTo: the mark goes to the last public message the
// company sent there at or before upTo, so a visitor's word reaches nothing but their
// own conversation's messages. It returns the mark, and whether it moved; a repeated
// or older read changes nothing.
func (s *Store) ContactRead(ctx context.Context, conversationID, upTo int64) (readID int64, moved bool, err error) {
	err = s.tx(ctx, func(tx *Tx) error {
		err := tx.queryRow(ctx, `SELECT COALESCE(MAX(id), 0) FROM messages
			WHERE conversation_id = ? AND id <= ? AND direction = 'out' AND private = 0`, conversationID, upTo).Scan(&readID)
		if err != nil || readID == 0 {
			return err
		}
		res, err := tx.exec(ctx, `UPDATE conversations SET contact_read_id = ? WHERE id = ? AND contact_read_id < ? AND deleted_at IS NULL`,
			readID, conversationID, readID)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		moved = n > 0
		return err
	})
	return readID, moved, err
}

// Counts are the numbers in the inbox navigation.
type Counts struct {
	ByStatus   map[string]int `json:"by_status"`
	Mine       int            `json:"mine"`
	Unassigned int            `json:"unassigned"`
	Unread     int            `json:"unread"`
	// ByInbox is the open conversations of each inbox (inboxes with none are absent).
	ByInbox map[int64]int `json:"by_inbox"`
}

// ConversationCounts returns the navigation's counts as one agent sees them.
func (s *Store) ConversationCounts(ctx context.Context, agentID int64) (*Counts, error) {
	snap, err := s.CountsSnapshot(ctx)
	if err != nil {
		return nil, err
	}
	return snap.For(agentID), nil
}

// CountsSnapshot is every figure the inbox counts are made of, read at one moment:
// the server reads one for all open pages at once and gives each agent theirs.
type CountsSnapshot struct {
	figures  map[string]int
	readOpen map[int64]int
}

// CountsSnapshot reads the counts the writer keeps (migration 0012): two small tables,
// one row per status, agent and inbox, whatever the number of conversations.
func (s *Store) CountsSnapshot(ctx context.Context) (*CountsSnapshot, error) {
	snap := &CountsSnapshot{figures: map[string]int{}, readOpen: map[int64]int{}}
	rows, err := s.query(ctx, `SELECT key, n, 0 FROM conversation_counts UNION ALL SELECT '', read_open, agent_id FROM agent_read_counts`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var key string
		var n int
		var agent int64
		if err := rows.Scan(&key, &n, &agent); err != nil {
			return nil, err
		}
		if key == "" {
			snap.readOpen[agent] = n
		} else {
			snap.figures[key] = n
		}
	}
	return snap, rows.Err()
}

// For is the counts as agentID sees them.
func (c *CountsSnapshot) For(agentID int64) *Counts {
	out := &Counts{ByStatus: map[string]int{}, ByInbox: map[int64]int{}}
	for _, st := range Statuses {
		out.ByStatus[st] = c.figures["status:"+st]
	}
	out.Mine = c.figures["open:agent:"+strconv.FormatInt(agentID, 10)]
	out.Unassigned = c.figures["open:unassigned"]
	out.Unread = max(c.figures["open:inbound"]-c.readOpen[agentID], 0)
	for key, n := range c.figures {
		if id, ok := strings.CutPrefix(key, "open:inbox:"); ok && n > 0 {
			if v, err := strconv.ParseInt(id, 10, 64); err == nil {
				out.ByInbox[v] = n
			}
		}
	}
	return out
}

// Tags lists the tags in use, most used first.
func (s *Store) Tags(ctx context.Context) ([]string, error) {
	rows, err := s.query(ctx, `SELECT tag FROM tag_counts WHERE n > 0 ORDER BY n DESC, tag LIMIT 200`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []string{}
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// DeleteConversation hides a conversation. Its messages stay (and keep their external
// ids), so a mail still on the server is not imported again.
func (s *Store) DeleteConversation(ctx context.Context, id int64) error {
	return s.tx(ctx, func(tx *Tx) error {
		res, err := tx.exec(ctx, `UPDATE conversations SET deleted_at = ? WHERE id = ? AND deleted_at IS NULL`, formatTime(s.Now()), id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return notFound("conversation", id)
		}
		return nil
	})
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

var _ = fmt.Sprintf

// ConversationsByID loads conversations keyed by id in one statement (no viewer, so
// unread counts are the inbound messages nobody in particular has read).
func (s *Store) ConversationsByID(ctx context.Context, ids []int64) (map[int64]*Conversation, error) {
	rows, err := s.query(ctx, conversationSelect+` WHERE c.id IN (SELECT value FROM json_each(?))`, 0, jsonIDs(ids))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := make(map[int64]*Conversation, len(ids))
	for rows.Next() {
		c, err := scanConversation(rows)
		if err != nil {
			return nil, err
		}
		out[c.ID] = c
	}
	return out, rows.Err()
}
