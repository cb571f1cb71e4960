package server

import (
	"archive/zip"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"kibo/server/gdpr"
)

type dataRequestJSON struct {
	ID             int64      `json:"id"`
	ContactID      *int64     `json:"contact_id"`
	ConversationID *int64     `json:"conversation_id"`
	Type           string     `json:"type"`
	Status         string     `json:"status"`
	ReceivedAt     time.Time  `json:"received_at"`
	DueAt          time.Time  `json:"due_at"`
	DueRule        string     `json:"due_rule"`
	ExtendedDueAt  *time.Time `json:"extended_due_at"`
	AssigneeID     *int64     `json:"assignee_id"`
	CompletedAt    *time.Time `json:"completed_at"`
	DaysLeft       *int       `json:"days_left"`
	History        []struct {
		At      time.Time `json:"at"`
		AgentID *int64    `json:"agent_id"`
		Change  string    `json:"change"`
	} `json:"history"`
}

// chatConversation starts a chat conversation with text and returns its id and the
// time the message was stored.
func (k *testKibo) chatConversation(text string) (int64, time.Time) {
	k.t.Helper()
	v := k.visitor()
	v.hello("", nil)
	ack := v.say(fmt.Sprintf("c-%d", time.Now().UnixNano()), text)
	at, _ := time.Parse(time.RFC3339Nano, ack["created_at"].(string))
	return num(ack["conversation_id"]), at
}

func (k *testKibo) suggestions() []dataRequestJSON {
	var out struct {
		DataRequests []dataRequestJSON `json:"data_requests"`
		NextCursor   *string           `json:"next_cursor"`
	}
	k.api("GET", "/api/v1/data-requests?status=suggested&limit=1000", k.agentToken, nil, &out, 200)
	if out.NextCursor == nil {
		k.t.Fatal("the list has no next_cursor")
	}
	return out.DataRequests
}

func TestDataRequestOpenedFromConversationExtendedAndCompleted(t *testing.T) {
	k := startKibo(t)
	conv, _ := k.chatConversation("Hi, I have a question about my order")
	var dr dataRequestJSON
	k.api("POST", "/api/v1/data-requests", k.agentToken, map[string]any{"conversation_id": conv, "type": "access"}, &dr, 201)
	if dr.Status != "open" || dr.ContactID == nil || *dr.ConversationID != conv || dr.DueRule != string(gdpr.RuleEarlier) {
		t.Fatalf("opened %+v", dr)
	}
	if want := gdpr.DueDate(dr.ReceivedAt, gdpr.RuleEarlier, time.UTC); !dr.DueAt.Equal(want) || dr.DaysLeft == nil || *dr.DaysLeft < 27 {
		t.Fatalf("due %v (days left %v), want %v", dr.DueAt, dr.DaysLeft, want)
	}
	path := fmt.Sprintf("/api/v1/data-requests/%d", dr.ID)
	k.api("POST", "/api/v1/data-requests", k.agentToken, map[string]any{"conversation_id": conv, "type": "access",
		"received_at": time.Now().Add(48 * time.Hour).Format(time.RFC3339)}, nil, 422)
	k.api("POST", "/api/v1/data-requests", k.agentToken, map[string]any{"conversation_id": 999999, "type": "access"}, nil, 404)
	k.api("POST", "/api/v1/data-requests", k.agentToken, map[string]any{"conversation_id": conv, "type": "gossip"}, nil, 422)

	k.api("PATCH", path, k.agentToken, map[string]any{"assignee_id": k.agent.ID, "status": "verifying"}, &dr, 200)
	if dr.Status != "verifying" || *dr.AssigneeID != k.agent.ID || dr.ExtendedDueAt != nil {
		t.Fatalf("verifying %+v", dr)
	}
	due := dr.DueAt
	k.api("PATCH", path, k.agentToken, map[string]any{"status": "extended"}, nil, 422) // no reason
	k.api("PATCH", path, k.agentToken, map[string]any{"status": "extended", "extend_reason": "x", "extend_months": 3}, nil, 422)
	k.api("PATCH", path, k.agentToken, map[string]any{"status": "extended", "extend_reason": "we hold records in three systems", "extend_months": 2}, &dr, 200)
	if dr.Status != "extended" || dr.ExtendedDueAt == nil || !dr.DueAt.Equal(due) {
		t.Fatalf("extended %+v", dr)
	}
	if want, _ := gdpr.Extend(dr.ReceivedAt, dr.DueAt, time.Now(), false, 2, time.UTC); !dr.ExtendedDueAt.Equal(want) {
		t.Fatalf("extended to %v, want %v", dr.ExtendedDueAt, want)
	}
	// the customer was told why, on their channel
	msgs := k.messages(conv)
	last := msgs[len(msgs)-1]
	if last["direction"] != "out" || last["private"] != false || !strings.Contains(last["text"].(string), "we hold records in three systems") {
		t.Fatalf("the extension notice was not sent: %v", last)
	}
	var e map[string]map[string]string
	k.api("PATCH", path, k.agentToken, map[string]any{"status": "extended", "extend_reason": "again"}, &e, 409)
	if !strings.Contains(e["error"]["message"], "extended") {
		t.Fatalf("second extension: %v", e)
	}
	k.api("PATCH", path, k.agentToken, map[string]any{"status": "dismissed"}, nil, 409)
	k.api("PATCH", path, k.agentToken, map[string]any{"status": "completed"}, &dr, 200)
	if dr.CompletedAt == nil || dr.DaysLeft != nil {
		t.Fatalf("completed %+v", dr)
	}
	k.api("GET", path, k.agentToken, nil, &dr, 200)
	var changes []string
	for _, h := range dr.History {
		changes = append(changes, h.Change)
		if h.AgentID == nil || *h.AgentID != k.agent.ID {
			t.Errorf("history line without its agent: %+v", h)
		}
	}
	joined := strings.Join(changes, " | ")
	for _, want := range []string{"opened (access)", "status: open → verifying", "assigned to Sam", "extended by 2 months", "reason: we hold records", "told the customer why, in message", "status: extended → completed"} {
		if !strings.Contains(joined, want) {
			t.Errorf("history lacks %q: %s", want, joined)
		}
	}
	k.api("PATCH", path, k.agentToken, map[string]any{"colour": "red"}, nil, 400)
	k.api("GET", "/api/v1/data-requests/999999", k.agentToken, nil, nil, 404)
}

// A likely request in an inbound message becomes a suggestion whose clock started with
// the message; an agent confirms or dismisses it. This is what kiboprobe dsar reads.
func TestDetectedRequestIsSuggestedFromTheMessageTime(t *testing.T) {
	k := startKibo(t)
	conv, at := k.chatConversation("Hello. Under Article 17 GDPR please delete my personal data and close my account.")
	benign, _ := k.chatConversation("How do I change the privacy settings of my profile?")
	var found *dataRequestJSON
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline) && found == nil; time.Sleep(20 * time.Millisecond) {
		for _, d := range k.suggestions() {
			if *d.ConversationID == conv {
				found = &d
			}
			if *d.ConversationID == benign {
				t.Fatal("a question about privacy settings was suggested as a request")
			}
		}
	}
	if found == nil {
		t.Fatal("no suggestion for an erasure request")
	}
	if found.Type != "erasure" || !found.ReceivedAt.Equal(at) || !found.DueAt.Equal(gdpr.DueDate(at, gdpr.RuleEarlier, time.UTC)) {
		t.Fatalf("suggestion %+v, message at %v", found, at)
	}
	var dr dataRequestJSON
	k.api("PATCH", fmt.Sprintf("/api/v1/data-requests/%d", found.ID), k.agentToken, map[string]any{"status": "open"}, &dr, 200)
	if dr.Status != "open" || !dr.ReceivedAt.Equal(at) {
		t.Fatalf("confirming must keep the time of receipt: %+v", dr)
	}
	var counts map[string]int
	k.api("GET", "/api/v1/data-requests/counts", k.agentToken, nil, &counts, 200)
	if counts["active"] != 1 || counts["suggested"] != 0 {
		t.Fatalf("counts %v", counts)
	}

	other, _ := k.chatConversation("Bitte löschen Sie alle meine Daten gemäß Art. 17 DSGVO.")
	var sug *dataRequestJSON
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline) && sug == nil; time.Sleep(20 * time.Millisecond) {
		for _, d := range k.suggestions() {
			if *d.ConversationID == other {
				sug = &d
			}
		}
	}
	if sug == nil {
		t.Fatal("no suggestion for a German erasure request")
	}
	k.api("PATCH", fmt.Sprintf("/api/v1/data-requests/%d", sug.ID), k.agentToken, map[string]any{"status": "dismissed"}, &dr, 200)
	if len(k.suggestions()) != 0 {
		t.Fatal("a dismissed suggestion is still listed")
	}
}

func TestCompanySettingsDriveDueDates(t *testing.T) {
	k := startKibo(t)
	var set map[string]any
	k.api("GET", "/api/v1/settings", k.agentToken, nil, &set, 200)
	if set["company_timezone"] != "UTC" || set["data_request_rule"] != string(gdpr.RuleEarlier) {
		t.Fatalf("defaults %v", set)
	}
	k.api("PATCH", "/api/v1/settings", k.agentToken, map[string]any{"company_timezone": "Europe/Berlin"}, nil, 403)
	k.api("PATCH", "/api/v1/settings", k.adminToken, map[string]any{"company_timezone": "Mars/Olympus"}, nil, 422)
	k.api("PATCH", "/api/v1/settings", k.adminToken, map[string]any{"data_request_rule": "whenever"}, nil, 422)
	k.api("PATCH", "/api/v1/settings", k.adminToken, map[string]any{"favourite_colour": "red"}, nil, 400)
	k.api("PATCH", "/api/v1/settings", k.adminToken, map[string]any{"company_timezone": "Pacific/Auckland", "data_request_rule": string(gdpr.RuleMonth)}, &set, 200)
	if set["company_timezone"] != "Pacific/Auckland" || set["data_request_rule"] != string(gdpr.RuleMonth) {
		t.Fatalf("after PATCH %v", set)
	}
	conv, _ := k.chatConversation("hello")
	// 31 January 20:00 UTC is already 1 February in Auckland: one calendar month later
	// is 1 March, at the end of that day in Auckland.
	received := time.Date(2026, 1, 31, 20, 0, 0, 0, time.UTC)
	var dr dataRequestJSON
	k.api("POST", "/api/v1/data-requests", k.agentToken, map[string]any{"conversation_id": conv, "type": "portability", "received_at": received}, &dr, 201)
	auck, _ := time.LoadLocation("Pacific/Auckland")
	want := time.Date(2026, 3, 2, 0, 0, 0, 0, auck).Add(-time.Nanosecond).UTC()
	if dr.DueRule != string(gdpr.RuleMonth) || !dr.DueAt.Equal(want) {
		t.Fatalf("due %v under %q, want %v", dr.DueAt, dr.DueRule, want)
	}
	if d := k.srv.cfg.Now(); dr.DaysLeft == nil || *dr.DaysLeft != gdpr.DaysLeft(want, d, auck) {
		t.Fatalf("days left %v", dr.DaysLeft)
	}
	var audit map[string][]map[string]any
	k.api("GET", "/api/v1/audit?subject=settings", k.adminToken, nil, &audit, 200)
	if len(audit["audit"]) != 1 {
		t.Fatalf("settings changes are not audited: %v", audit)
	}
}

func TestContactExportJSONAndZIP(t *testing.T) {
	k := startKibo(t)
	conv, _ := k.chatConversation("my name is Olive Oyl, the spinach order never came")
	var c map[string]any
	k.api("GET", fmt.Sprintf("/api/v1/conversations/%d", conv), k.agentToken, nil, &c, 200)
	contact := num(c["contact"].(map[string]any)["id"])
	k.api("POST", fmt.Sprintf("/api/v1/conversations/%d/messages", conv), k.agentToken, map[string]any{"text": "internal: check the warehouse", "private": true}, nil, 201)

	var ex struct {
		Contact       map[string]any `json:"contact"`
		Conversations []struct {
			ID       int64 `json:"id"`
			Messages []struct {
				Text    string `json:"text"`
				Private bool   `json:"private"`
			} `json:"messages"`
		} `json:"conversations"`
	}
	k.api("GET", fmt.Sprintf("/api/v1/contacts/%d/export", contact), k.agentToken, nil, &ex, 200)
	if num(ex.Contact["id"]) != contact || len(ex.Conversations) != 1 || len(ex.Conversations[0].Messages) != 2 || !ex.Conversations[0].Messages[1].Private {
		t.Fatalf("export %+v", ex)
	}

	req, _ := http.NewRequest("GET", fmt.Sprintf("%s/api/v1/contacts/%d/export?format=zip", k.base, contact), nil)
	req.Header.Set("Authorization", "Bearer "+k.adminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/zip" ||
		resp.Header.Get("Content-Disposition") != fmt.Sprintf(`attachment; filename="kibo-contact-%d.zip"`, contact) {
		t.Fatalf("%d %v", resp.StatusCode, resp.Header)
	}
	z, err := zip.NewReader(bytes.NewReader(body), int64(len(body)))
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, f := range z.File {
		names[f.Name] = true
	}
	for _, n := range []string{"contact.json", "conversations.json", "data_requests.json", "audit.json", "index.html"} {
		if !names[n] {
			t.Errorf("%s missing from the ZIP", n)
		}
	}
	var audit map[string][]map[string]any
	k.api("GET", fmt.Sprintf("/api/v1/audit?subject=contact&ref=%d", contact), k.adminToken, nil, &audit, 200)
	if len(audit["audit"]) != 2 || audit["audit"][0]["action"] != "contact.export" {
		t.Fatalf("exports are not audited: %v", audit)
	}
	k.api("GET", "/api/v1/contacts/999999/export", k.agentToken, nil, nil, 404)
	k.api("GET", fmt.Sprintf("/api/v1/contacts/%d/export?format=xml", contact), k.agentToken, nil, nil, 400)
}

// From "please delete my data" to a completed, audited erasure with a confirmation
// sent to the customer, without leaving Kibo.
func TestEraseContactFromARequest(t *testing.T) {
	k := startKibo(t)
	v := k.visitor()
	v.hello("", nil)
	ack := v.say("c-1", "Please delete all my personal data. Thanks, Quentin Quibble")
	conv := num(ack["conversation_id"])
	var c map[string]any
	k.api("GET", fmt.Sprintf("/api/v1/conversations/%d", conv), k.agentToken, nil, &c, 200)
	contact := num(c["contact"].(map[string]any)["id"])
	var dr dataRequestJSON
	k.api("POST", "/api/v1/data-requests", k.agentToken, map[string]any{"conversation_id": conv, "type": "erasure"}, &dr, 201)
	path := fmt.Sprintf("/api/v1/contacts/%d/erase", contact)

	k.api("POST", path, k.agentToken, map[string]any{"confirm": true}, nil, 403)
	var e map[string]map[string]string
	k.api("POST", path, k.adminToken, map[string]any{}, &e, 422)
	if !strings.Contains(e["error"]["message"], "confirm") {
		t.Fatalf("%v", e)
	}
	var draft map[string]string
	k.api("GET", fmt.Sprintf("/api/v1/data-requests/%d/draft?kind=erasure", dr.ID), k.agentToken, nil, &draft, 200)
	if !strings.Contains(draft["text"], "Article 17") {
		t.Fatalf("draft %v", draft)
	}
	var res map[string]any
	k.api("POST", path, k.adminToken, map[string]any{"confirm": true, "notify": true, "data_request_id": dr.ID}, &res, 200)
	// the visitor got the confirmation before their data went
	msg := v.must("message")
	if !strings.Contains(msg["text"].(string), "erased your personal data") {
		t.Fatalf("confirmation %v", msg)
	}
	pseud, _ := res["pseudonym"].(string)
	if !strings.HasPrefix(pseud, "erased:") || num(res["conversations"]) != 1 {
		t.Fatalf("result %v", res)
	}
	k.api("GET", fmt.Sprintf("/api/v1/contacts/%d", contact), k.agentToken, nil, nil, 404)
	k.api("GET", fmt.Sprintf("/api/v1/conversations/%d", conv), k.agentToken, nil, nil, 404)
	k.api("GET", fmt.Sprintf("/api/v1/data-requests/%d", dr.ID), k.agentToken, nil, &dr, 200)
	if dr.Status != "completed" || dr.ContactID != nil || dr.ConversationID != nil || dr.Type != "erasure" {
		t.Fatalf("the request after the erasure: %+v", dr)
	}
	var audit map[string][]map[string]any
	k.api("GET", "/api/v1/audit?subject=contact&ref="+pseud, k.adminToken, nil, &audit, 200)
	if len(audit["audit"]) != 1 || audit["audit"][0]["action"] != "contact.erase" || num(audit["audit"][0]["actor_id"]) != k.admin.ID {
		t.Fatalf("audit %v", audit)
	}
	var hits struct{ Conversations []any }
	k.api("GET", "/api/v1/conversations?q=Quibble", k.adminToken, nil, &hits, 200)
	if len(hits.Conversations) != 0 {
		t.Fatalf("search still finds the erased person: %v", hits)
	}
	k.api("POST", path, k.adminToken, map[string]any{"confirm": true}, nil, 404)
}

func TestNotificationsAPI(t *testing.T) {
	k := startKibo(t)
	var out struct {
		Notifications []map[string]any `json:"notifications"`
		Unread        int              `json:"unread"`
	}
	k.api("GET", "/api/v1/notifications", k.agentToken, nil, &out, 200)
	if out.Notifications == nil || out.Unread != 0 {
		t.Fatalf("%+v", out)
	}
	k.api("POST", "/api/v1/notifications/read", k.agentToken, map[string]any{"up_to": 0}, nil, 204)
}

func TestDataRequestsPageRenders(t *testing.T) {
	k := startKibo(t)
	tok, csrf := NewSecret(24), NewSecret(16)
	if err := k.st.CreateSession(context.Background(), k.agent.ID, tok, csrf, time.Hour); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", k.base+"/data-requests", nil)
	req.AddCookie(&http.Cookie{Name: sessionCookie, Value: tok})
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `id="dr-list"`) || !strings.Contains(string(body), "/static/datarequests.") {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	resp, err = http.Get(k.base + "/data-requests")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Request.URL.Path != "/login" {
		t.Fatalf("signed out: ended at %s", resp.Request.URL)
	}
}
