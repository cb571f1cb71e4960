package server

import (
	"fmt"
	"strings"
	"testing"
)

// A name, title or text past its limit is refused with a clear 422 that does not echo
// it, and nothing of it is stored.
func TestLongNamesAndTextsAreRefused(t *testing.T) {
	k := startKibo(t)
	huge := strings.Repeat("x", 1<<20)
	conv, _ := k.chatConversation("a conversation for the limits")
	var c map[string]any
	k.api("GET", fmt.Sprintf("/api/v1/conversations/%d", conv), k.adminToken, nil, &c, 200)
	contact := num(c["contact"].(map[string]any)["id"])
	var dr map[string]any
	k.api("POST", "/api/v1/data-requests", k.adminToken, map[string]any{"conversation_id": conv, "type": "access"}, &dr, 201)
	var incident map[string]any
	k.api("POST", "/api/v1/incidents", k.adminToken, map[string]any{"title": "Slow logins", "audience": "open"}, &incident, 201)
	manyTags := make([]string, 51)
	for i := range manyTags {
		manyTags[i] = fmt.Sprintf("tag-%d", i)
	}
	for _, r := range []struct {
		method, path string
		body         map[string]any
	}{
		{"POST", "/api/v1/agents", map[string]any{"email": "long@example.com", "name": huge, "password": "long-enough"}},
		{"POST", "/api/v1/agents", map[string]any{"email": strings.Repeat("a", 300) + "@example.com", "name": "Long", "password": "long-enough"}},
		{"PATCH", fmt.Sprintf("/api/v1/agents/%d", k.agent.ID), map[string]any{"name": huge}},
		{"PATCH", fmt.Sprintf("/api/v1/contacts/%d", contact), map[string]any{"name": huge}},
		{"PATCH", fmt.Sprintf("/api/v1/contacts/%d", contact), map[string]any{"email": strings.Repeat("a", 300) + "@example.com"}},
		{"POST", "/api/v1/inboxes", map[string]any{"kind": "chat", "name": huge}},
		{"POST", "/api/v1/inboxes", map[string]any{"kind": "chat", "name": "Big", "settings": map[string]any{"greeting": huge}}},
		{"PATCH", fmt.Sprintf("/api/v1/inboxes/%d", k.inboxID), map[string]any{"name": huge}},
		{"PATCH", fmt.Sprintf("/api/v1/conversations/%d", conv), map[string]any{"tags": []string{huge}}},
		{"PATCH", fmt.Sprintf("/api/v1/conversations/%d", conv), map[string]any{"tags": manyTags}},
		{"POST", "/api/v1/tokens", map[string]any{"name": huge}},
		{"POST", "/api/v1/incidents", map[string]any{"title": huge, "audience": "open"}},
		{"POST", "/api/v1/incidents", map[string]any{"title": "Outage", "message": huge, "audience": "open"}},
		{"POST", fmt.Sprintf("/api/v1/incidents/%d/updates", num(incident["id"])), map[string]any{"text": huge}},
		{"PATCH", fmt.Sprintf("/api/v1/data-requests/%d", num(dr["id"])), map[string]any{"status": "extended", "extend_reason": huge, "notify": false}},
		{"POST", fmt.Sprintf("/api/v1/conversations/%d/messages", conv), map[string]any{"text": huge}},
	} {
		var e map[string]map[string]string
		resp := k.api(r.method, r.path, k.adminToken, r.body, &e, 0)
		if resp.StatusCode != 422 || len(e["error"]["message"]) > 200 || e["error"]["message"] == "" {
			t.Errorf("%s %s: %d %.200v", r.method, r.path, resp.StatusCode, e)
		}
	}
	// nothing of it was stored
	var agents struct{ Agents []map[string]any }
	k.api("GET", "/api/v1/agents", k.adminToken, nil, &agents, 200)
	for _, a := range agents.Agents {
		if len(fmt.Sprint(a["name"])) > 200 || len(fmt.Sprint(a["email"])) > 254 {
			t.Errorf("a long agent was stored: %.80v", a)
		}
	}
	var tokens struct{ Tokens []map[string]any }
	k.api("GET", "/api/v1/tokens", k.adminToken, nil, &tokens, 200)
	for _, tok := range tokens.Tokens {
		if len(fmt.Sprint(tok["name"])) > 200 {
			t.Errorf("a long token name was stored")
		}
	}
	k.api("GET", fmt.Sprintf("/api/v1/conversations/%d", conv), k.adminToken, nil, &c, 200)
	if tags, _ := c["tags"].([]any); len(tags) != 0 {
		t.Errorf("tags were stored: %d", len(tags))
	}
	// what is within the limits still goes through
	k.api("PATCH", fmt.Sprintf("/api/v1/contacts/%d", contact), k.adminToken, map[string]any{"name": strings.Repeat("é", 200)}, nil, 200)
	k.api("PATCH", fmt.Sprintf("/api/v1/conversations/%d", conv), k.adminToken, map[string]any{"tags": manyTags[:50]}, nil, 200)
}
