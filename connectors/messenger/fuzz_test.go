package messenger

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParseWebhook feeds the parser arbitrary bodies: it must never panic, and what it
// accepts must carry the ids the store needs.
func FuzzParseWebhook(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil {
		f.Fatal(err)
	}
	for _, name := range files {
		base := filepath.Base(name)
		if strings.HasPrefix(base, "message") || strings.HasPrefix(base, "batch") {
			b, err := os.ReadFile(name)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
		}
	}
	f.Add([]byte(`{"object":"page","entry":[{"id":"1","messaging":[{"sender":{"id":"2"},"recipient":{"id":"1"},"message":{"mid":"m","attachments":[{"type":"image","payload":"x"}]}}]}]}`))
	f.Add([]byte(`{"object":"page","entry":[{"messaging":[{"read":{}}]}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		ev, err := ParseWebhook(1, body)
		if err != nil {
			if len(ev.Messages)+len(ev.Receipts) != 0 {
				t.Fatal("an error must come with nothing parsed")
			}
			return
		}
		for _, in := range ev.Messages {
			if in.ExternalID == "" || in.Identity.ExternalID == "" || in.Identity.Kind != Kind {
				t.Fatalf("accepted a message without its ids: %+v", in)
			}
			if !json.Valid(in.Raw) {
				t.Fatalf("Raw is not JSON: %q", in.Raw)
			}
		}
		for _, r := range ev.Receipts {
			if r.PSID == "" || (r.Kind != "delivery" && r.Kind != "read") {
				t.Fatalf("bad receipt %+v", r)
			}
		}
	})
}
