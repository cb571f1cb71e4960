package server

import (
	"fmt"
	"strings"
	"testing"
)

// An admin can replace a chat inbox's identity secret (the old one lost or leaked):
// the new one is answered once, is never shown again, verifies from then on, and the
// old one stops verifying at once. Agents may not, and only chat inboxes have one.
func TestRotateIdentitySecret(t *testing.T) {
	k := startKibo(t)
	old := k.identityInbox()
	path := fmt.Sprintf("/api/v1/inboxes/%d/identity-secret", k.inboxID)

	k.api("POST", path, k.agentToken, nil, nil, 403)
	var in map[string]any
	k.api("POST", path, k.adminToken, nil, &in, 200)
	fresh, _ := in["identity_secret"].(string)
	if len(fresh) < 32 || fresh == old {
		t.Fatalf("the new identity secret %q (the old one %q)", fresh, old)
	}
	if in["public_key"] != k.publicKey || in["settings"].(map[string]any)["identity_secret"] != true {
		t.Errorf("the inbox in the answer: %v", in)
	}
	var again map[string]any
	k.api("GET", fmt.Sprintf("/api/v1/inboxes/%d", k.inboxID), k.adminToken, nil, &again, 200)
	if _, shown := again["identity_secret"]; shown {
		t.Errorf("the secret is shown again: %v", again)
	}
	var list struct{ Inboxes []map[string]any }
	k.api("GET", "/api/v1/inboxes", k.adminToken, nil, &list, 200)
	for _, ib := range list.Inboxes {
		if strings.Contains(fmt.Sprint(ib), fresh) {
			t.Errorf("the secret is in the inbox list: %v", ib)
		}
	}

	// the old secret proves nothing any more; the new one does
	v := k.visitor()
	v.send(map[string]any{"type": "hello", "token": "", "identity": map[string]any{"id": "u-7", "hash": identityHash(old, "u-7")}})
	if f, err := v.next("error"); err != nil || f["code"] != "unauthorized" {
		t.Errorf("a hash made with the old secret: %v %v", f, err)
	}
	v = k.visitor()
	v.hello("", map[string]any{"identity": map[string]any{"id": "u-7", "hash": identityHash(fresh, "u-7")}})
	v.say("r-1", "signed with the new secret")

	// the change is audited, without the secret
	var audit struct{ Audit []map[string]any }
	k.api("GET", fmt.Sprintf("/api/v1/audit?subject=inbox&ref=%d&limit=20", k.inboxID), k.adminToken, nil, &audit, 200)
	found := false
	for _, a := range audit.Audit {
		if a["action"] == "inbox.identity_secret" {
			found = true
		}
		if strings.Contains(fmt.Sprint(a), fresh) {
			t.Errorf("the audit log holds the secret: %v", a)
		}
	}
	if !found {
		t.Errorf("no audit entry for the new secret: %v", audit.Audit)
	}

	email := k.emailInbox()
	k.api("POST", fmt.Sprintf("/api/v1/inboxes/%d/identity-secret", email), k.adminToken, nil, nil, 422)
	k.api("POST", "/api/v1/inboxes/999999/identity-secret", k.adminToken, nil, nil, 404)
}
