package server

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"kibo/connectors"
	"kibo/connectors/netguard"
)

// A fifth channel is one package and one registration line: nothing in server/ knows
// it. The pigeon channel below lives only in this file (as it would in its own
// connectors/pigeon package) and is registered the way cmd/kibo registers the others;
// the test drives it through the API like an admin, its platform and an agent would.

const pigeonKind = "pigeon"

// pigeonChannel describes the test channel. Each inbox's connector is kept in conns,
// so the test can see what it was asked to send.
func pigeonChannel(conns *sync.Map) connectors.Channel {
	return connectors.Channel{
		Kind:    pigeonKind,
		Name:    "Carrier Pigeon",
		Secrets: []string{"loft_key"},
		Validate: func(ctx context.Context, s connectors.Settings, hosts netguard.Policy) error {
			return s.Require("loft", "loft_key")
		},
		Webhook: true,
		// unlike Messenger and X, every message that names no thread starts one
		ReuseOpen: false,
		Replies: connectors.Replies{
			Files:     true,
			FileTypes: []string{"image/*"},
			Check: func(d connectors.Draft) error {
				if d.Tag == "night" {
					return &connectors.Refusal{Code: "pigeons_sleep", Reason: "pigeons don't fly at night"}
				}
				return nil
			},
		},
		Connect: func(in connectors.Inbox, env connectors.Env) (connectors.Connector, error) {
			c := &pigeon{inboxID: in.ID, key: in.Settings.String("loft_key")}
			conns.Store(in.ID, c)
			return c, nil
		},
	}
}

// pigeon is the test channel's connector: its platform calls a webhook signed with
// the loft key, and takes replies through Send.
type pigeon struct {
	inboxID int64
	key     string

	mu   sync.Mutex
	sent []connectors.Outbound
}

func (p *pigeon) Kind() string { return pigeonKind }

func (p *pigeon) Run(ctx context.Context, sink connectors.Sink) error {
	<-ctx.Done()
	return nil
}

func (p *pigeon) Send(ctx context.Context, m connectors.Outbound) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.sent = append(p.sent, m)
	return fmt.Sprintf("flight-%d", len(p.sent)), nil
}

func (p *pigeon) outbound() []connectors.Outbound {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]connectors.Outbound(nil), p.sent...)
}

func (p *pigeon) Handshake(q url.Values) (connectors.WebhookAnswer, error) {
	if q.Get("loft_key") != p.key {
		return connectors.WebhookAnswer{}, errors.New("wrong loft")
	}
	return connectors.WebhookAnswer{ContentType: "text/plain; charset=utf-8", Body: []byte("coo " + q.Get("echo"))}, nil
}

func pigeonSign(key string, body []byte) string {
	m := hmac.New(sha256.New, []byte(key))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

func (p *pigeon) Verify(header func(string) string, body []byte) error {
	if !hmac.Equal([]byte(header("X-Pigeon-Signature")), []byte(pigeonSign(p.key, body))) {
		return errors.New("not our pigeon")
	}
	return nil
}

func (p *pigeon) Parse(body []byte) (connectors.WebhookEvents, error) {
	var note struct {
		ID, From, Name, Text string
		ReplyTo              string `json:"reply_to"`
	}
	if err := json.Unmarshal(body, &note); err != nil || note.ID == "" || note.From == "" {
		return connectors.WebhookEvents{}, &connectors.MalformedError{What: "pigeon note", Reason: "no id or sender", Err: err}
	}
	in := connectors.Inbound{InboxID: p.inboxID, ExternalID: note.ID, Text: note.Text, Raw: body,
		Identity: connectors.Identity{Kind: pigeonKind, ExternalID: note.From, Name: note.Name}}
	if note.ReplyTo != "" {
		in.ThreadRefs = []string{note.ReplyTo}
	}
	return connectors.WebhookEvents{Messages: []connectors.Inbound{in}}, nil
}

func (p *pigeon) Deliver(ctx context.Context, sink connectors.Sink, ev connectors.WebhookEvents) error {
	for _, m := range ev.Messages {
		if _, err := sink.Deliver(ctx, m); err != nil {
			return err
		}
	}
	return nil
}

func TestANewChannelNeedsNothingOfTheServer(t *testing.T) {
	var conns sync.Map
	k := startKiboTuned(t, nil, func(c *Config) { c.Channels.Register(pigeonChannel(&conns)) })

	// an admin creates the inbox: its settings checked by its rules, its secret hidden
	k.api("POST", "/api/v1/inboxes", k.adminToken, map[string]any{"kind": pigeonKind, "name": "Loft", "settings": map[string]any{"loft": "north"}}, nil, 422)
	var inbox map[string]any
	k.api("POST", "/api/v1/inboxes", k.adminToken, map[string]any{"kind": pigeonKind, "name": "Loft", "settings": map[string]any{
		"loft": "north", "loft_key": "seed-and-grit"}}, &inbox, 201)
	id := num(inbox["id"])
	if settings := inbox["settings"].(map[string]any); settings["loft_key"] != true || settings["loft"] != "north" {
		t.Errorf("settings shown as %v: the key must show only that it is set", settings)
	}
	hook := fmt.Sprintf("/webhooks/%s/%d", pigeonKind, id)
	if inbox["webhook_url"] != k.base+hook {
		t.Errorf("webhook_url %v, want %s", inbox["webhook_url"], k.base+hook)
	}
	// a PATCH that leaves the secret out keeps it
	k.api("PATCH", fmt.Sprintf("/api/v1/inboxes/%d", id), k.adminToken, map[string]any{"settings": map[string]any{"loft": "south", "loft_key": true}}, nil, 200)
	stored, err := k.st.Inbox(context.Background(), id)
	if err != nil || stored.Settings["loft_key"] != "seed-and-grit" || stored.Settings["loft"] != "south" {
		t.Fatalf("settings after the PATCH: %v, %v", stored.Settings, err)
	}

	// the platform's handshake, then its signed calls
	resp, err := http.Get(k.base + hook + "?loft_key=seed-and-grit&echo=42")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != "coo 42" {
		t.Fatalf("handshake: %d %q", resp.StatusCode, b)
	}
	resp, _ = http.Get(k.base + hook + "?loft_key=wrong")
	resp.Body.Close()
	if resp.StatusCode != 403 {
		t.Errorf("a wrong handshake: %d, want 403", resp.StatusCode)
	}
	send := func(note map[string]any) int {
		body, _ := json.Marshal(note)
		code, _ := k.post(hook, map[string]string{"X-Pigeon-Signature": pigeonSign("seed-and-grit", body)}, body)
		return code
	}
	if code, _ := k.post(hook, map[string]string{"X-Pigeon-Signature": "00"}, []byte(`{"id":"n0","from":"ann"}`)); code != 403 {
		t.Errorf("an unsigned note: %d, want 403", code)
	}
	if code := send(map[string]any{"text": "no sender"}); code != 400 {
		t.Errorf("a malformed note: %d, want 400", code)
	}
	for _, note := range []map[string]any{
		{"id": "n1", "from": "ann", "name": "Ann Aviary", "text": "Where is my seed order?"},
		{"id": "n1", "from": "ann", "name": "Ann Aviary", "text": "Where is my seed order?"}, // sent twice
		{"id": "n2", "from": "ann", "text": "Also, the cage is too small.", "reply_to": ""},
		{"id": "n3", "from": "ann", "text": "About the seed: any news?", "reply_to": "n1"},
	} {
		if code := send(note); code != 200 {
			t.Fatalf("note %v: %d", note["id"], code)
		}
	}

	// threaded as the channel says: no reuse of the open conversation, references join
	var list struct {
		Conversations []map[string]any `json:"conversations"`
	}
	k.api("GET", fmt.Sprintf("/api/v1/conversations?inbox=%d", id), k.agentToken, nil, &list, 200)
	if len(list.Conversations) != 2 {
		t.Fatalf("%d conversations, want 2 (a new one for n2, n3 joining n1's): %v", len(list.Conversations), list.Conversations)
	}
	var seedConv int64
	for _, c := range list.Conversations {
		if c["channel"] != pigeonKind || c["contact"].(map[string]any)["name"] != "Ann Aviary" {
			t.Errorf("conversation %v", c)
		}
		if msgs := k.messages(num(c["id"])); len(msgs) == 2 {
			seedConv = num(c["id"])
		}
	}
	if seedConv == 0 {
		t.Fatal("n3 did not join n1's conversation")
	}

	// an agent replies: the channel's rules first, then through the outbox
	var refused map[string]map[string]string
	k.api("POST", fmt.Sprintf("/api/v1/conversations/%d/messages", seedConv), k.agentToken, map[string]any{"text": "Tonight!", "tag": "night"}, &refused, 422)
	if refused["error"]["code"] != "pigeons_sleep" {
		t.Errorf("the channel's refusal came back as %v", refused)
	}
	code, out := k.postForm(seedConv, k.agentToken, map[string]string{"text": "the list"}, formFile{"notes.txt", "text/plain", []byte("a list")})
	if msg, _ := out["error"].(map[string]any)["message"].(string); code != 422 || !strings.Contains(msg, "Carrier Pigeon takes no text/plain files") {
		t.Errorf("a text file through a channel of images: %d %v", code, out)
	}
	var m map[string]any
	k.api("POST", fmt.Sprintf("/api/v1/conversations/%d/messages", seedConv), k.agentToken, map[string]any{"text": "It flies tomorrow."}, &m, 201)
	if m["delivery"] != "queued" {
		t.Errorf("reply delivery %v, want queued: replies go through the outbox", m["delivery"])
	}
	waitFor(t, "the reply to be sent", func() bool {
		msgs := k.messages(seedConv)
		return msgs[len(msgs)-1]["delivery"] == "sent"
	})
	c, _ := conns.Load(id)
	sent := c.(*pigeon).outbound()
	if len(sent) != 1 || sent[0].Text != "It flies tomorrow." || sent[0].Recipient.ExternalID != "ann" || sent[0].ConversationID != seedConv {
		t.Fatalf("the pigeon carried %+v", sent)
	}
}
