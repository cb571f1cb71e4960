// Package alerts tells the team what needs them now, once each: an in-app
// notification, an e-mail (through the outbox), and a POST to the team's webhook
// (setting alert_webhook_url) so it can land in their chat tool. The alert_log table
// keeps every alert by its dedupe key, so a tick, a restart or a second node cannot
// send one twice.
//
// The checks (SLA warnings and breaches, a volume spike, a channel down, the daily
// summary) run on server's periodic tick; anything else that must alert the team (a
// quarantined mail, a data request's deadline) raises its alert through the same
// pieces: Raise, or Recipients, Mail and the notification event.
package alerts

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"kibo/connectors"
	"kibo/connectors/email"
	"kibo/connectors/netguard"
	"kibo/server/words"
	"kibo/store"
)

// Events are the agents' real-time events alerts send (server/events).
type Events interface {
	NotificationCreated(to []*store.Agent, kind, text, link string)
	ConversationChanged(ctx context.Context, id int64)
}

// Deps are what the team's alerts work with.
type Deps struct {
	Store  *store.Store
	Events Events
	// WakeOutbox makes the outbox send the e-mails just queued.
	WakeOutbox func()
	// Hosts is the policy for the webhook URL an admin types (netguard).
	Hosts netguard.Policy
	// Channels say which inboxes connect to anything that can fail (a channel Kibo
	// hosts itself, the chat, has no connection to go down).
	Channels *connectors.Registry
	// PublicURL is how browsers reach Kibo, for the links in e-mails and webhooks.
	PublicURL string
	Now       func() time.Time
	Log       *slog.Logger
}

// Team raises alerts to the team and runs the checks that raise them.
type Team struct {
	Deps
	// kicked is signalled when an alert is raised: its webhook is due
	kicked chan struct{}
	// webhookMu lets one sender at a time post alerts (the store's claim guards
	// against other processes)
	webhookMu sync.Mutex

	mu sync.Mutex
	// lastSweep bounds the search for SLA targets met late.
	lastSweep time.Time
	// channelDown is when each inbox was first seen failing.
	channelDown map[int64]time.Time
	// spikeBase caches the usual volume per 10 minutes for an hour of the day.
	spikeBaseKey string
	spikeBase    float64
}

// New makes the team's alerts.
func New(d Deps) *Team {
	return &Team{Deps: d, kicked: make(chan struct{}, 1), channelDown: map[int64]time.Time{}}
}

// Raised is signalled when an alert was raised since the last receive: its webhook is
// due (SendWebhooks).
func (t *Team) Raised() <-chan struct{} { return t.kicked }

// Mail is the outbox payload of an e-mail to an agent (outbox kind "alert"): it
// carries its own address, subject and text instead of a message.
type Mail struct {
	To      string `json:"to,omitempty"`
	Subject string `json:"subject,omitempty"`
	Text    string `json:"text,omitempty"`
}

// Raise records and sends one alert to agents, unless its key was raised before.
func (t *Team) Raise(ctx context.Context, kind, key, subject, text, link string, to []*store.Agent) (bool, error) {
	settings, err := t.Store.Settings(ctx, "alert_webhook_url")
	if err != nil {
		return false, err
	}
	canMail := t.hasEmailInbox(ctx)
	var notes []store.NewNotification
	var mails []store.OutboxItem
	for _, a := range to {
		notes = append(notes, store.NewNotification{AgentID: a.ID, Kind: kind, Text: text, Link: link, DedupeKey: fmt.Sprintf("%s:%d", key, a.ID)})
		if canMail && a.Email != "" {
			body := text
			if link != "" {
				body += "\n\n" + words.Link(t.PublicURL, link)
			}
			mails = append(mails, store.OutboxItem{Kind: "alert", DedupeKey: fmt.Sprintf("alert:%s:%d", key, a.ID),
				Payload: Mail{To: a.Email, Subject: subject, Text: body + "\n\n-- \nKibo"}})
		}
	}
	raised, err := t.Store.RaiseTeamAlert(ctx, store.TeamAlert{DedupeKey: key, Kind: kind, Text: text, Link: link, Webhook: settings["alert_webhook_url"] != ""}, notes, mails)
	if err != nil || !raised {
		return raised, err
	}
	t.Events.NotificationCreated(to, kind, text, link)
	if len(mails) > 0 {
		t.WakeOutbox()
	}
	select {
	case t.kicked <- struct{}{}:
	default:
	}
	return true, nil
}

func (t *Team) hasEmailInbox(ctx context.Context) bool {
	inboxes, err := t.Store.Inboxes(ctx)
	if err != nil {
		return false
	}
	for _, in := range inboxes {
		if in.Kind == email.Kind { // alerts go out as e-mail, from an e-mail inbox
			return true
		}
	}
	return false
}

// Recipients are the active agents by id, and the active admins among them: who
// hears of an alert when nobody in particular has the matter.
func Recipients(ctx context.Context, st *store.Store) (admins []*store.Agent, byID map[int64]*store.Agent, err error) {
	all, err := st.Agents(ctx)
	if err != nil {
		return nil, nil, err
	}
	byID = map[int64]*store.Agent{}
	for _, a := range all {
		if a.DisabledAt != nil {
			continue
		}
		byID[a.ID] = a
		if a.IsAdmin() {
			admins = append(admins, a)
		}
	}
	return admins, byID, nil
}
