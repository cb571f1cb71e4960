package server

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

func TestWidgetAckAfterCommitAndResendIsIdempotent(t *testing.T) {
	k := startKibo(t)
	v := k.visitor()
	w := v.hello("", nil)
	token, _ := w["token"].(string)
	if len(token) < 16 || w["conversation_id"] != nil {
		t.Fatalf("welcome: %v", w)
	}
	ack := v.say("c-1", "Hello, my order is late")
	conv := num(ack["conversation_id"])
	// the ack came after the commit: the API sees the message now
	msgs := k.messages(conv)
	if len(msgs) != 1 || msgs[0]["text"] != "Hello, my order is late" || msgs[0]["direction"] != "in" {
		t.Fatalf("stored: %v", msgs)
	}
	again := v.say("c-1", "Hello, my order is late")
	if num(again["id"]) != num(ack["id"]) || again["created_at"] != ack["created_at"] {
		t.Fatalf("resend ack %v, first %v", again, ack)
	}
	// after a reconnect, the same client_id still maps to the stored message
	v.c.Close()
	v2 := k.visitor()
	w2 := v2.hello(token, nil)
	if num(w2["conversation_id"]) != conv || len(w2["messages"].([]any)) != 1 {
		t.Fatalf("welcome after reconnect: %v", w2)
	}
	again = v2.say("c-1", "Hello, my order is late")
	if num(again["id"]) != num(ack["id"]) {
		t.Fatal("resend after reconnect stored a new message")
	}
	if n := len(k.messages(conv)); n != 1 {
		t.Fatalf("%d messages stored, want 1", n)
	}
}

func TestWidgetLiveReplyTypingAndPrivateNotes(t *testing.T) {
	k := startKibo(t)
	v := k.visitor()
	token := v.hello("", nil)["token"].(string)
	conv := num(v.say("c-1", "hi")["conversation_id"])

	k.api("POST", fmt.Sprintf("/api/v1/conversations/%d/messages", conv), k.agentToken, map[string]any{"text": "internal: VIP", "private": true}, nil, 201)
	k.api("POST", fmt.Sprintf("/api/v1/conversations/%d/messages", conv), k.agentToken, map[string]any{"text": "Hi, I'm on it"}, nil, 201)
	m := v.must("message")
	if m["text"] != "Hi, I'm on it" || m["author"].(map[string]any)["name"] != "Sam" {
		t.Fatalf("pushed: %v (a private note must never reach the visitor)", m)
	}
	// history leaves the note out too
	v2 := k.visitor()
	w := v2.hello(token, nil)
	for _, x := range w["messages"].([]any) {
		if strings.Contains(fmt.Sprint(x), "internal") {
			t.Fatal("private note in the visitor's history")
		}
	}
}

func TestWidgetRefusesBadInput(t *testing.T) {
	k := startKibo(t)
	t.Run("first frame must be hello", func(t *testing.T) {
		v := k.visitor()
		v.send(map[string]any{"type": "message", "client_id": "x", "text": "sneaky"})
		f := v.must("error")
		if f["code"] != "unauthorized" {
			t.Fatalf("got %v", f)
		}
		if _, err := v.next("anything"); err == nil {
			t.Fatal("socket still open after a refused first frame")
		}
	})
	t.Run("bad json first", func(t *testing.T) {
		v := k.visitor()
		v.c.WriteMessage(websocket.TextMessage, []byte("{not json"))
		if f := v.must("error"); f["code"] != "unauthorized" {
			t.Fatalf("got %v", f)
		}
	})
	t.Run("oversized frame", func(t *testing.T) {
		v := k.visitor()
		v.hello("", nil)
		v.send(map[string]any{"type": "message", "client_id": "big", "text": strings.Repeat("x", 20*1024)})
		f, err := v.next("error")
		var ce *websocket.CloseError
		if !(err == nil && f["code"] == "too_large") && !(errors.As(err, &ce) && ce.Code == websocket.CloseMessageTooBig) {
			t.Fatalf("got %v %v", f, err)
		}
	})
	t.Run("bad frames after hello keep the socket", func(t *testing.T) {
		v := k.visitor()
		v.hello("", nil)
		v.c.WriteMessage(websocket.TextMessage, []byte(`["not","an","object"]`))
		if f := v.must("error"); f["code"] != "bad_request" {
			t.Fatalf("got %v", f)
		}
		v.send(map[string]any{"type": "message", "client_id": "", "text": "no id"})
		if f := v.must("error"); f["code"] != "bad_request" {
			t.Fatalf("got %v", f)
		}
		if a := v.say("ok-1", "still works"); a["id"] == nil {
			t.Fatal("no ack after bad frames")
		}
	})
	t.Run("forged token sees nothing", func(t *testing.T) {
		owner := k.visitor()
		owner.hello("", nil)
		owner.say("o-1", "secret order details")
		v := k.visitor()
		w := v.hello("forged-"+strings.Repeat("a", 30), nil)
		if len(w["messages"].([]any)) != 0 || w["conversation_id"] != nil {
			t.Fatalf("forged token got %v", w)
		}
		if w["token"] == "forged-"+strings.Repeat("a", 30) {
			t.Fatal("the server adopted a token the visitor chose")
		}
	})
}

func TestWidgetOriginAllowlist(t *testing.T) {
	k := startKibo(t)
	k.api("PATCH", fmt.Sprintf("/api/v1/inboxes/%d", k.inboxID), k.adminToken, map[string]any{"settings": map[string]any{"allowed_origins": []string{"https://shop.example"}}}, nil, 200)
	if _, resp, err := k.dialWidget("https://evil.example"); err == nil || resp == nil || resp.StatusCode != 403 {
		t.Fatalf("foreign origin: %v %v", err, resp)
	}
	if _, _, err := k.dialWidget("https://shop.example"); err != nil {
		t.Fatalf("allowed origin refused: %v", err)
	}
}

func TestWidgetVerifiedIdentity(t *testing.T) {
	k := startKibo(t)
	var inbox map[string]any
	k.api("POST", "/api/v1/inboxes", k.adminToken, map[string]any{"kind": "chat", "name": "App", "settings": map[string]any{}}, &inbox, 201)
	secret := inbox["identity_secret"].(string)
	k.publicKey = inbox["public_key"].(string)
	var again map[string]any
	k.api("GET", fmt.Sprintf("/api/v1/inboxes/%v", inbox["id"]), k.adminToken, nil, &again, 200)
	if _, leaked := again["identity_secret"]; leaked || again["settings"].(map[string]any)["identity_secret"] != true {
		t.Fatalf("identity secret shown again: %v", again)
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte("u-42"))
	good := hex.EncodeToString(mac.Sum(nil))

	v := k.visitor()
	v.hello("", map[string]any{"identity": map[string]any{"id": "u-42", "email": "ann@example.com", "name": "Ann", "hash": good}})
	conv := num(v.say("i-1", "hi from my account")["conversation_id"])
	var c map[string]any
	k.api("GET", fmt.Sprintf("/api/v1/conversations/%d", conv), k.adminToken, nil, &c, 200)
	if ct := c["contact"].(map[string]any); ct["email"] != "ann@example.com" || ct["name"] != "Ann" {
		t.Fatalf("contact %v", ct)
	}
	// the same user on another device sees the same conversation
	v2 := k.visitor()
	w := v2.hello("", map[string]any{"identity": map[string]any{"id": "u-42", "hash": good}})
	if num(w["conversation_id"]) != conv {
		t.Fatalf("second device: %v", w)
	}

	jwt := func(claims map[string]any) string {
		h := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`))
		b, _ := json.Marshal(claims)
		p := base64.RawURLEncoding.EncodeToString(b)
		m := hmac.New(sha256.New, []byte(secret))
		m.Write([]byte(h + "." + p))
		return h + "." + p + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
	}
	cases := []struct {
		name string
		id   map[string]any
		ok   bool
	}{
		{"valid jwt", map[string]any{"id": "u-42", "jwt": jwt(map[string]any{"sub": "u-42", "exp": time.Now().Add(time.Hour).Unix()})}, true},
		{"expired jwt", map[string]any{"id": "u-42", "jwt": jwt(map[string]any{"sub": "u-42", "exp": time.Now().Add(-time.Minute).Unix()})}, false},
		{"jwt for someone else", map[string]any{"id": "u-42", "jwt": jwt(map[string]any{"sub": "u-1", "exp": time.Now().Add(time.Hour).Unix()})}, false},
		{"wrong hash", map[string]any{"id": "u-1", "hash": good}, false},
		{"no proof", map[string]any{"id": "u-42"}, false},
	}
	for _, tc := range cases {
		v := k.visitor()
		v.send(map[string]any{"type": "hello", "token": "", "identity": tc.id})
		f, err := v.next("welcome")
		if tc.ok && (err != nil || num(f["conversation_id"]) != conv) {
			t.Errorf("%s: refused: %v %v", tc.name, f, err)
		}
		if !tc.ok && err == nil {
			t.Errorf("%s: accepted", tc.name)
		}
	}
}
