package server

import (
	"fmt"
	"testing"
)

// Every field that takes an e-mail address takes one bare address, or answers 422: a
// contact's (exports and erasures find the person's mail by it), an agent's login, an
// e-mail inbox's own address.
func TestEmailFieldsTakeOneBareAddress(t *testing.T) {
	k := startKibo(t)
	v := k.visitor()
	v.hello("", nil)
	ack := v.say("c-1", "a contact to edit")
	var conv map[string]any
	k.api("GET", fmt.Sprintf("/api/v1/conversations/%d", num(ack["conversation_id"])), k.agentToken, nil, &conv, 200)
	path := fmt.Sprintf("/api/v1/contacts/%d", num(conv["contact"].(map[string]any)["id"]))

	bad := []string{"@corp.com", "not an email", "Pat <pat@corp.com>", "pat@", "pat@corp.com, eve@corp.com", "pat@corp.com\r\nBcc: eve@corp.com"}
	for _, e := range bad {
		k.api("PATCH", path, k.agentToken, map[string]any{"email": e}, nil, 422)
		k.api("POST", "/api/v1/agents", k.adminToken, map[string]any{"email": e, "name": "New", "password": "long-enough-password"}, nil, 422)
		k.api("POST", "/api/v1/inboxes", k.adminToken, map[string]any{"kind": "email", "name": "Mail", "settings": map[string]any{
			"address": e,
			"imap":    map[string]any{"host": "imap.example.com", "port": 993, "tls": "tls", "username": "u", "password": "p"},
			"smtp":    map[string]any{"host": "smtp.example.com", "port": 587, "tls": "starttls", "username": "u", "password": "p"},
		}}, nil, 422)
	}
	var contact map[string]any
	k.api("PATCH", path, k.agentToken, map[string]any{"email": " pat@corp.com "}, &contact, 200)
	if contact["email"] != "pat@corp.com" {
		t.Errorf("stored e-mail %q", contact["email"])
	}
	k.api("POST", "/api/v1/agents", k.adminToken, map[string]any{"email": "new.agent@example.com", "name": "New", "password": "long-enough-password"}, nil, 201)
}
