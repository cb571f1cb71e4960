package incidents

import (
	"context"
	"fmt"
	"strings"
	"time"

	"kibo/connectors"
	"kibo/server/words"
	"kibo/store"
)

const fanoutPage = 200

// RunFanout posts each update to its audience, at start (taking up what a restart
// interrupted), after each declaration or update, and every minute, until ctx ends.
func (b *Broadcaster) RunFanout(ctx context.Context) {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		jobs, err := b.Store.PendingFanouts(ctx)
		if err != nil && ctx.Err() == nil {
			b.Log.Warn("pending incident fan-outs", "err", err)
		}
		for _, j := range jobs {
			if ctx.Err() != nil {
				return
			}
			if err := b.Fanout(ctx, j); err != nil && ctx.Err() == nil {
				b.Log.Warn("incident fan-out", "incident", j.IncidentID, "update", j.UpdateID, "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-b.fanoutKick:
		}
	}
}

// Fanout posts one update to every contact of the incident's audience who has a
// conversation on a channel other than the chat, as a system message on their latest
// such conversation, queued for the outbox. It may be run again at any point (after a
// crash): contacts already done are skipped by their dedupe key.
func (b *Broadcaster) Fanout(ctx context.Context, j store.FanoutJob) error {
	inc, err := b.Store.Incident(ctx, j.IncidentID)
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
		return b.Store.FinishFanout(ctx, j.UpdateID)
	}
	author := b.Store.CompanyName(ctx)
	text := b.broadcastText(ctx, inc, upd)
	settingsOf := map[int64]connectors.Settings{}
	next := map[string]time.Time{}
	now := b.Now()
	var after int64
	for {
		members, err := b.Store.Audience(ctx, inc.Audience, j.CreatedAt, b.Channels.Broadcasting(), after, fanoutPage)
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
			ch, ok := b.Channels.Lookup(m.Channel)
			if !ok {
				im.Skip = "this Kibo runs no " + m.Channel + " channel"
			} else {
				// the channel judges it as it judges an agent's reply: its window
				d := connectors.Draft{Now: now}
				if m.LastCustomerMessageAt != nil {
					d.LastInboundAt = *m.LastCustomerMessageAt
				}
				if err := ch.AcceptReply(d); err != nil {
					im.Skip = err.Error()
				}
			}
			if im.Skip == "" && ch.Replies.ExternalID != nil {
				settings, ok := settingsOf[m.InboxID]
				if !ok {
					settings = b.InboxSettings(ctx, m.InboxID)
					settingsOf[m.InboxID] = settings
				}
				im.ExternalID = ch.Replies.ExternalID(settings)
			}
			if im.Skip == "" {
				at, ok := next[m.Channel]
				if !ok || at.Before(now) {
					at = now
				}
				im.NotBefore = at
				next[m.Channel] = at.Add(ch.Broadcast)
			}
			batch = append(batch, im)
		}
		if len(batch) > 0 {
			if _, err := b.Store.AddIncidentMessages(ctx, batch); err != nil {
				return err
			}
			b.WakeOutbox()
		}
		if len(members) < fanoutPage {
			break
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	if err := b.Store.FinishFanout(ctx, upd.ID); err != nil {
		return err
	}
	b.publish(ctx, inc.ID)
	return nil
}

// broadcastText is the message an update sends to customers.
func (b *Broadcaster) broadcastText(ctx context.Context, inc *store.Incident, upd *store.IncidentUpdate) string {
	var s strings.Builder
	fmt.Fprintf(&s, "%s: %s\n\n%s\n", StateWords[upd.State], inc.Title, upd.Text)
	if inc.State == "scheduled" && inc.ScheduledStart != nil && inc.ScheduledEnd != nil {
		fmt.Fprintf(&s, "\nWhen: %s until %s\n", b.when(ctx, *inc.ScheduledStart), b.when(ctx, *inc.ScheduledEnd))
	} else if upd.ETA != nil && upd.State != "resolved" {
		fmt.Fprintf(&s, "\nWe expect it to be resolved by %s.\n", b.when(ctx, *upd.ETA))
	}
	if b.PublicURL != "" {
		fmt.Fprintf(&s, "\nLive status: %s\n", words.Link(b.PublicURL, "/status"))
	}
	return strings.TrimSpace(s.String())
}
