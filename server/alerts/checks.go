package alerts

import (
	"context"
	"fmt"
	"strings"
	"time"

	"kibo/server/words"
	"kibo/store"
)

// CheckEvery is how often the checks run (server's periodic work); the SLA check
// looks back one interval more than the last sweep, for targets met late.
const CheckEvery = 30 * time.Second

// Volume spike: the last spikeWindow far above the usual for that hour of the day over
// the last spikeHistoryDays days.
const (
	spikeWindow      = 10 * time.Minute
	spikeHistoryDays = 28
	spikeFactor      = 4.0
	// SpikeFloor is the fewest messages in the window that can be a spike.
	SpikeFloor = 20
	// ChannelGrace is how long a channel must fail before the team is told: one IMAP
	// hiccup is not an outage.
	ChannelGrace = 2 * time.Minute
)

// ---- SLA

var slaAlertWords = map[store.SLAAlertMark]struct{ target, what string }{
	store.SLAFirstResponseWarn:   {"first response", "is about to breach its first-response target"},
	store.SLAFirstResponseBreach: {"first response", "breached its first-response target"},
	store.SLAResolutionWarn:      {"resolution", "is about to breach its resolution target"},
	store.SLAResolutionBreach:    {"resolution", "breached its resolution target"},
}

// CheckSLA raises the SLA warnings and breaches that are due, each exactly once, to
// the assignee (or the admins when there is none).
func (t *Team) CheckSLA(ctx context.Context) {
	now := t.Now()
	t.mu.Lock()
	since := t.lastSweep
	t.mu.Unlock()
	if since.IsZero() {
		since = now.Add(-30 * 24 * time.Hour)
	}
	due, err := t.Store.SLAAlertsDue(ctx, now, since.Add(-CheckEvery), 500)
	if err != nil {
		if ctx.Err() == nil {
			t.Log.Warn("SLA alerts", "err", err)
		}
		return
	}
	t.mu.Lock()
	t.lastSweep = now
	t.mu.Unlock()
	if len(due) == 0 {
		return
	}
	admins, byID, err := Recipients(ctx, t.Store)
	if err != nil {
		t.Log.Warn("SLA alerts: agents", "err", err)
		return
	}
	loc := t.Store.BusinessLocation(ctx)
	for _, d := range due {
		to := admins
		if a := byID[d.AssigneeID]; a != nil {
			to = []*store.Agent{a}
		}
		w := slaAlertWords[d.Mark]
		kind := "sla_warning"
		if d.Mark == store.SLAFirstResponseBreach || d.Mark == store.SLAResolutionBreach {
			kind = "sla_breach"
		}
		text := fmt.Sprintf("Conversation #%d (%s) %s (due %s).", d.Number, d.Priority, w.what, words.When(d.DueAt, loc))
		subject := fmt.Sprintf("[Kibo] #%d %s", d.Number, w.what)
		key := fmt.Sprintf("sla:%d:%s", d.ConversationID, d.Mark)
		if _, err := t.Raise(ctx, kind, key, subject, text, fmt.Sprintf("/inbox#c/%d", d.ConversationID), to); err != nil {
			t.Log.Warn("raise SLA alert", "conversation", d.ConversationID, "err", err)
		}
		t.Events.ConversationChanged(ctx, d.ConversationID)
	}
}

// ---- volume spike

// CheckVolume alerts the admins, at most once an hour, when the last ten minutes
// brought far more messages than usual for that hour of the day.
func (t *Team) CheckVolume(ctx context.Context) {
	now := t.Now().UTC()
	hour := now.Truncate(time.Hour)
	key := "spike:" + hour.Format("2006-01-02T15")
	recent, err := t.Store.InboundCount(ctx, now.Add(-spikeWindow), now)
	if err != nil || recent < SpikeFloor {
		return
	}
	t.mu.Lock()
	cached, base := t.spikeBaseKey == key, t.spikeBase
	t.mu.Unlock()
	if !cached {
		windows := make([][2]time.Time, 0, spikeHistoryDays)
		for d := 1; d <= spikeHistoryDays; d++ {
			start := hour.AddDate(0, 0, -d)
			windows = append(windows, [2]time.Time{start, start.Add(time.Hour)})
		}
		total, err := t.Store.InboundCountWindows(ctx, windows)
		if err != nil {
			t.Log.Warn("volume baseline", "err", err)
			return
		}
		base = float64(total) / float64(spikeHistoryDays) / float64(time.Hour/spikeWindow)
		t.mu.Lock()
		t.spikeBaseKey, t.spikeBase = key, base
		t.mu.Unlock()
	}
	if float64(recent) < spikeFactor*base {
		return
	}
	admins, _, err := Recipients(ctx, t.Store)
	if err != nil {
		return
	}
	text := fmt.Sprintf("Inbound volume spike: %d messages in the last 10 minutes, against about %.1f usually at this hour.", recent, base)
	if _, err := t.Raise(ctx, "volume_spike", key, "[Kibo] Inbound volume spike", text, "/inbox", admins); err != nil {
		t.Log.Warn("raise spike alert", "err", err)
	}
}

// ---- channels

// CheckChannels alerts the admins when a channel has been failing for ChannelGrace
// (IMAP login refused, SMTP down, a platform refusing the token), once per outage:
// when it works again the alert is cleared and the next failure is a new one.
func (t *Team) CheckChannels(ctx context.Context) {
	now := t.Now()
	inboxes, err := t.Store.Inboxes(ctx)
	if err != nil {
		return
	}
	open, err := t.Store.OpenTeamAlerts(ctx, "channel_down")
	if err != nil {
		return
	}
	openFor := map[int64]int64{} // inbox → alert id
	for key, id := range open {
		var inbox int64
		var at int64
		if _, err := fmt.Sscanf(key, "channel:%d:%d", &inbox, &at); err == nil {
			openFor[inbox] = id
		}
	}
	var admins []*store.Agent
	for _, in := range inboxes {
		if ch, ok := t.Channels.Lookup(in.Kind); ok && ch.Connect == nil {
			continue // a channel Kibo hosts itself (the chat) has no connection to go down
		}
		if in.State != "error" {
			t.mu.Lock()
			delete(t.channelDown, in.ID)
			t.mu.Unlock()
			if id, ok := openFor[in.ID]; ok && in.State == "connected" {
				t.Store.ClearTeamAlert(ctx, id)
			}
			continue
		}
		if _, ok := openFor[in.ID]; ok {
			continue
		}
		t.mu.Lock()
		first, seen := t.channelDown[in.ID]
		if !seen {
			t.channelDown[in.ID] = now
			first = now
		}
		t.mu.Unlock()
		if now.Sub(first) < ChannelGrace {
			continue
		}
		if admins == nil {
			if admins, _, err = Recipients(ctx, t.Store); err != nil {
				return
			}
		}
		text := fmt.Sprintf("The %s channel %q"+ChannelDownWords+"%s", in.Kind, in.Name, strings.TrimSpace(in.LastError))
		key := fmt.Sprintf("channel:%d:%d", in.ID, first.Unix())
		if _, err := t.Raise(ctx, "channel_down", key, fmt.Sprintf("[Kibo] %s channel %q is down", in.Kind, in.Name), text, "/settings#inboxes", admins); err != nil {
			t.Log.Warn("raise channel alert", "inbox", in.ID, "err", err)
		}
	}
}

// ChannelDownWords end a channel alert's text before the error, which only admins see.
const ChannelDownWords = " has stopped working: "
