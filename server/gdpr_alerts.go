package server

import (
	"context"
	"fmt"
	"strings"
	"time"

	"kibo/server/gdpr"
	"kibo/server/hub"
	"kibo/store"
)

// Deadline alerts for data requests: 7, 3 and 1 day before the due date and once
// overdue, an in-app notice and an e-mail (through the outbox) to the assignee, or to
// every admin while nobody has it. Each mark is recorded on the request in the same
// transaction as its notices and e-mails, so a tick, a restart or a crash in between
// never sends one twice. An extended request starts a second round of marks against
// its new date ("ext-7d", ...). Suggested requests are included: the legal clock runs
// from receipt, and a suggestion nobody looked at must not run out quietly.

// dataRequestAlertEvery is how often the worker looks; the marks are days apart.
const dataRequestAlertEvery = time.Minute

// runDataRequestAlerts sends due alerts at start and then on every tick until ctx ends.
func (s *Server) runDataRequestAlerts(ctx context.Context) {
	t := time.NewTicker(dataRequestAlertEvery)
	defer t.Stop()
	for {
		if _, err := s.sendDataRequestAlerts(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("data request alerts", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// sendDataRequestAlerts sends every alert due at the server's clock and reports how
// many marks it recorded.
func (s *Server) sendDataRequestAlerts(ctx context.Context) (int, error) {
	now := s.cfg.Now()
	list, err := s.store.AlertingDataRequests(ctx)
	if err != nil || len(list) == 0 {
		return 0, err
	}
	p, err := s.dataRequestPolicy(ctx)
	if err != nil {
		return 0, err
	}
	agents, err := s.store.Agents(ctx)
	if err != nil {
		return 0, err
	}
	byID := map[int64]*store.Agent{}
	var admins []*store.Agent
	for _, a := range agents {
		if a.DisabledAt != nil {
			continue
		}
		byID[a.ID] = a
		if a.IsAdmin() {
			admins = append(admins, a)
		}
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
			ok, err := s.sendDataRequestAlert(ctx, dr, prefix+m, m, to, now, p)
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

func (s *Server) sendDataRequestAlert(ctx context.Context, dr *store.DataRequest, mark, kind string, to []*store.Agent, now time.Time, p dataRequestPolicy) (bool, error) {
	subject, text := dataRequestAlertText(dr, kind, now, p)
	link := fmt.Sprintf("/data-requests#dr-%d", dr.ID)
	var notes []store.NewNotification
	var mails []store.OutboxItem
	for _, a := range to {
		notes = append(notes, store.NewNotification{AgentID: a.ID, Kind: "data_request", Text: text, Link: link,
			DedupeKey: fmt.Sprintf("dr:%d:%s:%d", dr.ID, mark, a.ID)})
		if a.Email != "" {
			mails = append(mails, store.OutboxItem{Kind: "alert", DedupeKey: fmt.Sprintf("dr-mail:%d:%s:%d", dr.ID, mark, a.ID),
				Payload: outboxPayload{To: a.Email, Subject: subject, Text: text + "\n\n" + s.dataRequestLink(link)}})
		}
	}
	ok, err := s.store.RecordDataRequestAlert(ctx, dr.ID, mark, notes, mails)
	if err != nil || !ok {
		return false, err
	}
	ids := make([]int64, len(to))
	for i, a := range to {
		ids[i] = a.ID
	}
	if len(ids) > 0 {
		s.hub.PublishTo(map[string]any{"type": "notification.created", "agent_ids": ids, "kind": "data_request", "text": text, "link": link}, hub.Agents(ids...))
	}
	if len(mails) > 0 {
		s.outbox.wake()
	}
	return true, nil
}

// dataRequestAlertText says what is due when, without any of the customer's data (the
// text goes into notices and e-mails that an erasure does not reach).
func dataRequestAlertText(dr *store.DataRequest, kind string, now time.Time, p dataRequestPolicy) (subject, text string) {
	what := fmt.Sprintf("Data request %d (%s", dr.ID, dr.Type)
	if dr.ConversationNumber != 0 {
		what += fmt.Sprintf(", conversation #%d", dr.ConversationNumber)
	}
	what += ")"
	if dr.Status == "suggested" {
		what = "Suggested d" + what[1:] + ", not yet confirmed,"
	}
	due := companyDate(dr.EffectiveDueAt, p.loc)
	if kind == gdpr.AlertOverdue {
		subject = fmt.Sprintf("Overdue: data request %d", dr.ID)
		return subject, fmt.Sprintf("%s is overdue: it was due by the end of %s.", what, due)
	}
	days := gdpr.DaysLeft(dr.EffectiveDueAt, now, p.loc)
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

// dataRequestLink is an absolute link when Kibo knows its public address.
func (s *Server) dataRequestLink(path string) string {
	if s.cfg.PublicURL != "" {
		return strings.TrimRight(s.cfg.PublicURL, "/") + path
	}
	return path
}
