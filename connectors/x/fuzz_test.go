package x

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParseWebhook feeds the parser arbitrary bodies: it must never panic, and what it
// accepts must carry the ids the store needs.
func FuzzParseWebhook(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "aaa_*.json"))
	if err != nil {
		f.Fatal(err)
	}
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, "")
		f.Add(b, ownID)
	}
	f.Add([]byte(`{"for_user_id":"1","direct_message_events":[{"type":"message_create","id":"2","created_timestamp":"-1","message_create":{"sender_id":"1","target":{"recipient_id":"3"},"message_data":{"text":"x","attachment":{"type":"media","media":{"type":"video","video_info":{"variants":[{"url":"%zz"}]}}}}}}]}`), "")
	f.Fuzz(func(t *testing.T, body []byte, own string) {
		got, err := ParseWebhook(1, own, body)
		if err != nil {
			if got != nil {
				t.Fatal("an error must come with nothing parsed")
			}
			return
		}
		for _, in := range got {
			if in.ExternalID == "" || in.Identity.ExternalID == "" || in.Identity.Kind != Kind {
				t.Fatalf("accepted a message without its ids: %+v", in)
			}
			if !json.Valid(in.Raw) {
				t.Fatalf("Raw is not JSON: %q", in.Raw)
			}
		}
	})
}
