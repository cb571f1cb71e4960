package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"kibo/server/hub"
	"kibo/store"
)

// Alerts tell the team what needs them now, once each: an in-app notification, an
// e-mail, and a POST to the team's webhook (setting alert_webhook_url) so it can land
// in their chat tool. The alert_log table keeps every alert by its dedupe key, so a
// tick, a restart or a second node cannot send one twice.

// Volume spike: the last spikeWindow far above the usual for that hour of the day over
// the last spikeHistoryDays days.
const (
	spikeWindow      = 10 * time.Minute
	spikeHistoryDays = 28
	spikeFactor      = 4.0
	spikeFloor       = 20 // never alert below this many messages in the window
	// channelGrace is how long a channel must fail before the team is told: one IMAP
	// hiccup is not an outage.
	channelGrace = 2 * time.Minute
	// dailySummaryHour is when admins get the day before's figures (business time).
	dailySummaryHour = 8
)

// alertWebhookPayload is what the team's webhook receives.
type alertWebhookPayload struct {
	Kind string    `json:"kind"`
	Text string    `json:"text"`
	Link string    `json:"link"`
	At   time.Time `json:"at"`
}

// raiseAlert records and sends one alert to agents, unless its key was raised before.
func (s *Server) raiseAlert(ctx context.Context, kind, key, subject, text, link string, to []*store.Agent) (bool, error) {
	settings, err := s.store.Settings(ctx, "alert_webhook_url")
	if err != nil {
		return false, err
	}
	canMail := s.hasEmailInbox(ctx)
	var notes []store.NewNotification
	var mails []store.OutboxItem
	for _, a := range to {
		notes = append(notes, store.NewNotification{AgentID: a.ID, Kind: kind, Text: text, Link: link, DedupeKey: fmt.Sprintf("%s:%d", key, a.ID)})
		if canMail && a.Email != "" {
			body := text
			if link != "" {
				body += "\n\n" + s.publicURL(link)
			}
			mails = append(mails, store.OutboxItem{Kind: "alert", DedupeKey: fmt.Sprintf("alert:%s:%d", key, a.ID),
				Payload: outboxPayload{To: a.Email, Subject: subject, Text: body + "\n\n-- \nKibo"}})
		}
	}
	raised, err := s.store.RaiseTeamAlert(ctx, store.TeamAlert{DedupeKey: key, Kind: kind, Text: text, Link: link, Webhook: settings["alert_webhook_url"] != ""}, notes, mails)
	if err != nil || !raised {
		return raised, err
	}
	ids := make([]int64, len(to))
	for i, a := range to {
		ids[i] = a.ID
	}
	s.hub.PublishTo(map[string]any{"type": "notification.created", "agent_ids": ids, "kind": kind, "text": text, "link": link}, hub.Agents(ids...))
	if len(mails) > 0 {
		s.outbox.wake()
	}
	kick(s.ops.alertKick)
	return true, nil
}

func (s *Server) hasEmailInbox(ctx context.Context) bool {
	inboxes, err := s.store.Inboxes(ctx)
	if err != nil {
		return false
	}
	for _, in := range inboxes {
		if in.Kind == "email" {
			return true
		}
	}
	return false
}

// admins are the active admins; assigneeOrAdmins the assignee when there is an active
// one, else the admins.
func (s *Server) admins(ctx context.Context) ([]*store.Agent, map[int64]*store.Agent, error) {
	all, err := s.store.Agents(ctx)
	if err != nil {
		return nil, nil, err
	}
	byID := map[int64]*store.Agent{}
	var admins []*store.Agent
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

// ---- SLA

var slaAlertWords = map[store.SLAAlertMark]struct{ target, what string }{
	store.SLAFirstResponseWarn:   {"first response", "is about to breach its first-response target"},
	store.SLAFirstResponseBreach: {"first response", "breached its first-response target"},
	store.SLAResolutionWarn:      {"resolution", "is about to breach its resolution target"},
	store.SLAResolutionBreach:    {"resolution", "breached its resolution target"},
}

// checkSLAAlerts raises the SLA warnings and breaches that are due, each exactly once,
// to the assignee (or the admins when there is none).
func (s *Server) checkSLAAlerts(ctx context.Context) {
	now := s.cfg.Now()
	s.ops.mu.Lock()
	since := s.ops.lastSweep
	s.ops.mu.Unlock()
	if since.IsZero() {
		since = now.Add(-30 * 24 * time.Hour)
	}
	due, err := s.store.SLAAlertsDue(ctx, now, since.Add(-opsInterval), 500)
	if err != nil {
		if ctx.Err() == nil {
			s.log.Warn("SLA alerts", "err", err)
		}
		return
	}
	s.ops.mu.Lock()
	s.ops.lastSweep = now
	s.ops.mu.Unlock()
	if len(due) == 0 {
		return
	}
	admins, byID, err := s.admins(ctx)
	if err != nil {
		s.log.Warn("SLA alerts: agents", "err", err)
		return
	}
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
		text := fmt.Sprintf("Conversation #%d (%s) %s (due %s).", d.Number, d.Priority, w.what, s.formatWhen(ctx, d.DueAt))
		subject := fmt.Sprintf("[Kibo] #%d %s", d.Number, w.what)
		key := fmt.Sprintf("sla:%d:%s", d.ConversationID, d.Mark)
		if _, err := s.raiseAlert(ctx, kind, key, subject, text, fmt.Sprintf("/inbox#c/%d", d.ConversationID), to); err != nil {
			s.log.Warn("raise SLA alert", "conversation", d.ConversationID, "err", err)
		}
		s.publishConversation(ctx, d.ConversationID)
	}
}

// ---- volume spike

// checkVolumeSpike alerts the admins, at most once an hour, when the last ten minutes
// brought far more messages than usual for that hour of the day.
func (s *Server) checkVolumeSpike(ctx context.Context) {
	now := s.cfg.Now().UTC()
	hour := now.Truncate(time.Hour)
	key := "spike:" + hour.Format("2006-01-02T15")
	recent, err := s.store.InboundCount(ctx, now.Add(-spikeWindow), now)
	if err != nil || recent < spikeFloor {
		return
	}
	s.ops.mu.Lock()
	cached, base := s.ops.spikeBaseKey == key, s.ops.spikeBase
	s.ops.mu.Unlock()
	if !cached {
		windows := make([][2]time.Time, 0, spikeHistoryDays)
		for d := 1; d <= spikeHistoryDays; d++ {
			start := hour.AddDate(0, 0, -d)
			windows = append(windows, [2]time.Time{start, start.Add(time.Hour)})
		}
		total, err := s.store.InboundCountWindows(ctx, windows)
		if err != nil {
			s.log.Warn("volume baseline", "err", err)
			return
		}
		base = float64(total) / float64(spikeHistoryDays) / float64(time.Hour/spikeWindow)
		s.ops.mu.Lock()
		s.ops.spikeBaseKey, s.ops.spikeBase = key, base
		s.ops.mu.Unlock()
	}
	if float64(recent) < spikeFactor*base {
		return
	}
	admins, _, err := s.admins(ctx)
	if err != nil {
		return
	}
	text := fmt.Sprintf("Inbound volume spike: %d messages in the last 10 minutes, against about %.1f usually at this hour.", recent, base)
	if _, err := s.raiseAlert(ctx, "volume_spike", key, "[Kibo] Inbound volume spike", text, "/inbox", admins); err != nil {
		s.log.Warn("raise spike alert", "err", err)
	}
}

// ---- channels

// checkChannels alerts the admins when a channel has been failing for channelGrace
// (IMAP login refused, SMTP down, a platform refusing the token), once per outage:
// when it works again the alert is cleared and the next failure is a new one.
func (s *Server) checkChannels(ctx context.Context) {
	now := s.cfg.Now()
	inboxes, err := s.store.Inboxes(ctx)
	if err != nil {
		return
	}
	open, err := s.store.OpenTeamAlerts(ctx, "channel_down")
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
		if in.Kind == "chat" {
			continue
		}
		if in.State != "error" {
			s.ops.mu.Lock()
			delete(s.ops.channelDown, in.ID)
			s.ops.mu.Unlock()
			if id, ok := openFor[in.ID]; ok && in.State == "connected" {
				s.store.ClearTeamAlert(ctx, id)
			}
			continue
		}
		if _, ok := openFor[in.ID]; ok {
			continue
		}
		s.ops.mu.Lock()
		first, seen := s.ops.channelDown[in.ID]
		if !seen {
			s.ops.channelDown[in.ID] = now
			first = now
		}
		s.ops.mu.Unlock()
		if now.Sub(first) < channelGrace {
			continue
		}
		if admins == nil {
			if admins, _, err = s.admins(ctx); err != nil {
				return
			}
		}
		text := fmt.Sprintf("The %s channel %q"+channelDownWords+"%s", in.Kind, in.Name, strings.TrimSpace(in.LastError))
		key := fmt.Sprintf("channel:%d:%d", in.ID, first.Unix())
		if _, err := s.raiseAlert(ctx, "channel_down", key, fmt.Sprintf("[Kibo] %s channel %q is down", in.Kind, in.Name), text, "/settings#inboxes", admins); err != nil {
			s.log.Warn("raise channel alert", "inbox", in.ID, "err", err)
		}
	}
}

// channelDownWords end a channel alert's text before the error, which only admins see.
const channelDownWords = " has stopped working: "

// ---- the webhook

// sendAlertWebhooks POSTs the alerts waiting for the team's webhook, retrying a failed
// call with backoff (1, 2, 4, 8 minutes) before giving up on it.
func (s *Server) sendAlertWebhooks(ctx context.Context) {
	s.ops.webhookMu.Lock()
	defer s.ops.webhookMu.Unlock()
	settings, err := s.store.Settings(ctx, "alert_webhook_url")
	if err != nil {
		return
	}
	target := settings["alert_webhook_url"]
	now := s.cfg.Now()
	due, err := s.store.DueAlertWebhooks(ctx, now, 2*time.Minute, 50)
	if err != nil || len(due) == 0 {
		return
	}
	client := s.hosts().Client(10 * time.Second)
	for _, d := range due {
		a := d.Alert
		if ctx.Err() != nil {
			return
		}
		if target == "" {
			s.store.AlertWebhookDone(ctx, a.ID, "no webhook URL is set", nil)
			continue
		}
		err := postAlert(ctx, client, target, alertWebhookPayload{Kind: a.Kind, Text: a.Text, Link: s.publicURL(a.Link), At: a.CreatedAt})
		var next *time.Time
		errText := ""
		if err != nil {
			errText = err.Error()
			if d.Attempts < 4 {
				t := now.Add(time.Minute << d.Attempts)
				next = &t
			}
			s.log.Warn("alert webhook", "alert", a.ID, "err", err)
		}
		s.store.AlertWebhookDone(ctx, a.ID, errText, next)
	}
}

func postAlert(ctx context.Context, client *http.Client, target string, p alertWebhookPayload) error {
	body, _ := json.Marshal(p)
	req, err := http.NewRequestWithContext(ctx, "POST", target, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Kibo alerts")
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode >= 300 {
		return fmt.Errorf("the webhook answered %s", resp.Status)
	}
	return nil
}

// ---- the daily summary

// sendDailySummary e-mails the admins the figures of the day before, once a day from
// dailySummaryHour (business time).
func (s *Server) sendDailySummary(ctx context.Context) {
	if !s.hasEmailInbox(ctx) {
		return // nothing to send it with; it goes out once an e-mail inbox exists
	}
	p, err := s.store.SLAPolicy(ctx)
	if err != nil {
		return
	}
	loc := p.Location()
	now := s.cfg.Now().In(loc)
	if now.Hour() < dailySummaryHour {
		return
	}
	today, yesterday := store.ReportDay(now, loc, 0), store.ReportDay(now, loc, -1)
	key := "daily:" + today.Format("2006-01-02")
	if done, err := s.store.TeamAlertRaised(ctx, key); err != nil || done {
		return
	}
	r, err := s.store.Report(ctx, yesterday, today, loc)
	if err != nil {
		s.log.Warn("daily summary", "err", err)
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Kibo, %s\n\n", yesterday.Format("Monday 2 January 2006"))
	fmt.Fprintf(&b, "New conversations: %d; messages from customers: %d\n", r.TotalConversations, r.TotalMessages)
	for _, ch := range r.Channels {
		fmt.Fprintf(&b, "  %-10s %4d conversations, %4d messages\n", ch, sum(r.Conversations[ch]), sum(r.Messages[ch]))
	}
	fmt.Fprintf(&b, "\nFirst response: median %s, 90th percentile %s (%d conversations)\n",
		humanSeconds(r.FirstResponse.Overall.MedianSeconds), humanSeconds(r.FirstResponse.Overall.P90Seconds), r.FirstResponse.Overall.Count)
	fmt.Fprintf(&b, "Resolution: median %s, 90th percentile %s (%d conversations)\n",
		humanSeconds(r.Resolution.Overall.MedianSeconds), humanSeconds(r.Resolution.Overall.P90Seconds), r.Resolution.Overall.Count)
	fmt.Fprintf(&b, "SLA breaches: %d\n", r.Breaches)
	if open, overdue, err := s.store.OpenDataRequests(ctx); err == nil && open > 0 {
		fmt.Fprintf(&b, "Open data requests: %d (%d overdue)\n", open, overdue)
	}
	q := url.Values{"from": {yesterday.Format("2006-01-02")}, "to": {yesterday.Format("2006-01-02")}}
	fmt.Fprintf(&b, "\nReports: %s\n", s.publicURL("/reports?"+q.Encode()))
	admins, _, err := s.admins(ctx)
	if err != nil || len(admins) == 0 {
		return
	}
	var mails []store.OutboxItem
	for _, a := range admins {
		mails = append(mails, store.OutboxItem{Kind: "alert", DedupeKey: fmt.Sprintf("alert:%s:%d", key, a.ID),
			Payload: outboxPayload{To: a.Email, Subject: "[Kibo] Daily summary for " + yesterday.Format("Mon 2 Jan"), Text: b.String()}})
	}
	if _, err := s.store.RaiseTeamAlert(ctx, store.TeamAlert{DedupeKey: key, Kind: "daily_summary", Text: "Daily summary for " + yesterday.Format("2006-01-02"), Link: "/reports"}, nil, mails); err != nil {
		s.log.Warn("daily summary", "err", err)
		return
	}
	s.outbox.wake()
}

func sum(xs []int) int {
	n := 0
	for _, x := range xs {
		n += x
	}
	return n
}

// humanSeconds writes a duration for people: "45s", "12m", "3h 20m", "2d 4h".
func humanSeconds(sec int64) string {
	d := time.Duration(sec) * time.Second
	switch {
	case sec <= 0:
		return "–"
	case d < time.Minute:
		return fmt.Sprintf("%ds", sec)
	case d < time.Hour:
		return fmt.Sprintf("%dm", sec/60)
	case d < 24*time.Hour:
		if m := (sec % 3600) / 60; m != 0 {
			return fmt.Sprintf("%dh %dm", sec/3600, m)
		}
		return fmt.Sprintf("%dh", sec/3600)
	}
	if h := (sec % 86400) / 3600; h != 0 {
		return fmt.Sprintf("%dd %dh", sec/86400, h)
	}
	return fmt.Sprintf("%dd", sec/86400)
}

// ---- API

// GET /api/v1/alerts: the latest alerts raised to the team, and whether a webhook is set.
func (s *Server) listAlerts(c *fiber.Ctx) error {
	ctx := c.UserContext()
	list, err := s.store.TeamAlerts(ctx, 100)
	if err != nil {
		return err
	}
	settings, err := s.store.Settings(ctx, "alert_webhook_url")
	if err != nil {
		return err
	}
	if a := currentAgent(c); a == nil || !a.IsAdmin() {
		// a channel's error names hosts and addresses: the admins' to read
		for _, al := range list {
			if i := strings.Index(al.Text, channelDownWords); al.Kind == "channel_down" && i >= 0 {
				al.Text = al.Text[:i] + " has stopped working."
			}
		}
	}
	// the URL is a secret (write-only, like an inbox's tokens)
	return c.JSON(fiber.Map{"alerts": list, "webhook_url_set": settings["alert_webhook_url"] != ""})
}

// PATCH /api/v1/alerts (admin): {"webhook_url":"https://..."} ("" removes it).
func (s *Server) patchAlerts(c *fiber.Ctx) error {
	var body struct {
		WebhookURL *string `json:"webhook_url"`
	}
	if err := decodeBody(c, &body); err != nil {
		return err
	}
	if body.WebhookURL == nil {
		return errBadRequest("send {\"webhook_url\":\"https://...\"} (an empty string removes it)")
	}
	u := strings.TrimSpace(*body.WebhookURL)
	if u != "" {
		p, err := url.Parse(u)
		if err != nil || (p.Scheme != "https" && p.Scheme != "http") || p.Host == "" {
			return &store.ValidationError{Message: "webhook_url must be an http or https URL"}
		}
		// checked again on every call, on the address actually dialled
		if err := s.hosts().CheckURL(c.UserContext(), u); err != nil {
			return &store.ValidationError{Message: "webhook_url: " + err.Error()}
		}
	}
	if err := s.store.SetAlertWebhookURL(c.UserContext(), u, currentAgent(c).ID); err != nil {
		return err
	}
	return s.listAlerts(c)
}
