package server

import (
	"encoding/json"
	"testing"

	"kibo/server/alerts"
)

// The alerts queue their e-mails as alerts.Mail and the outbox reads them back as its
// outboxPayload: the two must write the same JSON, or an alert goes out to nobody.
func TestAlertMailIsWhatTheOutboxReads(t *testing.T) {
	sent, _ := json.Marshal(alerts.Mail{To: "sam@example.com", Subject: "Due", Text: "Request 4 is due."})
	var read outboxPayload
	if err := json.Unmarshal(sent, &read); err != nil {
		t.Fatal(err)
	}
	if read != (outboxPayload{To: "sam@example.com", Subject: "Due", Text: "Request 4 is due."}) {
		t.Fatalf("the outbox reads %+v from %s", read, sent)
	}
	back, _ := json.Marshal(read)
	if string(back) != string(sent) {
		t.Fatalf("the outbox writes %s, the alerts %s", back, sent)
	}
}
