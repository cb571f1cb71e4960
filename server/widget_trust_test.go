package server

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"kibo/connectors"
)

// identityInbox makes a chat inbox that takes verified identities and points the
// test's visitors at it; it returns the identity secret.
func (k *testKibo) identityInbox() string {
	k.t.Helper()
	var inbox map[string]any
	k.api("POST", "/api/v1/inboxes", k.adminToken, map[string]any{"kind": "chat", "name": "App", "settings": map[string]any{}}, &inbox, 201)
	k.inboxID = num(inbox["id"])
	k.publicKey = inbox["public_key"].(string)
	return inbox["identity_secret"].(string)
}

func identityHash(secret, id string) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(id))
	return hex.EncodeToString(mac.Sum(nil))
}

func identityJWT(secret string, claims map[string]any) string {
	h := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`))
	b, _ := json.Marshal(claims)
	p := base64.RawURLEncoding.EncodeToString(b)
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(h + "." + p))
	return h + "." + p + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// Only what the proof signs is trusted. A visitor with a valid hash for their own id
// who sends a customer's e-mail address beside it (or a JWT without an email claim and
// the address beside it) must not land in that customer's conversation, nor see its
// history, now or when they come back. The victim is a signed-in user of the site
// either way: proved by a hash (their address unsigned too) or by a JWT whose claims
// carry the address.
func TestWidgetUnsignedEmailReachesNobodyElse(t *testing.T) {
	for _, victimProof := range []string{"hash", "jwt with email claim"} {
		t.Run("victim by "+victimProof, func(t *testing.T) {
			k := startKibo(t)
			secret := k.identityInbox()
			const victimEmail = "victim@corp.example"
			victim := map[string]any{"id": "victim-1", "email": victimEmail, "name": "Victim", "hash": identityHash(secret, "victim-1")}
			if victimProof != "hash" {
				victim = map[string]any{"id": "victim-1", "jwt": identityJWT(secret, map[string]any{
					"sub": "victim-1", "email": victimEmail, "name": "Victim", "exp": time.Now().Add(time.Hour).Unix()})}
			}
			va := k.visitor()
			va.hello("", map[string]any{"identity": victim})
			convA := num(va.say("v-1", "my order 4411")["conversation_id"])
			const iban = "Refund to IBAN DE44 5001 0517 5407 3249 31"
			k.api("POST", fmt.Sprintf("/api/v1/conversations/%d/messages", convA), k.agentToken, map[string]any{"text": iban}, nil, 201)

			attacks := map[string]map[string]any{
				"hash of attacker-1": {"id": "attacker-1", "email": victimEmail, "name": "Attacker", "hash": identityHash(secret, "attacker-1")},
				"jwt without email": {"id": "attacker-2", "email": victimEmail, "jwt": identityJWT(secret, map[string]any{
					"sub": "attacker-2", "name": "Attacker Two", "exp": time.Now().Add(time.Hour).Unix()})},
			}
			for name, identity := range attacks {
				vb := k.visitor()
				w := vb.hello("", map[string]any{"identity": identity})
				if strings.Contains(fmt.Sprint(w), "IBAN") || num(w["conversation_id"]) == convA {
					t.Errorf("%s: the welcome carries the victim's conversation: %v", name, w)
				}
				ack := vb.say("a-1", "hello from "+name)
				if num(ack["conversation_id"]) == convA {
					t.Errorf("%s: the message was acked into the victim's conversation %d", name, convA)
				}
				for _, m := range k.messages(convA) {
					if strings.Contains(m["text"].(string), name) {
						t.Errorf("%s: the message landed in the victim's conversation", name)
					}
				}
				back := k.visitor()
				w = back.hello(w["token"].(string), map[string]any{"identity": identity})
				if strings.Contains(fmt.Sprint(w), "IBAN") || num(w["conversation_id"]) == convA {
					t.Errorf("%s: the welcome on return carries the victim's conversation: %v", name, w)
				}

				// the address is kept for the agents, marked unverified
				var c map[string]any
				k.api("GET", fmt.Sprintf("/api/v1/conversations/%d", num(ack["conversation_id"])), k.agentToken, nil, &c, 200)
				ct := c["contact"].(map[string]any)
				if ct["email"] != victimEmail || ct["email_verified"] != false {
					t.Errorf("%s: the attacker's contact is %v, want the claimed address marked unverified", name, ct)
				}
			}
		})
	}
}

// A JWT signs its claims: its e-mail address is verified and joins the contact who owns
// it (DESIGN.md: a verified identity links the chat to the known contact); the same
// address beside a hash is kept unverified on a contact of its own. The contact and
// identity JSON say which.
func TestWidgetIdentityAttributesSayWhatIsVerified(t *testing.T) {
	k := startKibo(t)
	secret := k.identityInbox()
	ctx := context.Background()
	mail, err := k.st.CreateInbox(ctx, "email", "Mail", "", map[string]any{"address": "support@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	d, err := sink{k.srv}.Deliver(ctx, connectors.Inbound{InboxID: mail.ID, Identity: connectors.Identity{Kind: "email", ExternalID: "ann@example.com", Name: "Ann"},
		ExternalID: "<1@example.com>", Subject: "Order", Text: "where is my order?"})
	if err != nil {
		t.Fatal(err)
	}
	owner := d.ContactID
	contactOf := func(v *visitor, cid string) map[string]any {
		conv := num(v.say(cid, "hi")["conversation_id"])
		var c map[string]any
		k.api("GET", fmt.Sprintf("/api/v1/conversations/%d", conv), k.agentToken, nil, &c, 200)
		var ct map[string]any
		k.api("GET", fmt.Sprintf("/api/v1/contacts/%d", num(c["contact"].(map[string]any)["id"])), k.agentToken, nil, &ct, 200)
		return ct
	}
	identity := func(ct map[string]any, kind string) map[string]any {
		for _, i := range ct["identities"].([]any) {
			if i := i.(map[string]any); i["kind"] == kind {
				return i
			}
		}
		t.Fatalf("no %s identity in %v", kind, ct)
		return nil
	}

	signed := k.visitor()
	signed.hello("", map[string]any{"identity": map[string]any{"id": "u-1", "jwt": identityJWT(secret, map[string]any{
		"sub": "u-1", "email": "ann@example.com", "name": "Ann Signed", "exp": time.Now().Add(time.Hour).Unix()})}})
	ct := contactOf(signed, "s-1")
	if num(ct["id"]) != owner {
		t.Errorf("a JWT's signed address did not join its owner %d: %v", owner, ct)
	}
	if i := identity(ct, "chat_user"); i["email"] != "ann@example.com" || i["email_verified"] != true || i["name_verified"] != true || i["verified"] != true {
		t.Errorf("the JWT identity: %v", i)
	}

	unsigned := k.visitor()
	unsigned.hello("", map[string]any{"identity": map[string]any{"id": "u-2", "email": "Bob@Example.com", "name": "Bob", "hash": identityHash(secret, "u-2")}})
	ct = contactOf(unsigned, "u-1")
	if num(ct["id"]) == owner || ct["email"] != "bob@example.com" || ct["email_verified"] != false || ct["name"] != "Bob" || ct["name_verified"] != false {
		t.Errorf("a hash identity's contact: %v", ct)
	}
	if i := identity(ct, "chat_user"); i["email"] != "bob@example.com" || i["email_verified"] != false || i["name_verified"] != false || i["verified"] != false {
		t.Errorf("the hash identity: %v", i)
	}
	for _, i := range ct["identities"].([]any) {
		if i.(map[string]any)["kind"] == "email" {
			t.Errorf("an unsigned address became an e-mail identity: %v", i)
		}
	}

	// Mail from an address a widget visitor only claimed opens a contact of its own:
	// the claim links nobody, in either direction.
	d, err = sink{k.srv}.Deliver(ctx, connectors.Inbound{InboxID: mail.ID, Identity: connectors.Identity{Kind: "email", ExternalID: "bob@example.com", Name: "Bob"},
		ExternalID: "<2@example.com>", Subject: "Hi", Text: "it's the real Bob"})
	if err != nil {
		t.Fatal(err)
	}
	if d.ContactID == num(ct["id"]) {
		t.Errorf("mail from bob@example.com joined the widget contact %d that only claimed the address", d.ContactID)
	}
}

// Merging keeps a verified address over one the person only claimed: replies by e-mail
// go to the contact's address, and must never go to an address a widget visitor typed.
func TestMergeKeepsTheVerifiedAddress(t *testing.T) {
	k := startKibo(t)
	secret := k.identityInbox()
	ctx := context.Background()
	v := k.visitor()
	v.hello("", map[string]any{"identity": map[string]any{"id": "u-9", "email": "someone.else@corp.example", "hash": identityHash(secret, "u-9")}})
	conv := num(v.say("m-1", "hi")["conversation_id"])
	var c map[string]any
	k.api("GET", fmt.Sprintf("/api/v1/conversations/%d", conv), k.agentToken, nil, &c, 200)
	widgetContact := num(c["contact"].(map[string]any)["id"])

	mail, err := k.st.CreateInbox(ctx, "email", "Mail", "", map[string]any{"address": "support@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	d, err := sink{k.srv}.Deliver(ctx, connectors.Inbound{InboxID: mail.ID, Identity: connectors.Identity{Kind: "email", ExternalID: "real@example.com"},
		ExternalID: "<m@example.com>", Subject: "Order", Text: "it's me, by mail"})
	if err != nil {
		t.Fatal(err)
	}
	var merged map[string]any
	k.api("POST", fmt.Sprintf("/api/v1/contacts/%d/merge", widgetContact), k.agentToken, map[string]any{"other_id": d.ContactID}, &merged, 200)
	if merged["email"] != "real@example.com" || merged["email_verified"] != true {
		t.Errorf("after the merge the contact's address is %v (verified %v), want the e-mail identity's real@example.com", merged["email"], merged["email_verified"])
	}
}

// A GDPR export or erasure finds a person's unlinked sources (a quarantined mail) by
// their addresses: never by one they only claimed in the widget, which may be someone
// else's. Otherwise a visitor who typed a customer's address could ask for their data
// and receive that customer's mail, or have it erased with their own.
func TestExportAndErasureIgnoreAClaimedAddress(t *testing.T) {
	k := startKibo(t)
	secret := k.identityInbox()
	ctx := context.Background()
	v := k.visitor()
	v.hello("", map[string]any{"identity": map[string]any{"id": "u-7", "email": "victim@corp.example", "hash": identityHash(secret, "u-7")}})
	conv := num(v.say("x-1", "send me my data")["conversation_id"])
	var c map[string]any
	k.api("GET", fmt.Sprintf("/api/v1/conversations/%d", conv), k.agentToken, nil, &c, 200)
	claimer := num(c["contact"].(map[string]any)["id"])
	mail, err := k.st.CreateInbox(ctx, "email", "Mail", "", map[string]any{"address": "support@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	const body = "From: victim@corp.example\r\nSubject: my payslip\r\n\r\nthe victim's private mail"
	if err := k.st.Quarantine(ctx, mail.ID, []byte(body), "unparseable", nil); err != nil {
		t.Fatal(err)
	}
	var ex map[string]any
	k.api("GET", fmt.Sprintf("/api/v1/contacts/%d/export", claimer), k.adminToken, nil, &ex, 200)
	if b, _ := json.Marshal(ex["raw_sources"]); strings.Contains(string(b), "payslip") {
		t.Error("the export of a contact who only claimed the address holds that address's mail")
	}
	k.api("POST", fmt.Sprintf("/api/v1/contacts/%d/erase", claimer), k.adminToken, map[string]any{"confirm": true}, nil, 200)
	if n, err := k.st.Quarantined(ctx); err != nil || n[mail.ID] != 1 {
		t.Errorf("erasing the claimer erased the address's quarantined mail: %v %v", n, err)
	}
}

// closedWithin reads the visitor's socket until the server closes it, for at most d;
// it returns the close code (0 when it stayed open) and every text frame read.
func (v *visitor) closedWithin(d time.Duration) (int, []string) {
	var frames []string
	v.c.SetReadDeadline(time.Now().Add(d))
	for {
		_, b, err := v.c.ReadMessage()
		if err != nil {
			var ce *websocket.CloseError
			if errors.As(err, &ce) {
				return ce.Code, frames
			}
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				return 0, frames
			}
			return -1, frames
		}
		frames = append(frames, string(b))
	}
}

// Erasing a contact closes their open widgets, and the next visitor gets ids the erased
// one never held: V's old socket can't receive W's replies, nor write into W's
// conversation.
func TestErasureClosesTheWidgetAndNoIDComesBack(t *testing.T) {
	k := startKibo(t)
	v := k.visitor()
	v.hello("", nil)
	ack := v.say("v-1", "I am V")
	convV, msgV := num(ack["conversation_id"]), num(ack["id"])
	var c map[string]any
	k.api("GET", fmt.Sprintf("/api/v1/conversations/%d", convV), k.agentToken, nil, &c, 200)
	contactV := num(c["contact"].(map[string]any)["id"])
	k.api("POST", fmt.Sprintf("/api/v1/contacts/%d/erase", contactV), k.adminToken, map[string]any{"confirm": true}, nil, 200)
	if code, frames := v.closedWithin(3 * time.Second); code != 4004 {
		t.Errorf("the erased visitor's socket: close code %d after %v, want 4004 at once", code, frames)
	}

	w := k.visitor()
	w.hello("", nil)
	ackW := w.say("w-1", "I am W")
	convW, msgW := num(ackW["conversation_id"]), num(ackW["id"])
	k.api("GET", fmt.Sprintf("/api/v1/conversations/%d", convW), k.agentToken, nil, &c, 200)
	if contactW := num(c["contact"].(map[string]any)["id"]); convW <= convV || msgW <= msgV || contactW <= contactV {
		t.Errorf("ids after the erasure: conversation %d→%d, message %d→%d, contact %d→%d", convV, convW, msgV, msgW, contactV, contactW)
	}
}

// Deleting a conversation closes its widgets; the visitor's widget starts afresh and
// nothing more is filed under the deleted ticket.
func TestDeletingAConversationClosesItsWidget(t *testing.T) {
	k := startKibo(t)
	v := k.visitor()
	token := v.hello("", nil)["token"].(string)
	conv := num(v.say("d-1", "spam spam")["conversation_id"])
	k.api("DELETE", fmt.Sprintf("/api/v1/conversations/%d", conv), k.adminToken, nil, nil, 204)
	if code, _ := v.closedWithin(3 * time.Second); code != 4004 {
		t.Errorf("the deleted conversation's socket: close code %d, want 4004", code)
	}
	again := k.visitor()
	w := again.hello(token, nil)
	if w["conversation_id"] != nil || len(w["messages"].([]any)) != 0 {
		t.Errorf("the welcome after the deletion: %v", w)
	}
	if next := num(again.say("d-2", "hello again")["conversation_id"]); next == conv {
		t.Error("a message after the deletion was filed under the deleted conversation")
	}
}

// A page (or a script) sending typing frames as fast as it likes reaches the agents as
// about one event a second, and they end with its last state: 500 frames used to be
// 500 events on every agent page.
func TestWidgetTypingFloodIsCoalesced(t *testing.T) {
	k := startKibo(t)
	v := k.visitor()
	v.hello("", nil)
	conv := num(v.say("t-1", "hello")["conversation_id"])
	agent := k.agentSocket(0)
	readEvent(t, agent, "hello")
	for i := 0; i < 500; i++ {
		v.send(map[string]any{"type": "typing", "on": i%2 == 0})
	}
	v.send(map[string]any{"type": "typing", "on": true})
	var events []bool
	agent.SetReadDeadline(time.Now().Add(2500 * time.Millisecond))
	for {
		var f map[string]any
		if err := agent.ReadJSON(&f); err != nil {
			break
		}
		if f["type"] == "typing" && num(f["conversation_id"]) == conv {
			events = append(events, f["on"] == true)
		}
	}
	if len(events) == 0 || len(events) > 4 {
		t.Fatalf("501 typing frames reached the agent as %d events, want 1 to 4", len(events))
	}
	if !events[len(events)-1] {
		t.Errorf("the agent's last typing event is off, the visitor's last frame on: %v", events)
	}
}

// nonLoopback is an address of this machine other than loopback, or "" when it has none.
func nonLoopback() string {
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() {
			return n.IP.String()
		}
	}
	return ""
}

// One address may open only so many conversations (a token bucket: 20 at once, then 6
// a minute) and sockets (100): 50 sockets from one address opened 50 conversations in
// a second. Loopback is exempt: it is this machine, a reverse proxy or a load test.
func TestWidgetLimitsPerAddress(t *testing.T) {
	ip := nonLoopback()
	if ip == "" {
		t.Skip("this machine has no address but loopback to come from")
	}
	k := startKibo(t)
	ln, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Fatal(err)
	}
	go k.srv.Listen(ln)
	remote := *k
	remote.base = "http://" + ln.Addr().String()

	open := func(k *testKibo, n int) (acked, limited int) {
		for i := 0; i < n; i++ {
			v := k.visitor()
			v.hello("", nil)
			v.send(map[string]any{"type": "message", "client_id": fmt.Sprint("c-", i), "text": "hi"})
			for {
				f, err := v.nextAny()
				if err != nil {
					t.Fatalf("visitor %d: %v", i, err)
				}
				if f["type"] == "ack" {
					acked++
					break
				}
				if f["type"] == "error" && f["code"] == "rate_limited" {
					limited++
					break
				}
			}
		}
		return acked, limited
	}
	if acked, limited := open(&remote, 30); acked < 20 || acked > 21 || limited != 30-acked {
		t.Errorf("30 new visitors from %s: %d conversations opened, %d refused; want the burst of 20 (one more at most)", ip, acked, limited)
	}
	if acked, _ := open(k, 30); acked != 30 {
		t.Errorf("30 new visitors from loopback: %d conversations opened, want all", acked)
	}

	// sockets: a generous cap per address; the 30 visitors above are still open
	for i := 31; i <= 101; i++ {
		v, _, err := remote.dialWidget("https://shop.example")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { v.c.Close() })
		if i < 100 {
			continue
		}
		code, _ := v.closedWithin(300 * time.Millisecond)
		if i == 100 && code != 0 || i == 101 && code != websocket.CloseTryAgainLater {
			t.Errorf("socket %d from one address: close code %d", i, code)
		}
	}
}

// nextAny reads the next frame, whatever its type.
func (v *visitor) nextAny() (map[string]any, error) {
	v.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	var f map[string]any
	err := v.c.ReadJSON(&f)
	return f, err
}

// /widget/check answers a widget whose socket was refused. An unknown key and a
// refused origin get the same answer: it tells nothing about which keys exist.
func TestWidgetCheckSaysOnlyAvailableOrNot(t *testing.T) {
	k := startKibo(t)
	k.api("PATCH", fmt.Sprintf("/api/v1/inboxes/%d", k.inboxID), k.adminToken, map[string]any{"settings": map[string]any{"allowed_origins": []string{"https://shop.example"}}}, nil, 200)
	check := func(key, origin string) string {
		req, _ := http.NewRequest("GET", k.base+"/widget/check?inbox="+url.QueryEscape(key), nil)
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || resp.Header.Get("Access-Control-Allow-Origin") != "*" {
			t.Fatalf("check %q from %q: %d %v", key, origin, resp.StatusCode, resp.Header)
		}
		return strings.TrimSpace(string(b))
	}
	if got := check(k.publicKey, "https://shop.example"); got != `{"available":true}` {
		t.Errorf("an allowed site: %s", got)
	}
	refused, unknown := check(k.publicKey, "https://elsewhere.example"), check("no-such-key", "https://shop.example")
	if refused != `{"available":false}` || unknown != refused {
		t.Errorf("a refused site: %s; an unknown key: %s; want the same {\"available\":false}", refused, unknown)
	}
}
