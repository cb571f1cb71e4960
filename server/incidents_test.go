package server

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"kibo/connectors"
	"kibo/server/alerts"
	"kibo/store"
)

// opsClock is the injected clock of the SLA and alert tests: it moves only when told.
type opsClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *opsClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *opsClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// tick is one round of the periodic work (SLA sweep, incidents' phases, alert
// checks), run by the test at its clock's time.
func (k *testKibo) tick(ctx context.Context) {
	periodic{k.srv.dueTimes, k.srv.incidents, k.srv.alerts}.round(ctx)
}

// startKiboAt is startKibo with the store and the server on clk.
func startKiboAt(t *testing.T, clk *opsClock) *testKibo {
	t.Helper()
	return startKiboWith(t, clk.Now)
}

// dbInt reads one number straight from the database file (read-only), for what the
// API does not show: outbox rows, alert records.
func (k *testKibo) dbInt(q string, args ...any) int64 {
	k.t.Helper()
	db, err := sql.Open("sqlite3", "file:"+k.st.Path()+"?mode=ro&_busy_timeout=5000")
	if err != nil {
		k.t.Fatal(err)
	}
	defer db.Close()
	var n sql.NullInt64
	if err := db.QueryRow(q, args...).Scan(&n); err != nil {
		k.t.Fatalf("%s: %v", q, err)
	}
	return n.Int64
}

// emailInbox adds an e-mail inbox without starting a mail connector: what it queues
// stays in the outbox (retrying), where the tests read it.
func (k *testKibo) emailInbox() int64 {
	k.t.Helper()
	in, err := k.st.CreateInbox(context.Background(), "email", "Support", "", map[string]any{"address": "support@example.com"})
	if err != nil {
		k.t.Fatal(err)
	}
	return in.ID
}

var mailSeq int

// mail delivers an e-mail through the sink, as the IMAP connector would.
func (k *testKibo) mail(inbox int64, from, text string, auto bool) connectors.Delivered {
	k.t.Helper()
	mailSeq++
	d, err := sink{k.srv}.Deliver(context.Background(), connectors.Inbound{
		InboxID: inbox, Identity: connectors.Identity{Kind: "email", ExternalID: from, Email: from, Name: strings.Split(from, "@")[0]},
		ExternalID: fmt.Sprintf("<m%d-%d@customer.example>", mailSeq, time.Now().UnixNano()), Subject: text, Text: text, Auto: auto, NewThread: true,
	})
	if err != nil {
		k.t.Fatal(err)
	}
	return d
}

func (k *testKibo) incident(id int64) map[string]any {
	var inc map[string]any
	k.api("GET", fmt.Sprintf("/api/v1/incidents/%d", id), k.adminToken, nil, &inc, 200)
	return inc
}

func systemMessages(msgs []map[string]any) []map[string]any {
	var out []map[string]any
	for _, m := range msgs {
		if a, _ := m["author"].(map[string]any); a["kind"] == "system" {
			out = append(out, m)
		}
	}
	return out
}

func (k *testKibo) get(path string) (int, http.Header, string) {
	k.t.Helper()
	resp, err := http.Get(k.base + path)
	if err != nil {
		k.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// Declaring an incident reaches an open widget at once, the welcome of the next
// visitor, the status page, and each contact of the audience on their own channel
// (e-mail queued, Messenger sent through the Send API), once per update.
func TestIncidentReachesWidgetStatusPageAndEveryChannel(t *testing.T) {
	k := startKibo(t)
	ctx := context.Background()
	mailbox := k.emailInbox()
	ann := k.mail(mailbox, "ann@example.com", "My invoice is wrong", false)
	bob := k.mail(mailbox, "bob@example.com", "Thanks, all good", false)
	k.api("PATCH", fmt.Sprintf("/api/v1/conversations/%d", bob.ConversationID), k.agentToken, map[string]any{"status": "resolved"}, nil, 200)

	// a Messenger contact who wrote a minute ago
	graph := newFakeGraph(t)
	var fb map[string]any
	k.api("POST", "/api/v1/inboxes", k.adminToken, map[string]any{"kind": "messenger", "name": "Facebook", "settings": map[string]any{
		"page_id": "106171755573456", "page_access_token": "PAGE-TOKEN", "app_secret": "app-secret", "verify_token": "v", "graph_base_url": graph.URL,
	}}, &fb, 201)
	raw, _ := os.ReadFile("../connectors/messenger/testdata/messages_text.json")
	body := []byte(strings.ReplaceAll(string(raw), "1458692752478", fmt.Sprint(time.Now().UnixMilli())))
	if code, out := k.post(fmt.Sprintf("/webhooks/messenger/%v", fb["id"]), map[string]string{"X-Hub-Signature-256": signMessenger("app-secret", body)}, body); code != 200 {
		t.Fatalf("messenger webhook: %d %s", code, out)
	}

	waitFor(t, "the Messenger conversation", func() bool {
		var list struct {
			Conversations []map[string]any `json:"conversations"`
		}
		k.api("GET", fmt.Sprintf("/api/v1/conversations?inbox=%v", fb["id"]), k.agentToken, nil, &list, 200)
		return len(list.Conversations) == 1
	})

	open := k.visitor()
	if w := open.hello("", nil); w["incident"] != nil {
		t.Fatalf("an incident before any was declared: %v", w["incident"])
	}

	k.api("POST", "/api/v1/incidents", k.agentToken, map[string]any{"title": "x"}, nil, 403)
	eta := time.Now().Add(2 * time.Hour).UTC().Truncate(time.Second)
	var inc map[string]any
	k.api("POST", "/api/v1/incidents", k.adminToken, map[string]any{
		"title": "Payments are failing", "state": "investigating", "eta": eta, "message": "Card payments fail at checkout. We are on it.",
		"audience": "open", "services": []string{"checkout"},
	}, &inc, 201)
	incID := num(inc["id"])
	upd1 := num(inc["updates"].([]any)[0].(map[string]any)["id"])

	// the open widget, live
	f := open.must("incident")
	if fi := f["incident"].(map[string]any); fi["title"] != "Payments are failing" || fi["state"] != "investigating" || fi["eta"] == nil {
		t.Fatalf("incident frame %v", f)
	}
	// the next visitor's welcome
	if w := k.visitor().hello("", nil); w["incident"] == nil || w["incident"].(map[string]any)["message"] != "Card payments fail at checkout. We are on it." {
		t.Fatalf("welcome incident %v", w["incident"])
	}
	// the status page, HTML and JSON
	code, hdr, page := k.get("/status")
	if code != 200 || !strings.Contains(page, "Payments are failing") || !strings.Contains(page, "We are having an outage") ||
		!strings.Contains(page, "Card payments fail at checkout") || strings.Contains(page, "<script") || !strings.Contains(hdr.Get("Cache-Control"), "max-age") {
		t.Fatalf("status page %d %v:\n%s", code, hdr, page)
	}
	var status struct {
		State     string           `json:"state"`
		Incidents []map[string]any `json:"incidents"`
	}
	_, _, js := k.get("/status.json")
	json.Unmarshal([]byte(js), &status)
	if status.State != "outage" || len(status.Incidents) != 1 || status.Incidents[0]["title"] != "Payments are failing" || status.Incidents[0]["audience"] != nil {
		t.Fatalf("status.json %s", js)
	}

	// ann (open e-mail conversation) gets a system message queued for the outbox; bob
	// (resolved) does not; the Messenger contact's goes out through the Send API
	waitFor(t, "the e-mail broadcast", func() bool { return len(systemMessages(k.messages(ann.ConversationID))) == 1 })
	sys := systemMessages(k.messages(ann.ConversationID))[0]
	if !strings.Contains(sys["text"].(string), "Payments are failing") || !strings.Contains(sys["text"].(string), "Card payments fail") || sys["author"].(map[string]any)["name"] != "Kibo" {
		t.Fatalf("broadcast message %v", sys)
	}
	if n := k.dbInt(`SELECT COUNT(*) FROM outbox WHERE kind = 'broadcast' AND dedupe_key = ? AND conversation_id = ?`,
		fmt.Sprintf("incident:%d:%d:%d", incID, upd1, ann.ContactID), ann.ConversationID); n != 1 {
		t.Fatalf("outbox rows for ann: %d", n)
	}
	if len(systemMessages(k.messages(bob.ConversationID))) != 0 {
		t.Fatal("a contact outside the audience was told")
	}
	waitFor(t, "the Messenger broadcast to be sent", func() bool { return graph.sentCount() == 1 })
	waitFor(t, "delivery figures", func() bool {
		d := k.incident(incID)["delivery"].(map[string]any)
		by := d["by_channel"].(map[string]any)
		m, _ := by["messenger"].(map[string]any)
		e, _ := by["email"].(map[string]any)
		return m != nil && e != nil && num(m["sent"]) == 1 && num(e["queued"])+num(e["retrying"]) == 1 && num(d["widgets_reached"]) == 1
	})

	// an update: new state, new estimate, sent again to each, once
	var after map[string]any
	k.api("POST", fmt.Sprintf("/api/v1/incidents/%d/updates", incID), k.adminToken, map[string]any{"text": "A fix is rolling out.", "state": "monitoring"}, &after, 201)
	if after["state"] != "monitoring" || after["eta"] == nil || len(after["updates"].([]any)) != 2 {
		t.Fatalf("after the update %v", after)
	}
	if f := open.must("incident"); f["incident"].(map[string]any)["state"] != "monitoring" {
		t.Fatalf("update frame %v", f)
	}
	waitFor(t, "the second broadcast", func() bool { return len(systemMessages(k.messages(ann.ConversationID))) == 2 })

	// a restart in the middle of a fan-out runs it again: nobody gets anything twice
	jobs := []store.FanoutJob{{IncidentID: incID, UpdateID: upd1, Audience: "open", CreatedAt: time.Now()}}
	for _, j := range jobs {
		if err := k.srv.incidents.Fanout(ctx, j); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(systemMessages(k.messages(ann.ConversationID))); n != 2 {
		t.Fatalf("%d broadcast messages after a re-run", n)
	}
	if n := k.dbInt(`SELECT COUNT(*) FROM outbox WHERE dedupe_key LIKE ?`, fmt.Sprintf("incident:%d:%%", incID)); n != 4 {
		t.Fatalf("%d broadcast outbox rows, want 2 updates × 2 contacts", n)
	}

	// resolved: the widget's banner says so, the status page is green again
	k.api("POST", fmt.Sprintf("/api/v1/incidents/%d/updates", incID), k.adminToken, map[string]any{"text": "All payments work again.", "state": "resolved"}, nil, 201)
	if f := open.must("incident"); f["incident"].(map[string]any)["state"] != "resolved" {
		t.Fatalf("resolve frame %v", f)
	}
	if w := k.visitor().hello("", nil); w["incident"] != nil {
		t.Fatalf("welcome after the resolution: %v", w["incident"])
	}
	_, _, js = k.get("/status.json")
	if !strings.Contains(js, `"state":"operational"`) || !strings.Contains(js, `"duration_seconds"`) {
		t.Fatalf("status.json after: %s", js)
	}
	var list struct {
		Incidents []map[string]any `json:"incidents"`
	}
	k.api("GET", "/api/v1/incidents", k.agentToken, nil, &list, 200)
	if len(list.Incidents) != 1 || list.Incidents[0]["phase"] != "past" {
		t.Fatalf("list %v", list)
	}
}

// While an incident is open a new ticket gets one automatic answer with the state and
// the estimate, once per contact, and is tagged for the inbox to group; the agents
// answer and resolve them together.
func TestIncidentAutoReplyAndBulkActions(t *testing.T) {
	k := startKibo(t)
	mailbox := k.emailInbox()
	eta := time.Now().Add(90 * time.Minute).UTC()
	var inc map[string]any
	k.api("POST", "/api/v1/incidents", k.adminToken, map[string]any{"title": "Login is down", "state": "identified", "eta": eta, "message": "Sign-in fails for everyone."}, &inc, 201)
	incID := num(inc["id"])
	tag := fmt.Sprintf("incident-%d", incID)

	// a chat visitor writes: the auto-reply arrives live in the widget
	v := k.visitor()
	v.hello("", nil)
	conv := num(v.say("c-1", "I can't log in!")["conversation_id"])
	m := v.must("message")
	if m["author"].(map[string]any)["kind"] != "system" || !strings.Contains(m["text"].(string), "Login is down") || !strings.Contains(m["text"].(string), "Sign-in fails") {
		t.Fatalf("auto-reply frame %v", m)
	}
	v.say("c-2", "hello?")

	// an e-mail: queued for the outbox, with the estimate; the same person writing a
	// second ticket gets no second answer; an auto-reply from their side gets none
	c1 := k.mail(mailbox, "carol@example.com", "Cannot sign in", false)
	waitFor(t, "the e-mail auto-reply", func() bool { return len(systemMessages(k.messages(c1.ConversationID))) == 1 })
	auto := systemMessages(k.messages(c1.ConversationID))[0]
	if auto["delivery"] != "queued" || auto["auto"] != true || !strings.Contains(auto["text"].(string), "We expect it to be resolved by") {
		t.Fatalf("e-mail auto-reply %v", auto)
	}
	if n := k.dbInt(`SELECT COUNT(*) FROM outbox WHERE kind = 'auto_reply' AND dedupe_key = ?`, fmt.Sprintf("incident-auto:%d:%d", incID, c1.ContactID)); n != 1 {
		t.Fatalf("auto-reply outbox rows %d", n)
	}
	c2 := k.mail(mailbox, "carol@example.com", "Still cannot sign in", false)
	ooo := k.mail(mailbox, "dave@example.com", "Out of office", true)
	var c2conv map[string]any
	waitFor(t, "the tags", func() bool {
		k.api("GET", fmt.Sprintf("/api/v1/conversations/%d", c2.ConversationID), k.agentToken, nil, &c2conv, 200)
		return fmt.Sprint(c2conv["tags"]) == "["+tag+"]"
	})
	if len(systemMessages(k.messages(c2.ConversationID))) != 0 || len(systemMessages(k.messages(ooo.ConversationID))) != 0 {
		t.Fatal("a second auto-reply to the same person, or one to an auto-reply")
	}
	if len(systemMessages(k.messages(conv))) != 1 {
		t.Fatalf("chat auto-replies: %v", k.messages(conv))
	}
	var d map[string]any
	k.api("GET", fmt.Sprintf("/api/v1/incidents/%d", incID), k.agentToken, nil, &d, 200)
	if ar := d["delivery"].(map[string]any)["auto_replies"].(map[string]any); num(ar["sent"])+num(ar["queued"])+num(ar["retrying"]) != 2 {
		t.Fatalf("auto-reply figures %v", ar)
	}

	// the inbox groups them by the incident's tag
	var list struct {
		Conversations []map[string]any `json:"conversations"`
	}
	k.api("GET", "/api/v1/conversations?tag="+tag, k.agentToken, nil, &list, 200)
	if len(list.Conversations) != 4 { // chat, carol twice, dave
		t.Fatalf("tagged: %d", len(list.Conversations))
	}
	ids := []int64{}
	for _, c := range list.Conversations {
		ids = append(ids, num(c["id"]))
	}
	var replied struct {
		Messages []map[string]any `json:"messages"`
		Errors   []map[string]any `json:"errors"`
	}
	k.api("POST", "/api/v1/conversations/bulk-reply", k.agentToken, map[string]any{"ids": append(ids, 999999), "text": "It works again, sorry for the trouble."}, &replied, 200)
	if len(replied.Messages) != 4 || len(replied.Errors) != 1 {
		t.Fatalf("bulk reply %+v", replied)
	}
	if f := v.must("message"); f["text"] != "It works again, sorry for the trouble." {
		t.Fatalf("bulk reply in the widget %v", f)
	}
	k.api("POST", "/api/v1/conversations/bulk-reply", k.agentToken, map[string]any{"ids": ids, "text": " "}, nil, 422)
	var resolved struct {
		Conversations []map[string]any `json:"conversations"`
	}
	k.api("POST", "/api/v1/conversations/bulk", k.agentToken, map[string]any{"ids": ids, "status": "resolved"}, &resolved, 200)
	if len(resolved.Conversations) != 4 || resolved.Conversations[0]["status"] != "resolved" {
		t.Fatalf("bulk resolve %+v", resolved)
	}
	k.api("POST", "/api/v1/conversations/bulk", k.agentToken, map[string]any{"ids": ids}, nil, 400)

	// resolved: new tickets are answered by people again
	k.api("POST", fmt.Sprintf("/api/v1/incidents/%d/updates", incID), k.adminToken, map[string]any{"text": "Fixed.", "state": "resolved"}, nil, 201)
	e := k.mail(mailbox, "erin@example.com", "Unrelated question", false)
	waitFor(t, "erin's conversation", func() bool { return len(k.messages(e.ConversationID)) == 1 })
	time.Sleep(100 * time.Millisecond) // the hook runs after the agents are told; give it its turn
	// (the "Fixed." broadcast may reach erin too when the fan-out runs after her mail
	// arrived: she has an open conversation by then; an auto-reply must not)
	for _, m := range systemMessages(k.messages(e.ConversationID)) {
		if strings.Contains(m["text"].(string), "We are aware of an ongoing issue") {
			t.Fatal("an auto-reply after the incident was resolved")
		}
	}
}

// Planned maintenance is "upcoming" before its window and "maintenance" within it.
func TestScheduledMaintenanceOnTheStatusPage(t *testing.T) {
	clk := &opsClock{t: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)}
	k := startKiboAt(t, clk)
	ctx := context.Background()
	w := k.visitor()
	w.hello("", nil)
	start, end := clk.Now().Add(time.Hour), clk.Now().Add(3*time.Hour)
	k.api("POST", "/api/v1/incidents", k.adminToken, map[string]any{"title": "Database upgrade", "state": "scheduled", "scheduled_start": start, "scheduled_end": end,
		"message": "Chat may be slow for a few minutes."}, nil, 201)
	if f := w.must("incident"); f["incident"].(map[string]any)["phase"] != "upcoming" {
		t.Fatalf("announced %v", f)
	}
	k.api("POST", "/api/v1/incidents", k.adminToken, map[string]any{"title": "x", "state": "scheduled", "scheduled_start": end, "scheduled_end": start}, nil, 422)
	var st map[string]any
	_, _, js := k.get("/status.json")
	json.Unmarshal([]byte(js), &st)
	if st["state"] != "operational" || len(st["incidents"].([]any)) != 1 || st["incidents"].([]any)[0].(map[string]any)["phase"] != "upcoming" {
		t.Fatalf("before the window: %s", js)
	}
	if _, _, page := k.get("/status"); !strings.Contains(page, "Planned maintenance") || !strings.Contains(page, "Database upgrade") {
		t.Fatalf("page before the window:\n%s", page)
	}
	clk.Add(90 * time.Minute)
	_, _, js = k.get("/status.json")
	if !strings.Contains(js, `"state":"maintenance"`) {
		t.Fatalf("in the window: %s", js)
	}
	k.tick(ctx) // the open widget hears that the window has begun
	if f := w.must("incident"); f["incident"].(map[string]any)["phase"] != "active" {
		t.Fatalf("at the start of the window %v", f)
	}
	clk.Add(2 * time.Hour)
	k.tick(ctx)
	if f := w.must("incident"); f["incident"] != nil {
		t.Fatalf("after the window %v", f)
	}
	_, _, js = k.get("/status.json")
	if !strings.Contains(js, `"state":"operational"`) || !strings.Contains(js, `"duration_seconds":7200`) {
		t.Fatalf("after the window: %s", js)
	}
}

// An SLA warning and a breach each raise one alert (notification, e-mail, webhook),
// however often the checks run; the inbox filters and sorts by the due times.
func TestSLABreachAlertsExactlyOnce(t *testing.T) {
	clk := &opsClock{t: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)}
	k := startKiboAt(t, clk)
	ctx := context.Background()
	k.emailInbox() // alerts go out by e-mail through it
	var hooks []alerts.WebhookPayload
	var mu sync.Mutex
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var p alerts.WebhookPayload
		json.NewDecoder(r.Body).Decode(&p)
		mu.Lock()
		hooks = append(hooks, p)
		mu.Unlock()
	}))
	defer hook.Close()
	k.api("PATCH", "/api/v1/alerts", k.agentToken, map[string]any{"webhook_url": hook.URL}, nil, 403)
	k.api("PATCH", "/api/v1/alerts", k.adminToken, map[string]any{"webhook_url": "ftp://x"}, nil, 422)
	k.api("PATCH", "/api/v1/alerts", k.adminToken, map[string]any{"webhook_url": hook.URL}, nil, 200)
	var pol map[string]any
	k.api("PATCH", "/api/v1/sla", k.agentToken, map[string]any{}, nil, 403)
	k.api("PATCH", "/api/v1/sla", k.adminToken, map[string]any{"targets": map[string]any{"high": map[string]any{"first_response_minutes": 60, "resolution_minutes": 480}}}, &pol, 200)
	k.api("PATCH", "/api/v1/sla", k.adminToken, map[string]any{"business_hours": map[string]any{"time_zone": "Nowhere/City", "weekdays": []int{1}, "start": "09:00", "end": "17:00"}}, nil, 422)

	v := k.visitor()
	v.hello("", nil)
	conv := num(v.say("s-1", "Urgent problem")["conversation_id"])
	path := fmt.Sprintf("/api/v1/conversations/%d", conv)
	var c map[string]any
	k.api("PATCH", path, k.agentToken, map[string]any{"priority": "high", "assignee_id": k.agent.ID}, &c, 200)
	sla := c["sla"].(map[string]any)
	if sla["first_response_due_at"] != "2026-03-02T10:00:00Z" || sla["next_due_at"] != "2026-03-02T10:00:00Z" || sla["breached_at"] != nil {
		t.Fatalf("sla after the priority change %v", sla)
	}

	notes := func(token string) []map[string]any {
		var out struct {
			Notifications []map[string]any `json:"notifications"`
		}
		k.api("GET", "/api/v1/notifications", token, nil, &out, 200)
		return out.Notifications
	}
	k.tick(ctx)
	if n := notes(k.agentToken); len(n) != 0 {
		t.Fatalf("alerts before any target: %v", n)
	}
	clk.Add(50 * time.Minute) // past 80% of the hour
	k.tick(ctx)
	k.tick(ctx)
	if n := notes(k.agentToken); len(n) != 1 || n[0]["kind"] != "sla_warning" || !strings.Contains(n[0]["link"].(string), fmt.Sprint(conv)) {
		t.Fatalf("after 50 minutes: %v", n)
	}
	var soon struct {
		Conversations []map[string]any `json:"conversations"`
	}
	k.api("GET", "/api/v1/conversations?sla=due_soon", k.agentToken, nil, &soon, 200)
	if len(soon.Conversations) != 1 {
		t.Fatalf("due soon: %v", soon)
	}
	clk.Add(15 * time.Minute) // breached
	for i := 0; i < 3; i++ {
		k.tick(ctx)
	}
	n := notes(k.agentToken)
	if len(n) != 2 || n[0]["kind"] != "sla_breach" || !strings.Contains(n[0]["text"].(string), "breached its first-response target") {
		t.Fatalf("after the breach: %v", n)
	}
	if a := notes(k.adminToken); len(a) != 0 {
		t.Fatalf("the admin was alerted about an assigned conversation: %v", a)
	}
	if m := k.dbInt(`SELECT COUNT(*) FROM outbox WHERE kind = 'alert' AND dedupe_key LIKE 'alert:sla:%'`); m != 2 {
		t.Fatalf("%d alert e-mails, want one warning and one breach", m)
	}
	if m := k.dbInt(`SELECT COUNT(*) FROM alert_log WHERE kind = 'sla_breach'`); m != 1 {
		t.Fatalf("%d breach records", m)
	}
	waitFor(t, "the webhook calls", func() bool { mu.Lock(); defer mu.Unlock(); return len(hooks) >= 2 })
	mu.Lock()
	kinds := []string{}
	for _, h := range hooks {
		kinds = append(kinds, h.Kind)
	}
	mu.Unlock()
	if fmt.Sprint(kinds) != "[sla_warning sla_breach]" {
		t.Fatalf("webhook calls %v", kinds)
	}
	var breached struct {
		Conversations []map[string]any `json:"conversations"`
	}
	k.api("GET", "/api/v1/conversations?sla=breached&sort=due", k.agentToken, nil, &breached, 200)
	if len(breached.Conversations) != 1 || breached.Conversations[0]["sla"].(map[string]any)["breached_at"] != "2026-03-02T10:00:00Z" {
		t.Fatalf("breached list %v", breached)
	}
	k.api("GET", "/api/v1/conversations?sla=late", k.agentToken, nil, nil, 422)

	// an unassigned conversation found already past its due time: the admins get the
	// breach alone, not a stale warning first
	v2 := k.visitor()
	v2.hello("", nil)
	conv2 := num(v2.say("s-2", "Another one")["conversation_id"])
	k.api("PATCH", fmt.Sprintf("/api/v1/conversations/%d", conv2), k.agentToken, map[string]any{"priority": "high"}, nil, 200)
	clk.Add(2 * time.Hour)
	k.tick(ctx)
	if a := notes(k.adminToken); len(a) != 1 || a[0]["kind"] != "sla_breach" {
		t.Fatalf("admin notes %v", a)
	}
}

// A spike in inbound volume and a channel that stops working alert the admins once.
func TestVolumeSpikeAndChannelDownAlerts(t *testing.T) {
	clk := &opsClock{t: time.Date(2026, 3, 30, 14, 0, 0, 0, time.UTC)}
	k := startKiboAt(t, clk)
	ctx := context.Background()
	mailbox := k.emailInbox()
	// the usual: two messages at this hour on each of the last days
	clk.Add(-7 * 24 * time.Hour)
	for d := 0; d < 7; d++ {
		k.mail(mailbox, fmt.Sprintf("usual%d@example.com", d), "usual", false)
		k.mail(mailbox, fmt.Sprintf("usual%d@example.com", d), "usual again", false)
		clk.Add(24 * time.Hour)
	}
	k.tick(ctx)
	for i := 0; i < alerts.SpikeFloor; i++ {
		k.mail(mailbox, fmt.Sprintf("angry%d@example.com", i), "Is it down?", false)
	}
	kinds := func() []string {
		var out struct {
			Alerts []map[string]any `json:"alerts"`
		}
		k.api("GET", "/api/v1/alerts", k.agentToken, nil, &out, 200)
		var ks []string
		for _, a := range out.Alerts { // the old tickets breach their SLA too: not the point here
			if kd := a["kind"].(string); kd == "volume_spike" || kd == "channel_down" {
				ks = append(ks, kd)
			}
		}
		return ks
	}
	k.tick(ctx)
	clk.Add(time.Minute)
	k.tick(ctx)
	if ks := kinds(); fmt.Sprint(ks) != "[volume_spike]" {
		t.Fatalf("alerts after the spike: %v", ks)
	}

	// the mailbox fails: one alert after the grace time, cleared when it works again
	k.st.SetInboxState(ctx, mailbox, "error", "IMAP login failed: invalid credentials")
	k.tick(ctx)
	if ks := kinds(); len(ks) != 1 {
		t.Fatalf("a channel alert inside the grace time: %v", ks)
	}
	clk.Add(alerts.ChannelGrace)
	k.tick(ctx)
	k.tick(ctx)
	if ks := kinds(); fmt.Sprint(ks) != "[channel_down volume_spike]" {
		t.Fatalf("after the grace time: %v", ks)
	}
	var admin struct {
		Notifications []map[string]any `json:"notifications"`
	}
	k.api("GET", "/api/v1/notifications", k.adminToken, nil, &admin, 200)
	if len(admin.Notifications) == 0 || admin.Notifications[0]["kind"] != "channel_down" || !strings.Contains(admin.Notifications[0]["text"].(string), "invalid credentials") {
		t.Fatalf("admin notifications %v", admin.Notifications)
	}
	k.st.SetInboxState(ctx, mailbox, "connected", "")
	k.tick(ctx)
	k.st.SetInboxState(ctx, mailbox, "error", "IMAP login failed again")
	clk.Add(time.Hour) // a new hour: the spike may not alert again, the channel may
	k.tick(ctx)
	clk.Add(alerts.ChannelGrace)
	k.tick(ctx)
	if ks := kinds(); fmt.Sprint(ks) != "[channel_down channel_down volume_spike]" {
		t.Fatalf("after a second outage: %v", ks)
	}
}

// The daily summary goes to the admins once a day, from 08:00.
func TestDailySummaryOnceADay(t *testing.T) {
	clk := &opsClock{t: time.Date(2026, 3, 2, 7, 0, 0, 0, time.UTC)}
	k := startKiboAt(t, clk)
	ctx := context.Background()
	mailbox := k.emailInbox()
	clk.Add(-20 * time.Hour) // yesterday
	k.mail(mailbox, "ann@example.com", "Hello", false)
	clk.Add(20 * time.Hour)
	k.tick(ctx)
	if n := k.dbInt(`SELECT COUNT(*) FROM outbox WHERE dedupe_key LIKE 'alert:daily:%'`); n != 0 {
		t.Fatalf("a summary before 08:00: %d", n)
	}
	clk.Add(90 * time.Minute)
	k.tick(ctx)
	k.tick(ctx)
	if n := k.dbInt(`SELECT COUNT(*) FROM outbox WHERE dedupe_key = ?`, fmt.Sprintf("alert:daily:2026-03-02:%d", k.admin.ID)); n != 1 {
		t.Fatalf("summaries: %d", n)
	}
	if n := k.dbInt(`SELECT COUNT(*) FROM outbox WHERE dedupe_key LIKE 'alert:daily:%'`); n != 1 {
		t.Fatalf("summaries to non-admins: %d", n)
	}
	var payload string
	db, _ := sql.Open("sqlite3", "file:"+k.st.Path()+"?mode=ro")
	defer db.Close()
	db.QueryRow(`SELECT payload FROM outbox WHERE dedupe_key LIKE 'alert:daily:%'`).Scan(&payload)
	if !strings.Contains(payload, "New conversations: 1") || !strings.Contains(payload, "Daily summary for Sun 1 Mar") {
		t.Fatalf("summary %s", payload)
	}
}

// The reports page and its JSON show the figures of a seeded history.
func TestReportsPageAndJSON(t *testing.T) {
	clk := &opsClock{t: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)}
	k := startKiboAt(t, clk)
	ctx := context.Background()
	mailbox := k.emailInbox()
	// three e-mails answered by Sam after 10, 20 and 60 minutes, one resolved after 2 hours
	waits := []time.Duration{10 * time.Minute, 20 * time.Minute, time.Hour}
	var first int64
	for i, w := range waits {
		d := k.mail(mailbox, fmt.Sprintf("c%d@example.com", i), "question", false)
		if i == 0 {
			first = d.ConversationID
		}
		clk.Add(w)
		if _, err := k.srv.reply(ctx, d.ConversationID, k.agent, "answer", false, ""); err != nil {
			t.Fatal(err)
		}
		clk.Add(-w)
	}
	clk.Add(2 * time.Hour)
	k.api("PATCH", fmt.Sprintf("/api/v1/conversations/%d", first), k.agentToken, map[string]any{"status": "resolved", "assignee_id": k.agent.ID}, nil, 200)
	var r store.Report
	k.api("GET", "/api/v1/reports?from=2026-03-02&to=2026-03-02", k.agentToken, nil, &r, 200)
	if r.TotalConversations != 3 || r.FirstResponse.Overall.MedianSeconds != 1200 || r.FirstResponse.Overall.P90Seconds != 3600 ||
		len(r.FirstResponse.ByAgent) != 1 || r.FirstResponse.ByAgent[0].Name != "Sam" || r.Resolution.Overall.MedianSeconds != 7200 {
		t.Fatalf("report %+v", r)
	}
	k.api("GET", "/api/v1/reports?from=yesterday", k.agentToken, nil, nil, 400)

	// the page, signed in
	jar := loginJar(t, k, "sam@example.com", "agent-password")
	resp, err := jar.Get(k.base + "/reports?from=2026-03-02&to=2026-03-02")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	page := string(b)
	for _, want := range []string{`id="total-conversations">3<`, "<svg", `data-seconds="1200">20m<`, `data-seconds="3600">1h<`, ">Sam<", `data-seconds="7200">2h<`} {
		if !strings.Contains(page, want) {
			t.Fatalf("the reports page lacks %q:\n%s", want, page)
		}
	}
	resp, _ = jar.Get(k.base + "/incidents")
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("incidents page %d", resp.StatusCode)
	}
}

// loginJar signs in through the login form and returns a client with the session.
func loginJar(t *testing.T, k *testKibo, email, password string) *http.Client {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	resp, err := c.PostForm(k.base+"/login", map[string][]string{"email": {email}, "password": {password}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return c
}

// The whole path over real mail: a customer's e-mail arrives by IMAP (Dovecot); the
// incident reaches an open widget, the status page and that customer by SMTP; a new
// ticket by e-mail during the incident gets one automatic answer by SMTP.
func TestIncidentEndToEndOverRealMail(t *testing.T) {
	k := startKibo(t)
	dc := startTestDovecot(t)
	smtpBox, smtpPort := startSMTPSink(t)
	inbox := k.addEmailInbox(dc, smtpPort)
	id := int64(inbox["id"].(float64))
	conversations := func() []map[string]any {
		var list struct {
			Conversations []map[string]any `json:"conversations"`
		}
		k.api("GET", fmt.Sprintf("/api/v1/conversations?inbox=%d", id), k.agentToken, nil, &list, 200)
		return list.Conversations
	}
	dc.appendMail(t, `From: Karl Meyer <karl@example.org>
To: support@example.com
Subject: Order 1234 not shipped
Message-ID: <karl-1@example.org>
Date: Thu, 26 Nov 2026 08:00:00 +0000
Content-Type: text/plain; charset=utf-8

Where is my order?
`)
	waitFor(t, "Karl's mail", func() bool { return len(conversations()) == 1 })
	open := k.visitor()
	open.hello("", nil)

	eta := time.Now().Add(3 * time.Hour).UTC().Truncate(time.Minute)
	var inc map[string]any
	k.api("POST", "/api/v1/incidents", k.adminToken, map[string]any{"title": "Shipping updates delayed", "state": "identified", "eta": eta,
		"message": "Tracking pages show no updates; parcels are moving normally.", "audience": "open"}, &inc, 201)
	if f := open.must("incident"); f["incident"].(map[string]any)["title"] != "Shipping updates delayed" {
		t.Fatalf("widget frame %v", f)
	}
	if _, _, page := k.get("/status"); !strings.Contains(page, "Shipping updates delayed") || !strings.Contains(page, "Expected to be resolved by") {
		t.Fatalf("status page:\n%s", page)
	}
	var broadcast string
	waitFor(t, "the broadcast over SMTP", func() bool {
		if r := smtpBox.received(); len(r) > 0 {
			broadcast = r[0]
			return true
		}
		return false
	})
	if header(broadcast, "In-Reply-To") != "<karl-1@example.org>" || !strings.Contains(broadcast, "Shipping updates delayed") ||
		!strings.Contains(broadcast, "parcels are moving normally") || !strings.Contains(header(broadcast, "Subject"), "Order 1234 not shipped") {
		t.Fatalf("broadcast mail:\n%s", broadcast)
	}

	dc.appendMail(t, `From: Lisa Park <lisa@example.net>
To: support@example.com
Subject: No tracking
Message-ID: <lisa-1@example.net>
Date: Thu, 26 Nov 2026 09:00:00 +0000
Content-Type: text/plain; charset=utf-8

The tracking page has not changed since yesterday.
`)
	var auto string
	waitFor(t, "the auto-reply over SMTP", func() bool {
		if r := smtpBox.received(); len(r) > 1 {
			auto = r[1]
			return true
		}
		return false
	})
	if header(auto, "In-Reply-To") != "<lisa-1@example.net>" || !strings.Contains(auto, "We are aware of an ongoing issue") || !strings.Contains(auto, "We expect it to be resolved by") {
		t.Fatalf("auto-reply mail:\n%s", auto)
	}
	waitFor(t, "the deliveries marked sent", func() bool {
		d := k.incident(num(inc["id"]))["delivery"].(map[string]any)
		e, _ := d["by_channel"].(map[string]any)["email"].(map[string]any)
		return e != nil && num(e["sent"]) == 1 && num(d["auto_replies"].(map[string]any)["sent"]) == 1
	})
	time.Sleep(300 * time.Millisecond)
	if n := smtpCount(smtpBox); n != 2 {
		t.Fatalf("%d mails for one broadcast and one auto-reply", n)
	}
}
