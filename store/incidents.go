package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Incident is an outage or a planned maintenance, told to customers on every channel:
// a title, a state, an estimate and the updates that led there.
type Incident struct {
	ID             int64      `json:"id"`
	Title          string     `json:"title"`
	State          string     `json:"state"`
	Impact         string     `json:"impact"`
	Services       []string   `json:"services"`
	Audience       string     `json:"audience"`
	ETA            *time.Time `json:"eta"`
	ScheduledStart *time.Time `json:"scheduled_start"`
	ScheduledEnd   *time.Time `json:"scheduled_end"`
	CreatedBy      int64      `json:"created_by"`
	CreatedAt      time.Time  `json:"created_at"`
	UpdatedAt      time.Time  `json:"updated_at"`
	ResolvedAt     *time.Time `json:"resolved_at"`
	// Phase is "active" (customers are affected now), "upcoming" (maintenance not yet
	// begun) or "past".
	Phase string `json:"phase"`
	// Message is the text of the latest update.
	Message string            `json:"message"`
	Updates []*IncidentUpdate `json:"updates"`
}

// IncidentUpdate is one message of an incident to its audience.
type IncidentUpdate struct {
	ID             int64      `json:"id"`
	IncidentID     int64      `json:"incident_id"`
	Text           string     `json:"text"`
	State          string     `json:"state"`
	ETA            *time.Time `json:"eta"`
	AuthorID       int64      `json:"author_id"`
	CreatedAt      time.Time  `json:"created_at"`
	FanoutDoneAt   *time.Time `json:"fanout_done_at"`
	WidgetsReached int        `json:"widgets_reached"`
}

var (
	IncidentStates    = []string{"investigating", "identified", "monitoring", "resolved", "scheduled"}
	IncidentImpacts   = []string{"degraded", "outage"}
	incidentAudiences = "open, recent:N (days) or all"
)

// PhaseAt tells where an incident stands at now.
func (i *Incident) PhaseAt(now time.Time) string {
	switch {
	case i.State == "resolved":
		return "past"
	case i.State == "scheduled" && i.ScheduledStart != nil && now.Before(*i.ScheduledStart):
		return "upcoming"
	case i.State == "scheduled" && i.ScheduledEnd != nil && !now.Before(*i.ScheduledEnd):
		return "past"
	}
	return "active"
}

// StartedAt is when customers started to be affected (the maintenance window's start
// for planned work).
func (i *Incident) StartedAt() time.Time {
	if i.ScheduledStart != nil {
		return *i.ScheduledStart
	}
	return i.CreatedAt
}

// EndedAt is when it was over (nil while it is not).
func (i *Incident) EndedAt() *time.Time {
	if i.ResolvedAt != nil {
		return i.ResolvedAt
	}
	if i.State == "scheduled" && i.ScheduledEnd != nil && i.Phase == "past" {
		return i.ScheduledEnd
	}
	return nil
}

// ParseAudience checks an audience: "open" (contacts with an unresolved conversation),
// "recent:N" (contacts who wrote in the last N days) or "all". It returns N for
// recent.
func ParseAudience(a string) (kind string, days int, err error) {
	switch {
	case a == "open" || a == "all":
		return a, 0, nil
	case strings.HasPrefix(a, "recent:"):
		n, err := strconv.Atoi(strings.TrimPrefix(a, "recent:"))
		if err != nil || n < 1 || n > 3650 {
			return "", 0, invalid("audience recent:N needs a number of days between 1 and 3650, not %q", a)
		}
		return "recent", n, nil
	}
	return "", 0, invalid("audience must be %s, not %q", incidentAudiences, a)
}

// IncidentInput declares an incident.
type IncidentInput struct {
	Title          string
	State          string
	Impact         string
	Message        string
	Audience       string
	Services       []string
	ETA            *time.Time
	ScheduledStart *time.Time
	ScheduledEnd   *time.Time
}

// CreateIncident declares an incident with its first update (the message).
func (s *Store) CreateIncident(ctx context.Context, in IncidentInput, actorID int64) (*Incident, *IncidentUpdate, error) {
	in.Title = strings.TrimSpace(in.Title)
	in.Message = strings.TrimSpace(in.Message)
	if in.Title == "" {
		return nil, nil, invalid("an incident needs a title")
	}
	if err := CheckLen("title", in.Title, MaxNameLen); err != nil {
		return nil, nil, err
	}
	if in.Message == "" {
		in.Message = in.Title
	}
	if err := CheckLen("message", in.Message, MaxNoteLen); err != nil {
		return nil, nil, err
	}
	if in.State == "" {
		in.State = "investigating"
		if in.ScheduledStart != nil {
			in.State = "scheduled"
		}
	}
	if !oneOf(in.State, IncidentStates) {
		return nil, nil, invalid("state must be one of %s, not %q", strings.Join(IncidentStates, ", "), in.State)
	}
	if in.State == "resolved" {
		return nil, nil, invalid("an incident starts unresolved: declare it, then resolve it with an update")
	}
	if in.Impact == "" {
		in.Impact = "outage"
	}
	if !oneOf(in.Impact, IncidentImpacts) {
		return nil, nil, invalid("impact must be degraded or outage, not %q", in.Impact)
	}
	if in.Audience == "" {
		in.Audience = "open"
	}
	if _, _, err := ParseAudience(in.Audience); err != nil {
		return nil, nil, err
	}
	if in.State == "scheduled" {
		if in.ScheduledStart == nil || in.ScheduledEnd == nil {
			return nil, nil, invalid("scheduled maintenance needs scheduled_start and scheduled_end")
		}
		if !in.ScheduledEnd.After(*in.ScheduledStart) {
			return nil, nil, invalid("scheduled_end must be after scheduled_start")
		}
		if in.ETA == nil {
			in.ETA = in.ScheduledEnd
		}
	} else if in.ScheduledStart != nil || in.ScheduledEnd != nil {
		return nil, nil, invalid("scheduled_start and scheduled_end are for state scheduled (planned maintenance)")
	}
	services := []string{}
	for _, sv := range in.Services {
		if sv = strings.TrimSpace(sv); sv != "" && len(sv) <= 100 {
			services = append(services, sv)
		}
	}
	svc, _ := json.Marshal(services)
	now := formatTime(s.Now())
	var id, updID int64
	err := s.tx(ctx, func(tx *Tx) error {
		var err error
		id, err = tx.insert(ctx, `INSERT INTO incidents(title, state, impact, services, audience, eta, scheduled_start, scheduled_end, created_by, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			in.Title, in.State, in.Impact, string(svc), in.Audience, nullTime(in.ETA), nullTime(in.ScheduledStart), nullTime(in.ScheduledEnd), nullID(actorID), now, now)
		if err != nil {
			return err
		}
		updID, err = tx.insert(ctx, `INSERT INTO incident_updates(incident_id, text, state, eta, author_id, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
			id, in.Message, in.State, nullTime(in.ETA), nullID(actorID), now)
		if err != nil {
			return err
		}
		return tx.audit(ctx, "agent", actorID, "incident.create", "incident", itoa(id), map[string]any{"title": in.Title, "state": in.State, "audience": in.Audience})
	})
	if err != nil {
		return nil, nil, err
	}
	return s.incidentAndUpdate(ctx, id, updID)
}

// IncidentUpdateInput is an update: the text always, a new state and estimate when
// they change (ClearETA removes the estimate).
type IncidentUpdateInput struct {
	Text     string
	State    string
	ETA      *time.Time
	ClearETA bool
}

// AddIncidentUpdate adds an update; it may change the state and the estimate. A
// resolved incident gets its resolved_at; one taken back up loses it.
func (s *Store) AddIncidentUpdate(ctx context.Context, incidentID int64, in IncidentUpdateInput, actorID int64) (*Incident, *IncidentUpdate, error) {
	in.Text = strings.TrimSpace(in.Text)
	if in.Text == "" {
		return nil, nil, invalid("an update needs a text for customers")
	}
	if err := CheckLen("text", in.Text, MaxNoteLen); err != nil {
		return nil, nil, err
	}
	if in.State != "" && !oneOf(in.State, IncidentStates) {
		return nil, nil, invalid("state must be one of %s, not %q", strings.Join(IncidentStates, ", "), in.State)
	}
	nowT := s.Now()
	now := formatTime(nowT)
	var updID int64
	err := s.tx(ctx, func(tx *Tx) error {
		var state string
		var eta, schedStart sql.NullString
		err := tx.queryRow(ctx, `SELECT state, eta, scheduled_start FROM incidents WHERE id = ?`, incidentID).Scan(&state, &eta, &schedStart)
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("incident", incidentID)
		}
		if err != nil {
			return err
		}
		if in.State == "" {
			in.State = state
		}
		if in.State == "scheduled" && !schedStart.Valid {
			return invalid("only planned maintenance can be in state scheduled")
		}
		newETA := parseNullTime(eta)
		if in.ETA != nil {
			newETA = in.ETA
		}
		if in.ClearETA || in.State == "resolved" {
			newETA = nil
		}
		if _, err := tx.exec(ctx, `UPDATE incidents SET state = ?, eta = ?, updated_at = ?,
			resolved_at = CASE WHEN ? = 'resolved' THEN COALESCE(resolved_at, ?) ELSE NULL END WHERE id = ?`,
			in.State, nullTime(newETA), now, in.State, now, incidentID); err != nil {
			return err
		}
		updID, err = tx.insert(ctx, `INSERT INTO incident_updates(incident_id, text, state, eta, author_id, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
			incidentID, in.Text, in.State, nullTime(newETA), nullID(actorID), now)
		if err != nil {
			return err
		}
		return tx.audit(ctx, "agent", actorID, "incident.update", "incident", itoa(incidentID), map[string]any{"state": in.State, "update": updID})
	})
	if err != nil {
		return nil, nil, err
	}
	return s.incidentAndUpdate(ctx, incidentID, updID)
}

func (s *Store) incidentAndUpdate(ctx context.Context, id, updID int64) (*Incident, *IncidentUpdate, error) {
	inc, err := s.Incident(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	for _, u := range inc.Updates {
		if u.ID == updID {
			return inc, u, nil
		}
	}
	return nil, nil, notFound("incident update", updID)
}

const incidentColumns = `id, title, state, impact, services, audience, eta, scheduled_start, scheduled_end, COALESCE(created_by, 0), created_at, updated_at, resolved_at`

func scanIncident(sc interface{ Scan(...any) error }, now time.Time) (*Incident, error) {
	var i Incident
	var services, created, updated string
	var eta, start, end, resolved sql.NullString
	if err := sc.Scan(&i.ID, &i.Title, &i.State, &i.Impact, &services, &i.Audience, &eta, &start, &end, &i.CreatedBy, &created, &updated, &resolved); err != nil {
		return nil, err
	}
	i.Services = []string{}
	json.Unmarshal([]byte(services), &i.Services)
	i.ETA, i.ScheduledStart, i.ScheduledEnd, i.ResolvedAt = parseNullTime(eta), parseNullTime(start), parseNullTime(end), parseNullTime(resolved)
	i.CreatedAt, i.UpdatedAt = parseTime(created), parseTime(updated)
	i.Phase = i.PhaseAt(now)
	i.Updates = []*IncidentUpdate{}
	return &i, nil
}

// Incident returns one incident with its updates, newest first.
func (s *Store) Incident(ctx context.Context, id int64) (*Incident, error) {
	inc, err := scanIncident(s.queryRow(ctx, `SELECT `+incidentColumns+` FROM incidents WHERE id = ?`, id), s.Now())
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("incident", id)
	}
	if err != nil {
		return nil, err
	}
	return inc, s.incidentUpdates(ctx, []*Incident{inc})
}

// IncidentFilter selects incidents: Open only those not resolved (planned maintenance
// whose window has passed included: the caller looks at Phase); Since leaves out
// incidents over before it.
type IncidentFilter struct {
	Open  bool
	Since time.Time
	Limit int
}

// Incidents lists incidents with their updates (two statements): active ones first,
// then upcoming maintenance, then the past, newest first within each.
func (s *Store) Incidents(ctx context.Context, f IncidentFilter) ([]*Incident, error) {
	if f.Limit <= 0 || f.Limit > 500 {
		f.Limit = 100
	}
	where := "1 = 1"
	var args []any
	if f.Open {
		where = "state <> 'resolved'"
	}
	if !f.Since.IsZero() {
		where += " AND (resolved_at IS NULL OR resolved_at >= ?)"
		args = append(args, formatTime(f.Since))
	}
	// unresolved first (few), then by time: the limit never hides an open incident
	rows, err := s.query(ctx, `SELECT `+incidentColumns+` FROM incidents WHERE `+where+` ORDER BY state = 'resolved', id DESC LIMIT ?`, append(args, f.Limit)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	now := s.Now()
	out := []*Incident{}
	for rows.Next() {
		inc, err := scanIncident(rows, now)
		if err != nil {
			return nil, err
		}
		out = append(out, inc)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rank := map[string]int{"active": 0, "upcoming": 1, "past": 2}
	sort.SliceStable(out, func(a, b int) bool {
		if ra, rb := rank[out[a].Phase], rank[out[b].Phase]; ra != rb {
			return ra < rb
		}
		if out[a].Phase == "upcoming" {
			return out[a].StartedAt().Before(out[b].StartedAt())
		}
		return out[a].StartedAt().After(out[b].StartedAt())
	})
	return out, s.incidentUpdates(ctx, out)
}

// incidentUpdates loads the updates of incidents in one statement.
func (s *Store) incidentUpdates(ctx context.Context, incs []*Incident) error {
	if len(incs) == 0 {
		return nil
	}
	byID := map[int64]*Incident{}
	ids := make([]int64, 0, len(incs))
	for _, i := range incs {
		byID[i.ID] = i
		ids = append(ids, i.ID)
	}
	rows, err := s.query(ctx, `SELECT id, incident_id, text, state, eta, COALESCE(author_id, 0), created_at, fanout_done_at, widgets_reached
		FROM incident_updates WHERE incident_id IN (SELECT value FROM json_each(?)) ORDER BY id DESC`, jsonIDs(ids))
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var u IncidentUpdate
		var eta, done sql.NullString
		var created string
		if err := rows.Scan(&u.ID, &u.IncidentID, &u.Text, &u.State, &eta, &u.AuthorID, &created, &done, &u.WidgetsReached); err != nil {
			return err
		}
		u.ETA, u.FanoutDoneAt, u.CreatedAt = parseNullTime(eta), parseNullTime(done), parseTime(created)
		if inc := byID[u.IncidentID]; inc != nil {
			if len(inc.Updates) == 0 {
				inc.Message = u.Text
			}
			inc.Updates = append(inc.Updates, &u)
		}
	}
	return rows.Err()
}

// ---- fan-out

// FanoutJob is an update still to be sent to its audience.
type FanoutJob struct {
	IncidentID int64
	UpdateID   int64
	Audience   string
	CreatedAt  time.Time
}

// PendingFanouts lists the updates whose fan-out has not finished, oldest first: after a
// restart they are taken up again.
func (s *Store) PendingFanouts(ctx context.Context) ([]FanoutJob, error) {
	rows, err := s.query(ctx, `SELECT u.incident_id, u.id, i.audience, u.created_at FROM incident_updates u JOIN incidents i ON i.id = u.incident_id
		WHERE u.fanout_done_at IS NULL ORDER BY u.id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []FanoutJob
	for rows.Next() {
		var j FanoutJob
		var at string
		if err := rows.Scan(&j.IncidentID, &j.UpdateID, &j.Audience, &at); err != nil {
			return nil, err
		}
		j.CreatedAt = parseTime(at)
		out = append(out, j)
	}
	return out, rows.Err()
}

// FinishFanout records that every contact of an update's audience has its message.
func (s *Store) FinishFanout(ctx context.Context, updateID int64) error {
	return s.tx(ctx, func(tx *Tx) error {
		_, err := tx.exec(ctx, `UPDATE incident_updates SET fanout_done_at = ? WHERE id = ?`, formatTime(s.Now()), updateID)
		return err
	})
}

// SetWidgetsReached records how many open widgets an update reached live.
func (s *Store) SetWidgetsReached(ctx context.Context, updateID int64, n int) error {
	return s.tx(ctx, func(tx *Tx) error {
		_, err := tx.exec(ctx, `UPDATE incident_updates SET widgets_reached = widgets_reached + ? WHERE id = ?`, n, updateID)
		return err
	})
}

// AudienceMember is a contact to tell about an incident, with the conversation to tell
// them on: their latest one on a channel that carries broadcasts (chat visitors see the
// incident in the widget).
type AudienceMember struct {
	ContactID             int64
	ConversationID        int64
	InboxID               int64
	Channel               string
	LastCustomerMessageAt *time.Time
}

// Audience returns a page of an audience (ParseAudience) as of at, by contact id after
// afterContactID, each on their latest conversation on one of the kinds given (the
// channels that carry broadcasts).
func (s *Store) Audience(ctx context.Context, audience string, at time.Time, kinds []string, afterContactID int64, limit int) ([]AudienceMember, error) {
	kind, days, err := ParseAudience(audience)
	if err != nil {
		return nil, err
	}
	cond := "1 = 1"
	args := []any{}
	switch kind {
	case "open":
		cond = "EXISTS (SELECT 1 FROM conversations o WHERE o.contact_id = ct.id AND o.status <> 'resolved' AND o.deleted_at IS NULL)"
	case "recent":
		cond = "EXISTS (SELECT 1 FROM conversations o WHERE o.contact_id = ct.id AND o.last_customer_message_at >= ? AND o.deleted_at IS NULL)"
		args = append(args, formatTime(at.Add(-time.Duration(days)*24*time.Hour)))
	}
	if limit <= 0 {
		limit = 200
	}
	kindsJSON, _ := json.Marshal(kinds)
	args = append([]any{string(kindsJSON)}, args...)
	args = append(args, afterContactID, limit)
	rows, err := s.query(ctx, `SELECT ct.id, c.id, c.inbox_id, i.kind, c.last_customer_message_at
		FROM contacts ct
		JOIN conversations c ON c.id = (SELECT c2.id FROM conversations c2 JOIN inboxes i2 ON i2.id = c2.inbox_id
			WHERE c2.contact_id = ct.id AND c2.deleted_at IS NULL AND i2.kind IN (SELECT value FROM json_each(?)) AND i2.deleted_at IS NULL
			ORDER BY c2.last_message_at DESC, c2.id DESC LIMIT 1)
		JOIN inboxes i ON i.id = c.inbox_id
		WHERE ct.merged_into IS NULL AND `+cond+` AND ct.id > ? ORDER BY ct.id LIMIT ?`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []AudienceMember
	for rows.Next() {
		var m AudienceMember
		var last sql.NullString
		if err := rows.Scan(&m.ContactID, &m.ConversationID, &m.InboxID, &m.Channel, &last); err != nil {
			return nil, err
		}
		m.LastCustomerMessageAt = parseNullTime(last)
		out = append(out, m)
	}
	return out, rows.Err()
}

// IncidentMessage is what Kibo tells one contact about an incident: a broadcast update
// or the auto-reply to a new ticket.
type IncidentMessage struct {
	Kind           string // "broadcast" or "auto_reply"
	IncidentID     int64
	UpdateID       int64
	ContactID      int64
	ConversationID int64
	Channel        string
	DedupeKey      string
	AuthorName     string
	Text           string
	// Queue sends it through the outbox (not chat); NotBefore paces a broadcast.
	Queue     bool
	NotBefore time.Time
	// ExternalID is the channel id fixed before sending (an e-mail's Message-ID).
	ExternalID string
	// Skip records a contact not sent to, and why (Messenger's window closed).
	Skip string
	// Bump moves the conversation up the inbox (an auto-reply does, a broadcast does
	// not: thousands of conversations would jump to the top).
	Bump bool
}

// AddIncidentMessages stores each message with its outbox row and its delivery record
// in one transaction. A message whose dedupe key is already recorded is skipped, so a
// fan-out that is run again after a crash sends nobody anything twice. It returns the
// messages it stored (nil for the ones skipped), in order.
func (s *Store) AddIncidentMessages(ctx context.Context, msgs []IncidentMessage) ([]*Message, error) {
	out := make([]*Message, len(msgs))
	ids := make([]int64, len(msgs))
	nowT := s.Now()
	now := formatTime(nowT)
	err := s.tx(ctx, func(tx *Tx) error {
		for i, m := range msgs {
			ids[i] = 0
			if m.DedupeKey == "" {
				return fmt.Errorf("an incident message needs a dedupe key")
			}
			var n int
			if err := tx.queryRow(ctx, `SELECT COUNT(*) FROM incident_deliveries WHERE dedupe_key = ?`, m.DedupeKey).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				continue
			}
			var updID any
			if m.UpdateID != 0 {
				updID = m.UpdateID
			}
			if m.Skip != "" {
				if _, err := tx.exec(ctx, `INSERT INTO incident_deliveries(dedupe_key, kind, incident_id, update_id, contact_id, conversation_id, channel, state, error, created_at)
					VALUES (?, ?, ?, ?, ?, ?, ?, 'skipped', ?, ?)`, m.DedupeKey, m.Kind, m.IncidentID, updID, nullID(m.ContactID), nullID(m.ConversationID), m.Channel, m.Skip, now); err != nil {
					return err
				}
				continue
			}
			var inboxID int64
			err := tx.queryRow(ctx, `SELECT inbox_id FROM conversations WHERE id = ? AND deleted_at IS NULL`, m.ConversationID).Scan(&inboxID)
			if errors.Is(err, sql.ErrNoRows) {
				continue // deleted since the audience was read
			}
			if err != nil {
				return err
			}
			delivery := "sent"
			if m.Queue {
				delivery = "queued"
			}
			var ext any
			if m.ExternalID != "" {
				ext = m.ExternalID
			}
			id, err := tx.insert(ctx, `INSERT INTO messages(conversation_id, inbox_id, direction, private, author_kind, author_name, text, delivery, auto, external_id, metadata, created_at)
				VALUES (?, ?, 'out', 0, 'system', ?, ?, ?, 1, ?, ?, ?)`,
				m.ConversationID, inboxID, m.AuthorName, m.Text, delivery, ext, fmt.Sprintf(`{"incident_id":%d}`, m.IncidentID), now)
			if err != nil {
				return err
			}
			ids[i] = id
			if err := tx.indexMessages(ctx, []int64{id}); err != nil {
				return err
			}
			if m.Bump {
				_, err = tx.exec(ctx, `UPDATE conversations SET last_message_at = ?, last_message_id = ?, preview = ?, updated_at = ? WHERE id = ?`,
					now, id, preview(m.Text), now, m.ConversationID)
			} else {
				_, err = tx.exec(ctx, `UPDATE conversations SET updated_at = ? WHERE id = ?`, now, m.ConversationID)
			}
			if err != nil {
				return err
			}
			state := "sent"
			if m.Queue {
				state = "queued"
				at := nowT
				if m.NotBefore.After(at) {
					at = m.NotBefore
				}
				if _, err := tx.exec(ctx, `INSERT INTO outbox(kind, inbox_id, conversation_id, message_id, contact_id, dedupe_key, payload, next_attempt_at, created_at)
					VALUES (?, ?, ?, ?, ?, ?, '{}', ?, ?) ON CONFLICT(dedupe_key) DO NOTHING`,
					m.Kind, inboxID, m.ConversationID, id, nullID(m.ContactID), m.DedupeKey, formatTime(at), now); err != nil {
					return err
				}
			}
			if _, err := tx.exec(ctx, `INSERT INTO incident_deliveries(dedupe_key, kind, incident_id, update_id, contact_id, conversation_id, message_id, channel, state, created_at)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, m.DedupeKey, m.Kind, m.IncidentID, updID, nullID(m.ContactID), m.ConversationID, id, m.Channel, state, now); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for i, id := range ids {
		if id == 0 {
			continue
		}
		m, err := s.Message(ctx, id)
		if err != nil {
			return nil, err
		}
		out[i] = m
	}
	return out, nil
}

// TagConversation adds a tag to a conversation (the incident a ticket arrived during).
func (s *Store) TagConversation(ctx context.Context, conversationID int64, tag string) error {
	tag = normalizeTag(tag)
	if tag == "" {
		return invalid("a tag has 1 to %d characters", MaxTagLen)
	}
	if err := CheckLen("tag", tag, MaxTagLen); err != nil {
		return err
	}
	return s.tx(ctx, func(tx *Tx) error {
		_, err := tx.exec(ctx, `INSERT INTO conversation_tags(conversation_id, tag) VALUES (?, ?) ON CONFLICT DO NOTHING`, conversationID, tag)
		return err
	})
}

// ---- delivery figures

// DeliveryCounts are the sends of one channel by outcome.
type DeliveryCounts struct {
	Queued   int `json:"queued"`
	Retrying int `json:"retrying"`
	Sent     int `json:"sent"`
	Failed   int `json:"failed"`
	Skipped  int `json:"skipped"`
}

// DeliveryFailure is a contact an incident did not reach, and why.
type DeliveryFailure struct {
	UpdateID       int64  `json:"update_id"`
	ContactID      int64  `json:"contact_id"`
	ConversationID int64  `json:"conversation_id"`
	Channel        string `json:"channel"`
	State          string `json:"state"`
	Error          string `json:"error"`
}

// UpdateDelivery is how far one update got.
type UpdateDelivery struct {
	UpdateID       int64                      `json:"update_id"`
	WidgetsReached int                        `json:"widgets_reached"`
	FanoutDone     bool                       `json:"fanout_done"`
	ByChannel      map[string]*DeliveryCounts `json:"by_channel"`
}

// IncidentDelivery is how many customers an incident reached, on which channel, and what
// failed. The state of each send is the outbox row's with the same dedupe key.
type IncidentDelivery struct {
	WidgetsReached int                        `json:"widgets_reached"`
	ByChannel      map[string]*DeliveryCounts `json:"by_channel"`
	AutoReplies    *DeliveryCounts            `json:"auto_replies"`
	ByUpdate       []*UpdateDelivery          `json:"by_update"`
	Failures       []DeliveryFailure          `json:"failures"`
}

func (c *DeliveryCounts) add(state string, n int) {
	switch state {
	case "sent":
		c.Sent += n
	case "failed":
		c.Failed += n
	case "skipped":
		c.Skipped += n
	case "retrying":
		c.Retrying += n
	default:
		c.Queued += n
	}
}

// deliveryState is the outcome of one delivery row, with its outbox row's state.
const deliveryState = `CASE WHEN d.state = 'skipped' THEN 'skipped' WHEN o.state IS NULL THEN d.state
	WHEN o.state = 'sent' THEN 'sent' WHEN o.state = 'failed' THEN 'failed'
	WHEN o.last_error <> '' THEN 'retrying' ELSE 'queued' END`

// IncidentDeliveryStats counts an incident's deliveries (three statements).
func (s *Store) IncidentDeliveryStats(ctx context.Context, incidentID int64) (*IncidentDelivery, error) {
	st := &IncidentDelivery{ByChannel: map[string]*DeliveryCounts{}, AutoReplies: &DeliveryCounts{}, ByUpdate: []*UpdateDelivery{}, Failures: []DeliveryFailure{}}
	byUpdate := map[int64]*UpdateDelivery{}
	rows, err := s.query(ctx, `SELECT id, widgets_reached, fanout_done_at IS NOT NULL FROM incident_updates WHERE incident_id = ? ORDER BY id`, incidentID)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		u := &UpdateDelivery{ByChannel: map[string]*DeliveryCounts{}}
		if err := rows.Scan(&u.UpdateID, &u.WidgetsReached, &u.FanoutDone); err != nil {
			rows.Close()
			return nil, err
		}
		st.WidgetsReached += u.WidgetsReached
		st.ByUpdate = append(st.ByUpdate, u)
		byUpdate[u.UpdateID] = u
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows, err = s.query(ctx, `SELECT d.kind, COALESCE(d.update_id, 0), d.channel, `+deliveryState+`, COUNT(*)
		FROM incident_deliveries d LEFT JOIN outbox o ON o.dedupe_key = d.dedupe_key
		WHERE d.incident_id = ? GROUP BY 1, 2, 3, 4`, incidentID)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var kind, channel, state string
		var upd int64
		var n int
		if err := rows.Scan(&kind, &upd, &channel, &state, &n); err != nil {
			rows.Close()
			return nil, err
		}
		if kind == "auto_reply" {
			st.AutoReplies.add(state, n)
			continue
		}
		if st.ByChannel[channel] == nil {
			st.ByChannel[channel] = &DeliveryCounts{}
		}
		st.ByChannel[channel].add(state, n)
		if u := byUpdate[upd]; u != nil {
			if u.ByChannel[channel] == nil {
				u.ByChannel[channel] = &DeliveryCounts{}
			}
			u.ByChannel[channel].add(state, n)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows, err = s.query(ctx, `SELECT COALESCE(d.update_id, 0), COALESCE(d.contact_id, 0), COALESCE(d.conversation_id, 0), d.channel, `+deliveryState+` AS st,
			COALESCE(NULLIF(o.last_error, ''), d.error)
		FROM incident_deliveries d LEFT JOIN outbox o ON o.dedupe_key = d.dedupe_key
		WHERE d.incident_id = ? AND (d.state = 'skipped' OR o.state = 'failed' OR (o.state IN ('pending', 'sending') AND o.last_error <> ''))
		ORDER BY d.created_at DESC LIMIT 100`, incidentID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var f DeliveryFailure
		if err := rows.Scan(&f.UpdateID, &f.ContactID, &f.ConversationID, &f.Channel, &f.State, &f.Error); err != nil {
			return nil, err
		}
		st.Failures = append(st.Failures, f)
	}
	return st, rows.Err()
}
