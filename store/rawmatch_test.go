package store

import (
	"archive/zip"
	"bytes"
	"context"
	"io"
	"sort"
	"strings"
	"testing"

	"kibo/connectors"
)

// Raw sources never linked to a message (quarantined mail, webhook bodies not yet
// processed) go into a person's export and erasure only when they name that person:
// the whole address or id, not a string that contains it.
func TestExportAndErasureMatchWholeAddressesAndIDs(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	email, x := mustInbox(t, s, "email"), mustInbox(t, s, "x")
	person, err := s.Ingest(ctx, Incoming{Inbound: connectors.Inbound{InboxID: email.ID, Identity: connectors.Identity{Kind: "email", ExternalID: "person@corp.com", Name: "Pat Person"},
		ExternalID: "<p-1@corp.com>", Subject: "Hello", Text: "my own mail"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Ingest(ctx, Incoming{Inbound: connectors.Inbound{InboxID: x.ID, Identity: connectors.Identity{Kind: "x", ExternalID: "12345", Name: "Pat Person"},
		ExternalID: "dm-1", Text: "my own DM"}}); err != nil {
		t.Fatal(err)
	}
	xContact, err := s.Ingest(ctx, Incoming{Inbound: connectors.Inbound{InboxID: x.ID, Identity: connectors.Identity{Kind: "x", ExternalID: "12345"}, ExternalID: "dm-2", Text: "again"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.MergeContacts(ctx, person.ContactID, xContact.ContactID, 1); err != nil {
		t.Fatal(err)
	}

	quarantine := func(raw string) {
		t.Helper()
		if err := s.Quarantine(ctx, email.ID, []byte(raw), "broken MIME", nil); err != nil {
			t.Fatal(err)
		}
	}
	webhook := func(body string) {
		t.Helper()
		if _, err := s.StoreWebhook(ctx, x.ID, "x-webhook", []byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	// someone else's, each containing the person's address or id as a substring
	quarantine("From: Other Person <other.person@corp.com>\r\nTo: support@example.com\r\nSubject: OTHER-1\r\n\r\nmine, not Pat's")
	quarantine("From: \"person@corp.com\" <other.person@corp.com>\r\nSubject: OTHER-2\r\n\r\na display name is not an address")
	quarantine("From: someone@elsewhere.example\r\nSubject: OTHER-3\r\n\r\nplease forward to person@corp.com.au")
	quarantine("From: xperson@corp.com\r\nSubject: OTHER-4\r\n\r\nbroken")
	webhook(`{"for_user_id":"42","direct_message_events":[{"type":"message_create","id":"9","message_create":{"sender_id":"912345","target":{"recipient_id":"42"},"message_data":{"text":"OTHER-5 12345"}}}],"users":{"912345":{"id":"912345","name":"Not Pat"}}}`)
	// the person's
	quarantine("From: Pat <Person@Corp.COM>\r\nSubject: PAT-1\r\n\r\nbroken")
	quarantine("From: mailer-daemon@example.com\r\nTo: support@example.com\r\nSubject: PAT-2\r\n\r\n--b\r\nContent-Type: message/delivery-status\r\n\r\nFinal-Recipient: rfc822; person@corp.com\r\n")
	quarantine("From: =?utf-8?q?P=C3=A4t?= <person@corp.com>\r\nTo: bad address here <<\r\nSubject: PAT-3\r\n\r\nbroken")
	quarantine("Subject: PAT-4\r\nCc: team@corp.com,\r\n person@corp.com\r\n\r\nfolded header")
	webhook(`{"for_user_id":"42","direct_message_events":[{"type":"message_create","id":"10","message_create":{"sender_id":"12345","target":{"recipient_id":"42"},"message_data":{"text":"PAT-5"}}}]}`)

	rawTags := func(list []*ExportRawSource) []string {
		var out []string
		for _, r := range list {
			for _, tag := range []string{"OTHER-1", "OTHER-2", "OTHER-3", "OTHER-4", "OTHER-5", "PAT-1", "PAT-2", "PAT-3", "PAT-4", "PAT-5"} {
				if strings.Contains(r.Body, tag) {
					out = append(out, tag)
				}
			}
		}
		sort.Strings(out)
		return out
	}
	ex, err := s.ExportContact(ctx, person.ContactID)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(rawTags(ex.RawSources), " "), "PAT-1 PAT-2 PAT-3 PAT-4 PAT-5"; got != want {
		t.Errorf("the export holds the raw sources %s, want %s", got, want)
	}
	var buf bytes.Buffer
	if err := s.WriteZIP(ex, &buf); err != nil {
		t.Fatal(err)
	}
	z, err := zip.NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range z.File {
		r, _ := f.Open()
		b, _ := io.ReadAll(r)
		r.Close()
		if bytes.Contains(b, []byte("OTHER-")) || bytes.Contains(b, []byte("other.person@")) {
			t.Errorf("%s in the ZIP holds someone else's mail", f.Name)
		}
	}

	res, err := s.EraseContact(ctx, person.ContactID, ErasureOptions{ActorID: 1})
	if err != nil {
		t.Fatal(err)
	}
	// the messages were stored without raw sources: all five are the unlinked ones
	if res.RawSources != 5 {
		t.Errorf("the erasure removed %d raw sources, want the person's 5", res.RawSources)
	}
	var left []string
	rows, err := s.query(ctx, `SELECT CAST(body AS TEXT) FROM raw_sources ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var b string
		rows.Scan(&b)
		left = append(left, b)
	}
	rows.Close()
	all := strings.Join(left, "\n")
	for _, tag := range []string{"OTHER-1", "OTHER-2", "OTHER-3", "OTHER-4", "OTHER-5"} {
		if !strings.Contains(all, tag) {
			t.Errorf("erasing person@corp.com deleted someone else's %s", tag)
		}
	}
	for _, tag := range []string{"PAT-1", "PAT-2", "PAT-3", "PAT-4", "PAT-5"} {
		if strings.Contains(all, tag) {
			t.Errorf("the erasure left the person's %s", tag)
		}
	}
}

func TestUpdateContactValidatesTheAddress(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	in := mustInbox(t, s, "chat")
	got, err := s.Ingest(ctx, Incoming{Inbound: connectors.Inbound{InboxID: in.ID, Identity: connectors.Identity{Kind: "visitor", Scope: itoa(in.ID), ExternalID: "v-1"}, ClientID: "c-1", Text: "hi"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"@corp.com", "not an email", "Pat <pat@corp.com>", "pat@", "pat@corp.com, eve@corp.com"} {
		if _, err := s.UpdateContact(ctx, got.ContactID, nil, &bad, 1); !isValidation(err) {
			t.Errorf("e-mail %q: err = %v, want a validation error", bad, err)
		}
	}
	good := "  pat@corp.com "
	c, err := s.UpdateContact(ctx, got.ContactID, nil, &good, 1)
	if err != nil || c.Email != "pat@corp.com" {
		t.Fatalf("a good address: %+v, %v", c, err)
	}
	empty := ""
	if c, err = s.UpdateContact(ctx, got.ContactID, nil, &empty, 1); err != nil || c.Email != "" {
		t.Fatalf("removing the address: %+v, %v", c, err)
	}
	if _, err := s.CreateAgent(ctx, "@corp.com", "Nobody", "agent", "x"); !isValidation(err) {
		t.Errorf("an agent with address @corp.com: %v", err)
	}
}

func isValidation(err error) bool {
	_, ok := err.(*ValidationError)
	return ok
}
