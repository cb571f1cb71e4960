// Package incidents tells customers and agents about outages and planned maintenance:
// the open widgets at once, the agents' pages, every contact of an incident's audience
// on their own channel (the fan-out, through the outbox), and each new ticket while an
// incident lasts (the auto-reply, a follow-up step of inbound messages).
//
// A Broadcaster keeps the unresolved incidents in memory, so the widget's welcome and
// the auto-reply never ask the store which incident is on. The HTTP handlers (server)
// call it after each declaration or update; server's periodic work calls Refresh and
// AnnounceTimeChanges.
package incidents

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"kibo/connectors"
	"kibo/server/words"
	"kibo/store"
)

// Events are the agents' real-time events an incident sends (server/events).
type Events interface {
	MessageCreated(conv *store.Conversation, msg *store.Message)
	ConversationUpdated(conv *store.Conversation)
	IncidentUpdated(inc *store.Incident)
}

// Widgets are the open chat widgets (connectors/chat).
type Widgets interface {
	// Broadcast sends a frame to every open widget and says how many it reached.
	Broadcast(frame map[string]any) int
	// Push sends a frame to the widgets open on a conversation.
	Push(conversationID int64, frame map[string]any)
	// Online tells whether a widget has joined the conversation.
	Online(conversationID int64) bool
}

// Deps are what a Broadcaster works with.
type Deps struct {
	Store   *store.Store
	Events  Events
	Widgets Widgets
	// WakeOutbox makes the outbox send what was just queued.
	WakeOutbox func()
	// Channels say what a message Kibo sends by itself may do on each channel (its
	// window, an id made before it is stored, sent directly or through the outbox, and
	// the pace of a broadcast), as they say it for an agent's reply.
	Channels *connectors.Registry
	// InboxSettings are an inbox's settings as its channel reads them (an e-mail's
	// Message-ID is made from its address).
	InboxSettings func(ctx context.Context, inboxID int64) connectors.Settings
	// PublicURL is how browsers reach Kibo; empty when unknown (the notices then
	// carry no link to the status page).
	PublicURL string
	Now       func() time.Time
	Log       *slog.Logger
}

// Broadcaster keeps the open incidents and tells everyone about them.
type Broadcaster struct {
	Deps
	fanoutKick chan struct{}

	mu   sync.Mutex
	open []*store.Incident // unresolved incidents, newest first
	// shown is what the widgets were last told (incident, state, phase), so a
	// maintenance window that opens or closes is announced without anyone acting.
	shown string
}

// New makes a Broadcaster; Load fills it before the first widget's welcome.
func New(d Deps) *Broadcaster {
	return &Broadcaster{Deps: d, fanoutKick: make(chan struct{}, 1)}
}

// ---- the open incidents

// Refresh reloads the unresolved incidents after a change.
func (b *Broadcaster) Refresh(ctx context.Context) {
	open, err := b.Store.Incidents(ctx, store.IncidentFilter{Open: true, Limit: 50})
	if err != nil {
		b.Log.Warn("load open incidents", "err", err)
		return
	}
	b.mu.Lock()
	b.open = open
	b.mu.Unlock()
}

// Load reads the open incidents at start, so the first widget's welcome carries them
// and the periodic check has something to compare with.
func (b *Broadcaster) Load(ctx context.Context) {
	b.Refresh(ctx)
	key := b.shownKey()
	b.mu.Lock()
	b.shown = key
	b.mu.Unlock()
}

// Current is the incident customers should see now: the worst active one (an outage
// before a degradation before maintenance), else the next planned maintenance; nil
// when all is well.
func (b *Broadcaster) Current() *store.Incident {
	now := b.Now()
	b.mu.Lock()
	open := b.open
	b.mu.Unlock()
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

// Active is the incident new tickets are answered with (not planned work that has not
// begun).
func (b *Broadcaster) Active() *store.Incident {
	if inc := b.Current(); inc != nil && inc.PhaseAt(b.Now()) == "active" {
		return inc
	}
	return nil
}

// Public is what the widget, the status JSON and customers may see of an incident:
// no audience, no delivery figures.
func (b *Broadcaster) Public(inc *store.Incident) map[string]any {
	updates := make([]map[string]any, 0, len(inc.Updates))
	for _, u := range inc.Updates {
		updates = append(updates, map[string]any{"id": u.ID, "text": u.Text, "state": u.State, "eta": u.ETA, "created_at": u.CreatedAt})
	}
	return map[string]any{
		"id": inc.ID, "title": inc.Title, "state": inc.State, "impact": inc.Impact, "phase": inc.PhaseAt(b.Now()),
		"message": inc.Message, "eta": inc.ETA, "services": inc.Services,
		"started_at": inc.StartedAt(), "updated_at": inc.UpdatedAt, "resolved_at": inc.ResolvedAt,
		"scheduled_start": inc.ScheduledStart, "scheduled_end": inc.ScheduledEnd,
		"updates": updates, "status_url": words.Link(b.PublicURL, "/status"),
	}
}

// Widget is the welcome frame's incident: the current one, or nil.
func (b *Broadcaster) Widget() any {
	inc := b.Current()
	if inc == nil {
		return nil
	}
	p := b.Public(inc)
	delete(p, "updates") // the widget shows the latest message only
	return p
}

// ---- declaration and updates

// Changed tells everyone about a declaration or an update: the open widgets at once,
// the agents' pages, and the audience on their own channels through the fan-out.
func (b *Broadcaster) Changed(ctx context.Context, inc *store.Incident, upd *store.IncidentUpdate) {
	b.Refresh(ctx)
	var shown any
	if cur := b.Current(); cur != nil {
		shown = b.Widget()
	} else if inc.PhaseAt(b.Now()) == "past" {
		// the banner turns to "resolved" rather than vanishing unexplained
		p := b.Public(inc)
		delete(p, "updates")
		shown = p
	}
	key := b.shownKey()
	b.mu.Lock()
	b.shown = key
	b.mu.Unlock()
	n := b.Widgets.Broadcast(map[string]any{"type": "incident", "incident": shown})
	if n > 0 {
		if err := b.Store.SetWidgetsReached(ctx, upd.ID, n); err != nil {
			b.Log.Warn("record widgets reached", "update", upd.ID, "err", err)
		}
	}
	b.publish(ctx, inc.ID)
	select {
	case b.fanoutKick <- struct{}{}:
	default:
	}
}

// shownKey names what the widgets should show now.
func (b *Broadcaster) shownKey() string {
	inc := b.Current()
	if inc == nil {
		return ""
	}
	return fmt.Sprintf("%d:%s:%s", inc.ID, inc.State, inc.PhaseAt(b.Now()))
}

// AnnounceTimeChanges tells the open widgets when the clock alone changed what they
// should show: planned maintenance that began or ended.
func (b *Broadcaster) AnnounceTimeChanges() {
	key := b.shownKey()
	b.mu.Lock()
	changed := key != b.shown
	b.shown = key
	b.mu.Unlock()
	if changed {
		b.Widgets.Broadcast(map[string]any{"type": "incident", "incident": b.Widget()})
	}
}

// publish tells the agents' pages about an incident as it now is.
func (b *Broadcaster) publish(ctx context.Context, id int64) {
	inc, err := b.Store.Incident(ctx, id)
	if err != nil {
		b.Log.Warn("load incident for event", "id", id, "err", err)
		return
	}
	b.Events.IncidentUpdated(inc)
}

// StateWords name an incident's states for customers.
var StateWords = map[string]string{
	"investigating": "Investigating", "identified": "Cause identified", "monitoring": "Fix deployed, monitoring",
	"resolved": "Resolved", "scheduled": "Planned maintenance",
}

// when writes a time for customers, in the business time zone.
func (b *Broadcaster) when(ctx context.Context, t time.Time) string {
	return words.When(t, b.Store.BusinessLocation(ctx))
}
