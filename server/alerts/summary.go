package alerts

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	"kibo/server/words"
	"kibo/store"
)

// dailySummaryHour is when admins get the day before's figures (business time).
const dailySummaryHour = 8

// SendDailySummary e-mails the admins the figures of the day before, once a day from
// dailySummaryHour (business time).
func (t *Team) SendDailySummary(ctx context.Context) {
	if !t.hasEmailInbox(ctx) {
		return // nothing to send it with; it goes out once an e-mail inbox exists
	}
	p, err := t.Store.SLAPolicy(ctx)
	if err != nil {
		return
	}
	loc := p.Location()
	now := t.Now().In(loc)
	if now.Hour() < dailySummaryHour {
		return
	}
	today, yesterday := store.ReportDay(now, loc, 0), store.ReportDay(now, loc, -1)
	key := "daily:" + today.Format("2006-01-02")
	if done, err := t.Store.TeamAlertRaised(ctx, key); err != nil || done {
		return
	}
	r, err := t.Store.Report(ctx, yesterday, today, loc)
	if err != nil {
		t.Log.Warn("daily summary", "err", err)
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Kibo, %s\n\n", yesterday.Format("Monday 2 January 2006"))
	fmt.Fprintf(&b, "New conversations: %d; messages from customers: %d\n", r.TotalConversations, r.TotalMessages)
	for _, ch := range r.Channels {
		convs, msgs := r.ChannelTotals(ch)
		fmt.Fprintf(&b, "  %-10s %4d conversations, %4d messages\n", ch, convs, msgs)
	}
	fmt.Fprintf(&b, "\nFirst response: median %s, 90th percentile %s (%d conversations)\n",
		words.Duration(r.FirstResponse.Overall.MedianSeconds), words.Duration(r.FirstResponse.Overall.P90Seconds), r.FirstResponse.Overall.Count)
	fmt.Fprintf(&b, "Resolution: median %s, 90th percentile %s (%d conversations)\n",
		words.Duration(r.Resolution.Overall.MedianSeconds), words.Duration(r.Resolution.Overall.P90Seconds), r.Resolution.Overall.Count)
	fmt.Fprintf(&b, "SLA breaches: %d\n", r.Breaches)
	if open, overdue, err := t.Store.OpenDataRequests(ctx); err == nil && open > 0 {
		fmt.Fprintf(&b, "Open data requests: %d (%d overdue)\n", open, overdue)
	}
	q := url.Values{"from": {yesterday.Format("2006-01-02")}, "to": {yesterday.Format("2006-01-02")}}
	fmt.Fprintf(&b, "\nReports: %s\n", words.Link(t.PublicURL, "/reports?"+q.Encode()))
	admins, _, err := Recipients(ctx, t.Store)
	if err != nil || len(admins) == 0 {
		return
	}
	var mails []store.OutboxItem
	for _, a := range admins {
		mails = append(mails, store.OutboxItem{Kind: "alert", DedupeKey: fmt.Sprintf("alert:%s:%d", key, a.ID),
			Payload: Mail{To: a.Email, Subject: "[Kibo] Daily summary for " + yesterday.Format("Mon 2 Jan"), Text: b.String()}})
	}
	if _, err := t.Store.RaiseTeamAlert(ctx, store.TeamAlert{DedupeKey: key, Kind: "daily_summary", Text: "Daily summary for " + yesterday.Format("2006-01-02"), Link: "/reports"}, nil, mails); err != nil {
		t.Log.Warn("daily summary", "err", err)
		return
	}
	t.WakeOutbox()
}
