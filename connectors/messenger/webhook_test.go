package messenger

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"kibo/connectors"
	"kibo/connectors/connectortest"
)

const (
	testPage = "106171755573456"
	testPSID = "6738291543210987"
)

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func sign(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

func TestVerifyChallenge(t *testing.T) {
	cfg := Config{VerifyToken: "s3cret-verify"}
	tests := []struct {
		name  string
		cfg   Config
		query string
		want  string
		ok    bool
	}{
		{"matching token", cfg, "hub.mode=subscribe&hub.verify_token=s3cret-verify&hub.challenge=1158201444", "1158201444", true},
		{"wrong token", cfg, "hub.mode=subscribe&hub.verify_token=guess&hub.challenge=1158201444", "", false},
		{"token prefix", cfg, "hub.mode=subscribe&hub.verify_token=s3cret&hub.challenge=1158201444", "", false},
		{"missing token", cfg, "hub.mode=subscribe&hub.challenge=1158201444", "", false},
		{"wrong mode", cfg, "hub.mode=unsubscribe&hub.verify_token=s3cret-verify&hub.challenge=1158201444", "", false},
		{"no challenge", cfg, "hub.mode=subscribe&hub.verify_token=s3cret-verify", "", false},
		{"inbox without token", Config{}, "hub.mode=subscribe&hub.verify_token=&hub.challenge=1", "", false},
		// the answer is the challenge itself: only a plain token is echoed
		{"markup as challenge", cfg, "hub.mode=subscribe&hub.verify_token=s3cret-verify&hub.challenge=" + url.QueryEscape("<script>alert(1)</script>"), "", false},
		{"JSON as challenge", cfg, "hub.mode=subscribe&hub.verify_token=s3cret-verify&hub.challenge=" + url.QueryEscape(`{"object":"page"}`), "", false},
		{"overlong challenge", cfg, "hub.mode=subscribe&hub.verify_token=s3cret-verify&hub.challenge=" + strings.Repeat("1", 129), "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, err := url.ParseQuery(tt.query)
			if err != nil {
				t.Fatal(err)
			}
			got, ok := VerifyChallenge(tt.cfg, q)
			if got != tt.want || ok != tt.ok {
				t.Errorf("VerifyChallenge = %q, %v; want %q, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestVerifySignature(t *testing.T) {
	const secret = "a3f1c2d4e5b6a7980112233445566778"
	body := readFixture(t, "messages_text.json")
	good := sign(secret, body)
	tests := []struct {
		name   string
		secret string
		header string
		body   []byte
		want   bool
	}{
		{"good", secret, good, body, true},
		{"good with uppercase hex", secret, "sha256=" + strings.ToUpper(strings.TrimPrefix(good, "sha256=")), body, true},
		{"other secret", "another-secret", good, body, false},
		{"tampered body", secret, good, append(bytes.Clone(body), ' '), false},
		{"missing", secret, "", body, false},
		{"sha1 header", secret, "sha1=" + strings.TrimPrefix(good, "sha256="), body, false},
		{"not hex", secret, "sha256=zz" + good[9:], body, false},
		{"short", secret, good[:len(good)-2], body, false},
		{"empty secret never verifies", "", sign("", body), body, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := VerifySignature(tt.secret, tt.header, tt.body); got != tt.want {
				t.Errorf("VerifySignature = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestParseWebhookText(t *testing.T) {
	ev, err := ParseWebhook(7, readFixture(t, "messages_text.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(ev.Messages) != 1 || len(ev.Receipts) != 0 {
		t.Fatalf("got %d messages, %d receipts; want 1, 0", len(ev.Messages), len(ev.Receipts))
	}
	in := ev.Messages[0]
	want := connectors.Identity{Kind: "messenger", Scope: testPage, ExternalID: testPSID}
	if in.Identity != want {
		t.Errorf("Identity = %+v, want %+v", in.Identity, want)
	}
	if in.InboxID != 7 || in.Echo || in.Text != "hello, world!" {
		t.Errorf("InboxID %d, Echo %v, Text %q", in.InboxID, in.Echo, in.Text)
	}
	if in.ExternalID != "m_AG5Hz2Uq7tuwNEhXfYYKj8mJEM_QPpz5jdCK48PnKAjSdjfipqxqMvK8ma6AC8fplwlqLP_5cgXIbu7I3rBN0P" {
		t.Errorf("ExternalID = %q", in.ExternalID)
	}
	if !in.SentAt.Equal(time.UnixMilli(1458692752478)) {
		t.Errorf("SentAt = %v", in.SentAt)
	}
	if in.Metadata["quick_reply_payload"] != "<DEVELOPER_DEFINED_PAYLOAD>" {
		t.Errorf("Metadata = %v", in.Metadata)
	}
	var item map[string]any
	if err := json.Unmarshal(in.Raw, &item); err != nil {
		t.Fatalf("Raw is not JSON: %v", err)
	}
	if _, ok := item["message"]; !ok || item["entry"] != nil {
		t.Errorf("Raw should be the one messaging item, got %s", in.Raw)
	}
}

func TestParseWebhookReplyTo(t *testing.T) {
	ev, err := ParseWebhook(1, readFixture(t, "messages_reply_to.json"))
	if err != nil {
		t.Fatal(err)
	}
	if got := ev.Messages[0].ThreadRefs; len(got) != 1 || got[0] != "m_1fTq8oLumEyIp3Q2MR-aY7IfLZDamVrALniheU" {
		t.Errorf("ThreadRefs = %v", got)
	}
}

func TestParseWebhookAttachments(t *testing.T) {
	ev, err := ParseWebhook(1, readFixture(t, "messages_attachments.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(ev.Messages) != 1 {
		t.Fatalf("got %d messages", len(ev.Messages))
	}
	got := ev.Messages[0].Attachments
	want := []struct{ contentType, filename, urlPrefix string }{
		{"image/png", "28276428_10155489417436342_123456_n.png", "https://scontent.xx.fbcdn.net/"},
		{"application/pdf", "invoice-1042.pdf", "https://cdn.fbsbx.com/v/t59.2708-21/"},
		{"audio/mp4", "audioclip-1518479191000-2396.mp4", "https://cdn.fbsbx.com/v/t59.3654-21/"},
		{"video/mp4", "video-1518479192.mp4", "https://video.xx.fbcdn.net/"},
		{"text/html", "Example status page", "https://example.com/status"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d attachments, want %d (the location has no file): %+v", len(got), len(want), got)
	}
	for i, w := range want {
		a := got[i]
		if a.ContentType != w.contentType || a.Filename != w.filename || !strings.HasPrefix(a.URL, w.urlPrefix) {
			t.Errorf("attachment %d = %+v, want %+v", i, a, w)
		}
		if a.Data != nil {
			t.Errorf("attachment %d carries data; links only", i)
		}
	}
}

func TestParseWebhookEcho(t *testing.T) {
	ev, err := ParseWebhook(1, readFixture(t, "message_echoes.json"))
	if err != nil {
		t.Fatal(err)
	}
	in := ev.Messages[0]
	if !in.Echo {
		t.Error("Echo = false, want true")
	}
	// The contact of an echo is the customer it went to, not the page.
	if in.Identity.ExternalID != testPSID || in.Identity.Scope != testPage {
		t.Errorf("Identity = %+v", in.Identity)
	}
	if in.ExternalID != "m_1457764197618:41d102a3e1ae206a38" {
		t.Errorf("ExternalID = %q", in.ExternalID)
	}
	if in.Metadata["app_id"] != "1517776481860111" || in.Metadata["metadata"] != "<DEVELOPER_DEFINED_METADATA_STRING>" {
		t.Errorf("Metadata = %v", in.Metadata)
	}
}

func TestParseWebhookReceipts(t *testing.T) {
	ev, err := ParseWebhook(1, readFixture(t, "message_deliveries.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(ev.Messages) != 0 || len(ev.Receipts) != 1 {
		t.Fatalf("got %d messages, %d receipts", len(ev.Messages), len(ev.Receipts))
	}
	d := ev.Receipts[0]
	if d.Kind != "delivery" || d.PSID != testPSID || d.PageID != testPage ||
		len(d.MIDs) != 1 || d.MIDs[0] != "m_1458668856218:ed81099e15d3f4f233" ||
		!d.Watermark.Equal(time.UnixMilli(1458668856253)) {
		t.Errorf("delivery = %+v", d)
	}

	ev, err = ParseWebhook(1, readFixture(t, "message_reads.json"))
	if err != nil {
		t.Fatal(err)
	}
	r := ev.Receipts[0]
	if r.Kind != "read" || r.PSID != testPSID || len(r.MIDs) != 0 || !r.Watermark.Equal(time.UnixMilli(1458668856253)) {
		t.Errorf("read = %+v", r)
	}
}

func TestParseWebhookOutOfOrder(t *testing.T) {
	ev, err := ParseWebhook(1, readFixture(t, "batch_out_of_order.json"))
	if err != nil {
		t.Fatal(err)
	}
	// The postback is skipped; the read receipt ahead of the messages it covers, and the
	// later message ahead of the earlier one, are each taken as they are.
	if len(ev.Messages) != 2 || len(ev.Receipts) != 1 {
		t.Fatalf("got %d messages, %d receipts; want 2, 1", len(ev.Messages), len(ev.Receipts))
	}
	if ev.Messages[0].ExternalID != "m_second" || ev.Messages[1].ExternalID != "m_first" {
		t.Errorf("messages = %s, %s", ev.Messages[0].ExternalID, ev.Messages[1].ExternalID)
	}
	if !ev.Messages[1].SentAt.Before(ev.Messages[0].SentAt) {
		t.Error("SentAt should carry the real order")
	}
	if ev.Receipts[0].Kind != "read" {
		t.Errorf("receipt = %+v", ev.Receipts[0])
	}
}

func TestDuplicateDelivery(t *testing.T) {
	body := readFixture(t, "messages_text.json")
	first, err := ParseWebhook(1, body)
	if err != nil {
		t.Fatal(err)
	}
	again, err := ParseWebhook(1, body)
	if err != nil {
		t.Fatal(err)
	}
	if first.Messages[0].ExternalID != again.Messages[0].ExternalID {
		t.Fatal("the same mid must give the same ExternalID")
	}

	c := newTestConnector(t, profileServer(t, nil), nil)
	sink := &connectortest.Sink{}
	for _, ev := range []Events{first, again} {
		if err := c.DeliverMessages(context.Background(), sink, ev); err != nil {
			t.Fatal(err)
		}
	}
	if len(sink.Stored()) != 1 {
		t.Errorf("stored %d messages, want 1", len(sink.Stored()))
	}
}

func TestParseWebhookMalformed(t *testing.T) {
	tests := []struct{ name, body string }{
		{"empty", ``},
		{"not JSON", `<html>hello</html>`},
		{"truncated", `{"object":"page","entry":[{"id":"1","messaging":[{"sender":{"id":"2"}`},
		{"null", `null`},
		{"array", `[]`},
		{"instagram", `{"object":"instagram","entry":[]}`},
		{"entry not a list", `{"object":"page","entry":{"id":"1"}}`},
		{"numeric sender", `{"object":"page","entry":[{"id":"1","messaging":[{"sender":{"id":2},"recipient":{"id":"1"},"message":{"mid":"m_1","text":"x"}}]}]}`},
		{"timestamp as text", `{"object":"page","entry":[{"id":"1","messaging":[{"sender":{"id":"2"},"recipient":{"id":"1"},"timestamp":"soon","message":{"mid":"m_1"}}]}]}`},
		{"message without mid", `{"object":"page","entry":[{"id":"1","messaging":[{"sender":{"id":"2"},"recipient":{"id":"1"},"message":{"text":"x"}}]}]}`},
		{"message without sender", `{"object":"page","entry":[{"id":"1","messaging":[{"recipient":{"id":"1"},"message":{"mid":"m_1","text":"x"}}]}]}`},
		{"delivery without sender", `{"object":"page","entry":[{"id":"1","messaging":[{"recipient":{"id":"1"},"delivery":{"watermark":1}}]}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := ParseWebhook(1, []byte(tt.body))
			var me *connectors.MalformedError
			if !errors.As(err, &me) || !errors.Is(err, connectors.ErrMalformed) {
				t.Fatalf("err = %v, want a *MalformedError", err)
			}
			if len(ev.Messages) != 0 || len(ev.Receipts) != 0 {
				t.Errorf("a malformed body must yield nothing, got %+v", ev)
			}
		})
	}
}

func TestParseWebhookSkipsUnknownKinds(t *testing.T) {
	body := `{"object":"page","entry":[{"id":"1","time":1,"messaging":[
		{"sender":{"id":"2"},"recipient":{"id":"1"},"timestamp":1,"reaction":{"mid":"m_1","action":"react","emoji":"👍"}},
		{"sender":{"id":"2"},"recipient":{"id":"1"},"timestamp":1,"optin":{"ref":"x"}}]}]}`
	ev, err := ParseWebhook(1, []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if len(ev.Messages)+len(ev.Receipts) != 0 {
		t.Errorf("unknown kinds should be skipped, got %+v", ev)
	}
}

func TestParseWebhookStandby(t *testing.T) {
	body := `{"object":"page","entry":[{"id":"1","time":1,"standby":[
		{"sender":{"id":"2"},"recipient":{"id":"1"},"timestamp":1570053170673,"message":{"mid":"m_standby","text":"hello?"}}]}]}`
	ev, err := ParseWebhook(1, []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if len(ev.Messages) != 1 || ev.Messages[0].ExternalID != "m_standby" {
		t.Errorf("standby messages belong to the page too, got %+v", ev)
	}
}
