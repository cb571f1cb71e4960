package server

import (
	"fmt"
	"testing"
	"time"
)

// An admin who lost a chat inbox's identity secret makes a new one in Settings: after
// a confirmation the page shows it once, it is the one that verifies from then on,
// and it is not shown again. An agent has no such button.
func TestBrowserAdminMakesANewIdentitySecret(t *testing.T) {
	k := startKibo(t)
	old := k.identityInbox()
	page := fmt.Sprintf("%s/settings#inboxes/%d", k.base, k.inboxID)
	const button, shown = `document.getElementById('rotate-identity-secret')`, `document.querySelector('#identity-secret code')`
	br := newBrowser(t)

	admin := br.tab("admin")
	loginAgent(admin, k.base, "admin@example.com", "admin-password")
	admin.navigate(page)
	admin.waitJS("the chat inbox's settings", button, 10*time.Second)
	if evalJS[bool](admin, "!!"+shown) {
		t.Fatal("a secret is shown before a new one was made")
	}
	admin.click(button)
	admin.waitJS("the confirmation", `document.querySelector('form.dialog .btn-danger')`, 5*time.Second)
	admin.click(`document.querySelector('form.dialog .btn-danger')`)
	admin.waitJS("the new secret, shown once", shown, 10*time.Second)
	secret := evalJS[string](admin, shown+".textContent")
	if len(secret) < 32 || secret == old {
		t.Fatalf("the page shows %q as the new secret (the old one %q)", secret, old)
	}
	v := k.visitor()
	v.hello("", map[string]any{"identity": map[string]any{"id": "u-9", "hash": identityHash(secret, "u-9")}})
	v.say("b-1", "signed with the secret the page showed")

	admin.navigate(k.base + "/inbox")
	admin.navigate(page)
	admin.waitJS("the chat inbox's settings again", button, 10*time.Second)
	if evalJS[bool](admin, "!!"+shown) {
		t.Error("the secret is shown again after a reload")
	}

	agent := br.tab("agent")
	loginAgent(agent, k.base, "sam@example.com", "agent-password")
	agent.navigate(page)
	agent.waitJS("the chat inbox's settings", `document.getElementById('inbox-form')`, 10*time.Second)
	if evalJS[bool](agent, "!!"+button) {
		t.Error("an agent is offered a new identity secret")
	}
}
