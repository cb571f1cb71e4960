package x

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"kibo/connectors"
	"kibo/connectors/connectortest"
)

const (
	ownID      = "4337869213"
	customerID = "3001969357"
	testSecret = "sEcReT-consumer"
)

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestCRCResponse(t *testing.T) {
	// Computed independently: base64(HMAC-SHA256("sEcReT-consumer", "crc-token-1516403560")).
	want := "sha256=a80XWKx9Dwy49NG5ioVMpC5ekpr+zJDaFiX+z8zAbBA="
	if got := CRCResponse(testSecret, "crc-token-1516403560"); got != want {
		t.Errorf("CRCResponse = %q, want %q", got, want)
	}
}

func TestValidCRCToken(t *testing.T) {
	body := string(readFixture(t, "aaa_dm_received.json"))
	tests := []struct {
		token string
		ok    bool
	}{
		{"crc-token-1516403560", true},
		{"NjgzMTk4OTQ0NzU0NTk2ODgw", true},
		{"abc+/=_-XYZ09", true},
		{strings.Repeat("a", MaxCRCTokenLength), true},
		{"", false},
		{strings.Repeat("a", MaxCRCTokenLength+1), false},
		{body, false},
		{`{"for_user_id":"1"}`, false},
		{"two words", false},
		{"tab\t", false},
		{"line\nbreak", false},
		{"ünïcode", false},
	}
	for _, tt := range tests {
		if got := ValidCRCToken(tt.token); got != tt.ok {
			t.Errorf("ValidCRCToken(%.40q) = %v, want %v", tt.token, got, tt.ok)
		}
	}
}

// The CRC answer is base64(HMAC(secret, token)), the very form of a body's signature:
// a token that is a webhook body would come back signed. The connector refuses such a
// token, and no token it answers is a body ParseWebhook takes.
func TestCRCIsNoSigningOracle(t *testing.T) {
	c, err := New(Config{InboxID: 1, UserID: ownID, ConsumerKey: "k", ConsumerSecret: testSecret, AccessToken: "a", AccessSecret: "b"})
	if err != nil {
		t.Fatal(err)
	}
	body := readFixture(t, "aaa_dm_received.json")
	for _, token := range []string{string(body), " " + string(body), string(bytes.TrimSpace(body))} {
		if answer, err := c.CRC(token); err == nil || answer != "" {
			t.Fatalf("CRC signed a webhook body: %q, %v", answer, err)
		}
	}
	if answer, err := c.CRC("crc-token-1516403560"); err != nil || answer != CRCResponse(testSecret, "crc-token-1516403560") {
		t.Fatalf("a real token: %q, %v", answer, err)
	}
	// Whatever a valid token is, it is not a body the parser takes.
	for _, token := range []string{"crc-token-1516403560", "e30=", "1", "null", "true", "-1"} {
		if _, err := c.CRC(token); err != nil {
			continue
		}
		if _, err := c.ParseWebhook([]byte(token)); err == nil {
			t.Errorf("token %q is also a webhook body", token)
		}
	}
}

func TestVerifySignature(t *testing.T) {
	body := readFixture(t, "aaa_dm_received.json")
	// Computed independently over the fixture's bytes.
	good := "sha256=lP35YgYzNhlXQ+WJXTUQbZJNOVz82FdU+S3ZxHnpbgo="
	tests := []struct {
		name   string
		secret string
		header string
		body   []byte
		want   bool
	}{
		{"good", testSecret, good, body, true},
		{"other secret", "other", good, body, false},
		{"tampered body", testSecret, good, bytes.Replace(body, []byte("Hello World!"), []byte("Hello World?"), 1), false},
		{"missing", testSecret, "", body, false},
		{"hex instead of base64", testSecret, "sha256=94fdf962063336195743e589", body, false},
		{"no prefix", testSecret, strings.TrimPrefix(good, "sha256="), body, false},
		{"not base64", testSecret, "sha256=!!!!", body, false},
		{"empty secret never verifies", "", CRCResponse("", string(body)), body, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := VerifySignature(tt.secret, tt.header, tt.body); got != tt.want {
				t.Errorf("VerifySignature = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestParseWebhookReceived(t *testing.T) {
	got, err := ParseWebhook(9, ownID, readFixture(t, "aaa_dm_received.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 {
		t.Fatalf("got %d messages", len(got))
	}
	in := got[0]
	want := connectors.Identity{Kind: "x", ExternalID: customerID, Name: "Jordan Brinks", Handle: "furiouscamper"}
	if in.Identity != want {
		t.Errorf("Identity = %+v, want %+v", in.Identity, want)
	}
	if in.InboxID != 9 || in.ExternalID != "954491830116155396" || in.Text != "Hello World!" || in.Echo {
		t.Errorf("got %+v", in)
	}
	if !in.SentAt.Equal(time.UnixMilli(1516403560557)) {
		t.Errorf("SentAt = %v", in.SentAt)
	}
	if in.Metadata["source_app_id"] != "13090192" {
		t.Errorf("Metadata = %v", in.Metadata)
	}
	var ev map[string]any
	if err := json.Unmarshal(in.Raw, &ev); err != nil || ev["id"] != "954491830116155396" || ev["users"] != nil {
		t.Errorf("Raw should be the one event: %s", in.Raw)
	}
}

func TestParseWebhookEcho(t *testing.T) {
	// No own id given: for_user_id says whose account this is.
	got, err := ParseWebhook(1, "", readFixture(t, "aaa_dm_sent.json"))
	if err != nil {
		t.Fatal(err)
	}
	in := got[0]
	if !in.Echo {
		t.Error("a message the account sent is an echo")
	}
	if in.Identity.ExternalID != customerID || in.Identity.Handle != "furiouscamper" {
		t.Errorf("the echo's identity is the customer it went to, got %+v", in.Identity)
	}
}

func TestParseWebhookMedia(t *testing.T) {
	got, err := ParseWebhook(1, ownID, readFixture(t, "aaa_dm_media.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("got %d messages", len(got))
	}
	photo := got[0]
	if photo.Text != "The box arrived like this, see https://example.com/orders/1042" {
		t.Errorf("Text = %q", photo.Text)
	}
	wantPhoto := connectors.Attachment{
		URL:         "https://pbs.twimg.com/dm_photo/954491812345678900/AbCdEfGh.jpg",
		ContentType: "image/jpeg",
		Filename:    "AbCdEfGh.jpg",
	}
	if len(photo.Attachments) != 1 || !sameAttachment(photo.Attachments[0], wantPhoto) {
		t.Errorf("photo attachments = %+v", photo.Attachments)
	}
	video := got[1]
	if video.Text != "" {
		t.Errorf("a media-only message has no text, got %q", video.Text)
	}
	wantVideo := connectors.Attachment{
		URL:         "https://video.twimg.com/dm_video/954491812345679000/vid/1280x720/hi.mp4",
		ContentType: "video/mp4",
		Filename:    "hi.mp4",
	}
	if len(video.Attachments) != 1 || !sameAttachment(video.Attachments[0], wantVideo) {
		t.Errorf("video attachments = %+v", video.Attachments)
	}
}

func sameAttachment(a, b connectors.Attachment) bool {
	return a.URL == b.URL && a.ContentType == b.ContentType && a.Filename == b.Filename && a.Data == nil
}

func TestParseWebhookOtherActivity(t *testing.T) {
	got, err := ParseWebhook(1, ownID, readFixture(t, "aaa_follow.json"))
	if err != nil || len(got) != 0 {
		t.Errorf("a follow event: %v, %v", got, err)
	}
}

func TestParseWebhookOtherAccount(t *testing.T) {
	_, err := ParseWebhook(1, "999", readFixture(t, "aaa_dm_received.json"))
	if !errors.Is(err, connectors.ErrMalformed) {
		t.Errorf("an event for another account: err = %v", err)
	}
	// without for_user_id the body names no account, so it can't be this inbox's
	body := bytes.Replace(readFixture(t, "aaa_dm_received.json"), []byte(`"for_user_id"`), []byte(`"for_someone"`), 1)
	if _, err := ParseWebhook(1, ownID, body); !errors.Is(err, connectors.ErrMalformed) {
		t.Errorf("an event without for_user_id: err = %v", err)
	}
}

func TestConnectorParseWebhookNeedsItsAccount(t *testing.T) {
	c, err := New(Config{InboxID: 1, ConsumerKey: "k", ConsumerSecret: testSecret, AccessToken: "a", AccessSecret: "b"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ParseWebhook(readFixture(t, "aaa_dm_received.json")); !errors.Is(err, connectors.ErrMalformed) {
		t.Errorf("an inbox that does not know its account took a webhook: %v", err)
	}
}

func TestParseWebhookMalformed(t *testing.T) {
	tests := []struct{ name, body string }{
		{"empty", ``},
		{"not JSON", `crc_token=abc`},
		{"truncated", `{"for_user_id":"1","direct_message_events":[{"type":"message_create"`},
		{"null", `null`},
		{"array", `[{"for_user_id":"1"}]`},
		{"events not a list", `{"for_user_id":"1","direct_message_events":{"id":"1"}}`},
		{"numeric id", `{"for_user_id":"1","direct_message_events":[{"type":"message_create","id":5,"message_create":{"sender_id":"2"}}]}`},
		{"no id", `{"for_user_id":"1","direct_message_events":[{"type":"message_create","message_create":{"sender_id":"2","target":{"recipient_id":"1"}}}]}`},
		{"no sender", `{"for_user_id":"1","direct_message_events":[{"type":"message_create","id":"5","message_create":{"target":{"recipient_id":"1"}}}]}`},
		{"no message_create", `{"for_user_id":"1","direct_message_events":[{"type":"message_create","id":"5"}]}`},
		{"echo without recipient", `{"for_user_id":"1","direct_message_events":[{"type":"message_create","id":"5","message_create":{"sender_id":"1"}}]}`},
		{"bad timestamp", `{"for_user_id":"1","direct_message_events":[{"type":"message_create","id":"5","created_timestamp":"yesterday","message_create":{"sender_id":"2"}}]}`},
		{"no for_user_id", `{"direct_message_events":[{"type":"message_create","id":"5","message_create":{"sender_id":"2"}}]}`},
		{"no for_user_id, no events", `{"users":{}}`},
		{"empty object", `{}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseWebhook(1, "", []byte(tt.body))
			var me *connectors.MalformedError
			if !errors.As(err, &me) || !errors.Is(err, connectors.ErrMalformed) {
				t.Fatalf("err = %v, want a *MalformedError", err)
			}
			if got != nil {
				t.Errorf("a malformed body must yield nothing, got %+v", got)
			}
		})
	}
}

func TestParseWebhookDuplicateDelivery(t *testing.T) {
	body := readFixture(t, "aaa_dm_received.json")
	sink := &connectortest.Sink{}
	for range 2 {
		got, err := ParseWebhook(1, ownID, body)
		if err != nil {
			t.Fatal(err)
		}
		for _, in := range got {
			if _, err := sink.Deliver(context.Background(), in); err != nil {
				t.Fatal(err)
			}
		}
	}
	if stored := sink.Stored(); len(stored) != 1 {
		t.Errorf("stored %d, want 1", len(stored))
	}
}
