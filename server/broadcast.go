package server

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"kibo/connectors/messenger"
	"kibo/store"
)

// opsState is the server's side of incidents, SLAs and alerts: the open incidents the
// widget and the auto-reply read without asking the store, and the state of the
// background workers (fan-out, SLA sweep, alerts).
type opsState struct {
	fanoutKick chan struct{}
	alertKick  chan struct{}

	// webhookMu lets one sender at a time post alerts (the store's claim guards
	// against other processes)
	webhookMu sync.Mutex

	mu   sync.Mutex
	open []*store.Incident // unresolved incidents, newest first
	// lastSweep bounds the search for SLA targets met late.
	lastSweep time.Time
	// channelDown is when each inbox was first seen failing.
	channelDown map[int64]time.Time
	// shown is what the widgets were last told (incident, state, phase), so a
	// maintenance window that opens or closes is announced without anyone acting.
	shown string
	// spikeBase caches the usual volume per 10 minutes for an hour of the day.
	spikeBaseKey string
	spikeBase    float64
}

func newOps() *opsState {
	return &opsState{
		fanoutKick: make(chan struct{}, 1), alertKick: make(chan struct{}, 1),
		channelDown: map[int64]time.Time{},
	}
}

func kick(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// opsInterval is how often the SLA sweep and the alert checks run.
const opsInterval = 30 * time.Second

// startOps runs the workers: the fan-out of incident updates (taking up what a restart
// interrupted), and the SLA and alert checks.
func (s *Server) startOps(ctx context.Context) {
	s.loadIncidents(ctx)
	s.bg.Add(2)
	go func() { defer s.bg.Done(); s.fanoutLoop(ctx) }()
	go func() { defer s.bg.Done(); s.opsLoop(ctx) }()
}

// ---- the open incidents

// refreshIncidents reloads the unresolved incidents after a change.
func (s *Server) refreshIncidents(ctx context.Context) {
	open, err := s.store.Incidents(ctx, store.IncidentFilter{Open: true, Limit: 50})
	if err != nil {
		s.log.Warn("load open incidents", "err", err)
		return
	}
	s.ops.mu.Lock()
	s.ops.open = open
	s.ops.mu.Unlock()
}

// loadIncidents reads the open incidents at start, so the first widget's welcome
// carries them and the periodic check has something to compare with.
func (s *Server) loadIncidents(ctx context.Context) {
	s.refreshIncidents(ctx)
	key := s.shownKey()
	s.ops.mu.Lock()
	s.ops.shown = key
	s.ops.mu.Unlock()
}

// currentIncident is the incident customers should see now: the worst active one
// (an outage before a degradation before maintenance), else the next planned
// maintenance; nil when all is well.
func (s *Server) currentIncident() *store.Incident {
	now := s.cfg.Now()
	s.ops.mu.Lock()
	open := s.ops.open
	s.ops.mu.Unlock()
	var active, upcoming []*store.Incident
	for _, inc := range open {
		switch inc.PhaseAt(now) {
		case "active":
			active = append(active, inc)
		case "upcoming":
			upcoming = append(upcoming, inc)
		}
	}
	weight := func(i *store.Incident) int {
		switch {
		case i.State == "scheduled":
			return 0
		case i.Impact == "outage":
			return 2
		}
		return 1
	}
	if len(active) > 0 {
		sort.SliceStable(active, func(a, b int) bool {
			if wa, wb := weight(active[a]), weight(active[b]); wa != wb {
				return wa > wb
			}
			return active[a].CreatedAt.After(active[b].CreatedAt)
		})
		return active[0]
	}
	if len(upcoming) > 0 {
		sort.SliceStable(upcoming, func(a, b int) bool { return upcoming[a].StartedAt().Before(upcoming[b].StartedAt()) })
		return upcoming[0]
	}
	return nil
}

// activeIncident is the incident new tickets are answered with (not planned work
// that has not begun).
func (s *Server) activeIncident() *store.Incident {
	if inc := s.currentIncident(); inc != nil && inc.PhaseAt(s.cfg.Now()) == "active" {
		return inc
	}
	return nil
}

// publicIncident is what the widget, the status JSON and customers may see of an
// incident: no audience, no delivery figures.
func (s *Server) publicIncident(inc *store.Incident) map[string]any {
	updates := make([]map[string]any, 0, len(inc.Updates))
	for _, u := range inc.Updates {
		updates = append(updates, map[string]any{"id": u.ID, "text": u.Text, "state": u.State, "eta": u.ETA, "created_at": u.CreatedAt})
	}
	return map[string]any{
		"id": inc.ID, "title": inc.Title, "state": inc.State, "impact": inc.Impact, "phase": inc.PhaseAt(s.cfg.Now()),
		"message": inc.Message, "eta": inc.ETA, "services": inc.Services,
		"started_at": inc.StartedAt(), "updated_at": inc.UpdatedAt, "resolved_at": inc.ResolvedAt,
		"scheduled_start": inc.ScheduledStart, "scheduled_end": inc.ScheduledEnd,
		"updates": updates, "status_url": s.publicURL("/status"),
	}
}

// widgetIncident is the welcome frame's incident: the current one, or nil.
func (s *Server) widgetIncident() any {
	inc := s.currentIncident()
	if inc == nil {
		return nil
	}
	p := s.publicIncident(inc)
	delete(p, "updates") // the widget shows the latest message only
	return p
}

// publicURL is an absolute URL when the public address is configured, else the path.
func (s *Server) publicURL(path string) string {
	if s.cfg.PublicURL != "" {
		return strings.TrimRight(s.cfg.PublicURL, "/") + path
	}
	return path
}

// ---- declaration and updates

// afterIncidentChange tells everyone about a declaration or an update: the open
// widgets at once, the agents' pages, and the audience on their own channels through
// the fan-out worker.
func (s *Server) afterIncidentChange(ctx context.Context, inc *store.Incident, upd *store.IncidentUpdate) {
	s.refreshIncidents(ctx)
	var shown any
	if cur := s.currentIncident(); cur != nil {
		shown = s.widgetIncident()
	} else if inc.PhaseAt(s.cfg.Now()) == "past" {
		// the banner turns to "resolved" rather than vanishing unexplained
		p := s.publicIncident(inc)
		delete(p, "updates")
		shown = p
	}
	key := s.shownKey()
	s.ops.mu.Lock()
	s.ops.shown = key
	s.ops.mu.Unlock()
	n := s.chat.Broadcast(map[string]any{"type": "incident", "incident": shown})
	if n > 0 {
		if err := s.store.SetWidgetsReached(ctx, upd.ID, n); err != nil {
			s.log.Warn("record widgets reached", "update", upd.ID, "err", err)
		}
	}
	s.publishIncident(ctx, inc.ID)
	kick(s.ops.fanoutKick)
}

// shownKey names what the widgets should show now.
func (s *Server) shownKey() string {
	inc := s.currentIncident()
	if inc == nil {
		return ""
	}
	return fmt.Sprintf("%d:%s:%s", inc.ID, inc.State, inc.PhaseAt(s.cfg.Now()))
}

// announceTimeChanges tells the open widgets when the clock alone changed what they
// should show: planned maintenance that began or ended.
func (s *Server) announceTimeChanges() {
	key := s.shownKey()
	s.ops.mu.Lock()
	changed := key != s.ops.shown
	s.ops.shown = key
	s.ops.mu.Unlock()
	if changed {
		s.chat.Broadcast(map[string]any{"type": "incident", "incident": s.widgetIncident()})
	}
}

func (s *Server) publishIncident(ctx context.Context, id int64) {
	inc, err := s.store.Incident(ctx, id)
	if err != nil {
		s.log.Warn("load incident for event", "id", id, "err", err)
		return
	}
	s.hub.Publish(map[string]any{"type": "incident.updated", "incident": inc})
}

// ---- fan-out to the audience

// Broadcast pacing per channel: the outbox sends a broadcast's messages no faster than
// this, so a large audience neither trips the platform's limits nor delays the agents'
// own replies (which are due at once and so go first).
var broadcastInterval = map[string]time.Duration{
	"email":     100 * time.Millisecond, // 10 a second
	"messenger": 50 * time.Millisecond,  // 20 a second
	"x":         time.Second,            // DMs are tightly limited
}

const fanoutPage = 200

func (s *Server) fanoutLoop(ctx context.Context) {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		jobs, err := s.store.PendingFanouts(ctx)
		if err != nil && ctx.Err() == nil {
			s.log.Warn("pending incident fan-outs", "err", err)
		}
		for _, j := range jobs {
			if ctx.Err() != nil {
				return
			}
			if err := s.fanout(ctx, j); err != nil && ctx.Err() == nil {
				s.log.Warn("incident fan-out", "incident", j.IncidentID, "update", j.UpdateID, "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.ops.fanoutKick:
		}
	}
}

// fanout posts one update to every contact of the incident's audience who has a
// conversation on a channel other than the chat, as a system message on their latest
// such conversation, queued for the outbox. It may be run again at any point (after a
// crash): contacts already done are skipped by their dedupe key.
func (s *Server) fanout(ctx context.Context, j store.FanoutJob) error {
	inc, err := s.store.Incident(ctx, j.IncidentID)
	if err != nil {
		return err
	}
	var upd *store.IncidentUpdate
	for _, u := range inc.Updates {
		if u.ID == j.UpdateID {
			upd = u
		}
	}
	if upd == nil {
		return s.store.FinishFanout(ctx, j.UpdateID)
	}
	author := s.store.CompanyName(ctx)
	text := s.broadcastText(ctx, inc, upd)
	addresses := map[int64]string{}
	next := map[string]time.Time{}
	now := s.cfg.Now()
	var after int64
	for {
		members, err := s.store.Audience(ctx, inc.Audience, j.CreatedAt, after, fanoutPage)
		if err != nil {
			return err
		}
		batch := make([]store.IncidentMessage, 0, len(members))
		for _, m := range members {
			after = m.ContactID
			im := store.IncidentMessage{
				Kind: "broadcast", IncidentID: inc.ID, UpdateID: upd.ID, ContactID: m.ContactID, ConversationID: m.ConversationID,
				Channel: m.Channel, DedupeKey: fmt.Sprintf("incident:%d:%d:%d", inc.ID, upd.ID, m.ContactID),
				AuthorName: author, Text: text, Queue: true,
			}
			if m.Channel == "messenger" {
				var last time.Time
				if m.LastCustomerMessageAt != nil {
					last = *m.LastCustomerMessageAt
				}
				if messenger.ReplyWindow(last, now) != messenger.WindowOpen {
					im.Skip = "Messenger takes no message: the customer last wrote more than 24 hours ago"
				}
			}
			if m.Channel == "email" && im.Skip == "" {
				addr, ok := addresses[m.InboxID]
				if !ok {
					addr = s.inboxAddress(ctx, m.InboxID)
					addresses[m.InboxID] = addr
				}
				im.ExternalID = newMessageID(addr)
			}
			if im.Skip == "" {
				at, ok := next[m.Channel]
				if !ok || at.Before(now) {
					at = now
				}
				im.NotBefore = at
				next[m.Channel] = at.Add(broadcastInterval[m.Channel])
			}
			batch = append(batch, im)
		}
		if len(batch) > 0 {
			if _, err := s.store.AddIncidentMessages(ctx, batch); err != nil {
				return err
			}
			s.outbox.wake()
		}
		if len(members) < fanoutPage {
			break
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	if err := s.store.FinishFanout(ctx, upd.ID); err != nil {
		return err
	}
	s.publishIncident(ctx, inc.ID)
	return nil
}

var stateWords = map[string]string{
	"investigating": "Investigating", "identified": "Cause identified", "monitoring": "Fix deployed, monitoring",
	"resolved": "Resolved", "scheduled": "Planned maintenance",
}

// formatWhen writes a time for customers, in the business time zone.
func (s *Server) formatWhen(ctx context.Context, t time.Time) string {
	return formatWhenIn(t, s.store.BusinessLocation(ctx))
}

func formatWhenIn(t time.Time, loc *time.Location) string {
	return t.In(loc).Format("Mon 2 Jan 15:04 MST")
}

// broadcastText is the message an update sends to customers.
func (s *Server) broadcastText(ctx context.Context, inc *store.Incident, upd *store.IncidentUpdate) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s\n\n%s\n", stateWords[upd.State], inc.Title, upd.Text)
	if inc.State == "scheduled" && inc.ScheduledStart != nil && inc.ScheduledEnd != nil {
		fmt.Fprintf(&b, "\nWhen: %s until %s\n", s.formatWhen(ctx, *inc.ScheduledStart), s.formatWhen(ctx, *inc.ScheduledEnd))
	} else if upd.ETA != nil && upd.State != "resolved" {
		fmt.Fprintf(&b, "\nWe expect it to be resolved by %s.\n", s.formatWhen(ctx, *upd.ETA))
	}
	if s.cfg.PublicURL != "" {
		fmt.Fprintf(&b, "\nLive status: %s\n", s.publicURL("/status"))
	}
	return strings.TrimSpace(b.String())
}

// ---- the auto-reply to new tickets

// autoReplyText answers a new ticket while an incident is open.
func (s *Server) autoReplyText(ctx context.Context, inc *store.Incident) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Thank you for writing. We are aware of an ongoing issue: %s (%s).\n\n%s\n", inc.Title, strings.ToLower(stateWords[inc.State]), inc.Message)
	switch {
	case inc.State == "scheduled" && inc.ScheduledEnd != nil:
		fmt.Fprintf(&b, "\nThe maintenance should be over by %s.\n", s.formatWhen(ctx, *inc.ScheduledEnd))
	case inc.ETA != nil:
		fmt.Fprintf(&b, "\nWe expect it to be resolved by %s.\n", s.formatWhen(ctx, *inc.ETA))
	}
	b.WriteString("\nIf your message is about this, there is no need to write again: we will keep you posted. Otherwise we will answer you as soon as we can.")
	if s.cfg.PublicURL != "" {
		fmt.Fprintf(&b, "\nLive status: %s", s.publicURL("/status"))
	}
	return b.String()
}

// incidentAfterIngest answers a new ticket during an incident, once per contact and
// incident, and tags the conversation with the incident so the inbox can group them.
func (s *Server) incidentAfterIngest(ctx context.Context, work store.Followup, conv *store.Conversation, msg *store.Message) error {
	if !work.NewConversation || msg.Direction != "in" {
		return nil
	}
	inc := s.activeIncident()
	// the hook runs after the commit, in batches: a ticket opened just before the
	// declaration is not one that arrived during the incident
	if inc == nil || conv.CreatedAt.Before(inc.StartedAt()) {
		return nil
	}
	if err := s.store.TagConversation(ctx, conv.ID, fmt.Sprintf("incident-%d", inc.ID)); err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("tag conversation %d with incident %d: %w", conv.ID, inc.ID, err)
	}
	if msg.Auto { // an out-of-office or a bounce is never answered automatically
		if c, err := s.store.Conversation(ctx, conv.ID, 0); err == nil {
			s.publishConversationValue(c)
		}
		return nil
	}
	im := store.IncidentMessage{
		Kind: "auto_reply", IncidentID: inc.ID, ContactID: conv.Contact.ID, ConversationID: conv.ID, Channel: conv.Channel,
		DedupeKey:  fmt.Sprintf("incident-auto:%d:%d", inc.ID, conv.Contact.ID),
		AuthorName: s.store.CompanyName(ctx), Text: s.autoReplyText(ctx, inc), Queue: conv.Channel != "chat", Bump: true,
	}
	if conv.Channel == "email" {
		im.ExternalID = newMessageID(s.inboxAddress(ctx, conv.InboxID))
	}
	msgs, err := s.store.AddIncidentMessages(ctx, []store.IncidentMessage{im})
	if errors.Is(err, store.ErrNotFound) {
		return nil // the conversation was deleted since
	}
	if err != nil {
		return fmt.Errorf("incident auto-reply to conversation %d: %w", conv.ID, err)
	}
	reply := msgs[0]
	if c, err := s.store.Conversation(ctx, conv.ID, 0); err == nil {
		conv = c
	}
	if reply == nil {
		s.publishConversationValue(conv) // the tag, or an auto-reply sent before a crash
		return nil
	}
	if im.Queue {
		s.outbox.wake()
	} else {
		s.pushWhenJoined(conv.ID, map[string]any{
			"type": "message", "id": reply.ID, "author": map[string]any{"kind": "system", "name": reply.Author.Name},
			"text": reply.Text, "created_at": reply.CreatedAt,
		})
	}
	s.publishMessage(conv, reply)
	return nil
}

// pushWhenJoined sends a frame to a chat conversation's widgets once the visitor's
// socket has joined it: a visitor's first message creates the conversation, and the
// socket joins it only when the message is stored (the reply is in the store either
// way, so a visitor who left sees it on the next visit).
func (s *Server) pushWhenJoined(convID int64, frame map[string]any) {
	go func() {
		deadline := time.Now().Add(5 * time.Second)
		for !s.chat.Online(convID) {
			if time.Now().After(deadline) {
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
		s.chat.Push(convID, frame)
	}()
}
