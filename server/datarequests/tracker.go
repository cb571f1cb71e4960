package datarequests

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"kibo/connectors"
	"kibo/server/alerts"
	"kibo/server/gdpr"
	"kibo/server/words"
	"kibo/store"
)

// Events are the agents' real-time events the follow-up sends (server/events).
type Events interface {
	DataRequestUpdated(dr *store.DataRequest)
	NotificationCreated(to []*store.Agent, kind, text, link string)
}

// Deps are what a Tracker works with.
type Deps struct {
	Store  *store.Store
	Events Events
	// Channels say which channels' subjects the customer wrote (detection reads them).
	Channels *connectors.Registry
	// WakeOutbox makes the outbox send the alert e-mails just queued.
	WakeOutbox func()
	// PublicURL is how browsers reach Kibo, for the link in alert e-mails.
	PublicURL string
	Now       func() time.Time
	Log       *slog.Logger
}

// Tracker follows data requests up: detection on inbound messages, deadline alerts.
type Tracker struct{ Deps }

// New makes a Tracker.
func New(d Deps) *Tracker { return &Tracker{d} }

// ---- detection

// Detect suggests a data request when an inbound message looks like one. It costs no
// statement unless the detector fires, and run again on the same message it suggests
// nothing new (the store keeps one suggestion per message).
func (t *Tracker) Detect(ctx context.Context, conv *store.Conversation, msg *store.Message) error {
	if msg.Direction != "in" || msg.Auto || msg.Private {
		return nil
	}
	subject := ""
	if ch, ok := t.Channels.Lookup(conv.Channel); ok && ch.Subjects {
		subject = conv.Subject // elsewhere the subject is the first message's opening words
	}
	sug, ok := gdpr.Detect(subject, msg.Text)
	if !ok {
		return nil
	}
	p, err := LoadPolicy(ctx, t.Store)
	if err != nil {
		return fmt.Errorf("data request detection: settings: %w", err)
	}
	// The legal clock starts when the message was received, not when an agent confirms.
	received := msg.CreatedAt
	dr, created, err := t.Store.SuggestDataRequest(ctx, store.NewDataRequest{
		ConversationID: conv.ID, MessageID: msg.ID, Type: sug.Type, ReceivedAt: received,
		DueAt: gdpr.DueDate(received, p.Rule, p.Loc), DueRule: string(p.Rule),
		Confidence: sug.Confidence, Lang: sug.Lang, Evidence: sug.Evidence,
		Change: fmt.Sprintf("suggested by Kibo (%s, %.0f%% sure) from message %d", sug.Type, sug.Confidence*100, msg.ID),
	})
	if errors.Is(err, store.ErrNotFound) {
		return nil // the conversation was deleted since
	}
	if err != nil {
		return fmt.Errorf("data request detection: store: %w", err)
	}
	if created {
		t.Events.DataRequestUpdated(p.WithDaysLeft(dr, t.Now()))
	}
	return nil
}

// ---- deadline alerts
//
// 7, 3 and 1 day before the due date and once overdue, an in-app notice and an e-mail
// (through the outbox) to the assignee, or to every admin while nobody has it. Each
// mark is recorded on the request in the same transaction as its notices and e-mails,
// so a tick, a restart or a crash in between never sends one twice. An extended
// request starts a second round of marks against its new date ("ext-7d", ...).
// Suggested requests are included: the legal clock runs from receipt, and a
// suggestion nobody looked at must not run out quietly.

// alertEvery is how often Run looks; the marks are days apart.
const alertEvery = time.Minute

// Run sends due alerts at start and then on every tick until ctx ends.
func (t *Tracker) Run(ctx context.Context) {
	tick := time.NewTicker(alertEvery)
	defer tick.Stop()
	for {
		if _, err := t.SendAlerts(ctx); err != nil && ctx.Err() == nil {
			t.Log.Warn("data request alerts", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// SendAlerts sends every alert due at the clock and reports how many marks it
// recorded.
func (t *Tracker) SendAlerts(ctx context.Context) (int, error) {
	now := t.Now()
	list, err := t.Store.AlertingDataRequests(ctx)
	if err != nil || len(list) == 0 {
		return 0, err
	}
	p, err := LoadPolicy(ctx, t.Store)
	if err != nil {
		return 0, err
	}
	admins, byID, err := alerts.Recipients(ctx, t.Store)
	if err != nil {
		return 0, err
	}
	sent := 0
	for _, dr := range list {
		prefix := ""
		if dr.ExtendedDueAt != nil {
			prefix = "ext-"
		}
		var done []string
		for _, m := range dr.AlertsSent {
			if rest, ok := strings.CutPrefix(m, prefix); ok && (prefix != "" || !strings.HasPrefix(m, "ext-")) {
				done = append(done, rest)
			}
		}
		to := admins
		if dr.AssigneeID != nil && byID[*dr.AssigneeID] != nil {
			to = []*store.Agent{byID[*dr.AssigneeID]}
		}
		for _, m := range gdpr.AlertsDue(dr.EffectiveDueAt, now, done) {
			ok, err := t.sendAlert(ctx, dr, prefix+m, m, to, now, p)
			if err != nil {
				return sent, err
			}
			if ok {
				sent++
			}
		}
	}
	return sent, nil
}

func (t *Tracker) sendAlert(ctx context.Context, dr *store.DataRequest, mark, kind string, to []*store.Agent, now time.Time, p Policy) (bool, error) {
	subject, text := alertText(dr, kind, now, p)
	link := fmt.Sprintf("/data-requests#dr-%d", dr.ID)
	var notes []store.NewNotification
	var mails []store.OutboxItem
	for _, a := range to {
		notes = append(notes, store.NewNotification{AgentID: a.ID, Kind: "data_request", Text: text, Link: link,
			DedupeKey: fmt.Sprintf("dr:%d:%s:%d", dr.ID, mark, a.ID)})
		if a.Email != "" {
			mails = append(mails, store.OutboxItem{Kind: "alert", DedupeKey: fmt.Sprintf("dr-mail:%d:%s:%d", dr.ID, mark, a.ID),
				Payload: alerts.Mail{To: a.Email, Subject: subject, Text: text + "\n\n" + words.Link(t.PublicURL, link)}})
		}
	}
	ok, err := t.Store.RecordDataRequestAlert(ctx, dr.ID, mark, notes, mails)
	if err != nil || !ok {
		return false, err
	}
	if len(to) > 0 {
		t.Events.NotificationCreated(to, "data_request", text, link)
	}
	if len(mails) > 0 {
		t.WakeOutbox()
	}
	return true, nil
}

// alertText says what is due when, without any of the customer's data (the text
// goes into notices and e-mails that an erasure does not reach).
func alertText(dr *store.DataRequest, kind string, now time.Time, p Policy) (subject, text string) {
	what := fmt.Sprintf("Data request %d (%s", dr.ID, dr.Type)
	if dr.ConversationNumber != 0 {
		what += fmt.Sprintf(", conversation #%d", dr.ConversationNumber)
	}
	what += ")"
	if dr.Status == "suggested" {
		what = "Suggested d" + what[1:] + ", not yet confirmed,"
	}
	due := p.Date(dr.EffectiveDueAt)
	if kind == gdpr.AlertOverdue {
		subject = fmt.Sprintf("Overdue: data request %d", dr.ID)
		return subject, fmt.Sprintf("%s is overdue: it was due by the end of %s.", what, due)
	}
	days := gdpr.DaysLeft(dr.EffectiveDueAt, now, p.Loc)
	left := "today"
	switch {
	case days == 1:
		left = "tomorrow"
	case days > 1:
		left = fmt.Sprintf("in %d days", days)
	}
	subject = fmt.Sprintf("Data request %d is due %s", dr.ID, left)
	return subject, fmt.Sprintf("%s is due %s: by the end of %s.", what, left, due)
}
