package store

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"kibo/connectors"
)

// person is a customer who wrote on every channel, was merged into one contact, has a
// data request, queued replies, raw sources and attachments; bystander is someone else
// who must come through an erasure of the person untouched.
type person struct {
	contactID   int64
	merged      []int64 // the contacts merged into it
	convs       []int64
	requestID   int64
	ownFile     []byte // only the person sent this
	sharedFile  []byte // the bystander sent the same bytes
	bystanderID int64
	bystanderCv int64
}

// Distinctive strings that must not survive an erasure anywhere.
var personSecrets = []string{
	"Zebulon Quatermass", "zq@unique-example.org", "the purple elephant ate my invoice", "zq-chat-4711",
	"zq-psid-99001234", "zq-x-88007766", "@zquatermass", "hovercraft-manifest", "Quatermass Holdings",
}

func seedPerson(t *testing.T, s *Store) person {
	t.Helper()
	ctx := context.Background()
	chat, email, msgr, x := mustInbox(t, s, "chat"), mustInbox(t, s, "email"), mustInbox(t, s, "messenger"), mustInbox(t, s, "x")
	sam := mustAgent(t, s, "sam@example.com", "agent")
	p := person{ownFile: []byte("hovercraft-manifest: only Zebulon has this file"), sharedFile: []byte("the standard terms, sent by many")}
	ingest := func(in Incoming) Ingested {
		t.Helper()
		got, err := s.Ingest(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	c1 := ingest(Incoming{Inbound: connectors.Inbound{InboxID: chat.ID, Identity: connectors.Identity{Kind: "chat_user", Scope: itoa(chat.ID), ExternalID: "zq-chat-4711", Name: "Zebulon Quatermass"},
		ClientID: "c-1", Text: "Hello, the purple elephant ate my invoice. Please delete my data."}})
	c2 := ingest(Incoming{Inbound: connectors.Inbound{InboxID: email.ID, Identity: connectors.Identity{Kind: "email", ExternalID: "zq@unique-example.org", Name: "Zebulon Quatermass"},
		ExternalID: "<zq-1@unique-example.org>", Subject: "Invoice from Quatermass Holdings", Text: "See attached, the purple elephant ate my invoice.",
		Raw:         []byte("From: Zebulon Quatermass <zq@unique-example.org>\r\nSubject: Invoice\r\n\r\nthe purple elephant ate my invoice"),
		Attachments: []connectors.Attachment{{Filename: "manifest.txt", ContentType: "text/plain", Data: p.ownFile}, {Filename: "terms.txt", ContentType: "text/plain", Data: p.sharedFile}}}})
	c3 := ingest(Incoming{Inbound: connectors.Inbound{InboxID: msgr.ID, Identity: connectors.Identity{Kind: "messenger", Scope: "page-1", ExternalID: "zq-psid-99001234", Name: "Zebulon Quatermass"},
		ExternalID: "m_zq1", Text: "Messenger: the purple elephant ate my invoice",
		Raw: []byte(`{"sender":{"id":"zq-psid-99001234"},"message":{"text":"the purple elephant ate my invoice"}}`)}, ReuseOpen: true})
	c4 := ingest(Incoming{Inbound: connectors.Inbound{InboxID: x.ID, Identity: connectors.Identity{Kind: "x", ExternalID: "zq-x-88007766", Name: "Zebulon Quatermass", Handle: "@zquatermass"},
		ExternalID: "dm-zq-1", Text: "DM: the purple elephant ate my invoice"}, ReuseOpen: true})
	p.contactID = c2.ContactID
	p.merged = []int64{c1.ContactID, c3.ContactID, c4.ContactID}
	for _, other := range p.merged {
		if _, err := s.MergeContacts(ctx, p.contactID, other, sam.ID); err != nil {
			t.Fatal(err)
		}
	}
	p.convs = []int64{c1.ConversationID, c2.ConversationID, c3.ConversationID, c4.ConversationID}
	// an agent's reply waiting in the outbox, and a private note
	if _, err := s.AddAgentMessage(ctx, AgentMessage{ConversationID: c2.ConversationID, AgentID: sam.ID, AuthorName: "Sam",
		Text: "Dear Zebulon Quatermass, we are on it.", Queue: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddAgentMessage(ctx, AgentMessage{ConversationID: c1.ConversationID, AgentID: sam.ID, AuthorName: "Sam",
		Text: "Note: Zebulon Quatermass called too.", Private: true}); err != nil {
		t.Fatal(err)
	}
	// a bounce that could not be parsed, never linked to a message
	if err := s.Quarantine(ctx, email.ID, []byte("Final-Recipient: rfc822; zq@unique-example.org\r\n\r\nbroken"), "no boundary", nil); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 2, 3, 8, 0, 0, 0, time.UTC)
	n := newRequest(c1.ConversationID, "erasure", at)
	n.MessageID, n.Evidence, n.Lang = c1.MessageID, "Please delete my data", "en"
	dr, _, err := s.SuggestDataRequest(ctx, n)
	if err != nil {
		t.Fatal(err)
	}
	p.requestID = dr.ID
	ext := at.AddDate(0, 3, 0)
	if _, err := s.UpdateDataRequest(ctx, dr.ID, sam.ID, func(*DataRequest) (DataRequestUpdate, error) {
		return DataRequestUpdate{Status: ptr("open"), ExtendedDueAt: &ext, ExtendReason: "Zebulon Quatermass has records in four systems"}, nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RecordDataRequestAlert(ctx, dr.ID, "7d", []NewNotification{{AgentID: sam.ID, Kind: "data_request", Text: "Data request due", DedupeKey: fmt.Sprintf("dr:%d:7d:%d", dr.ID, sam.ID)}}, nil); err != nil {
		t.Fatal(err)
	}

	b := ingest(Incoming{Inbound: connectors.Inbound{InboxID: email.ID, Identity: connectors.Identity{Kind: "email", ExternalID: "bystander@example.net", Name: "Bea Bystander"},
		ExternalID: "<by-1@example.net>", Subject: "Terms", Text: "here are the terms again",
		Attachments: []connectors.Attachment{{Filename: "terms.txt", ContentType: "text/plain", Data: p.sharedFile}}}})
	p.bystanderID, p.bystanderCv = b.ContactID, b.ConversationID
	return p
}

// Every row of every table that points at the contact is in the export: the tables and
// their references are read from the schema, so a table added later is covered too.
func TestExportHoldsEveryRowAboutTheContact(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	p := seedPerson(t, s)
	if err := s.Audit(ctx, "agent", 1, "contact.export", "contact", itoa(p.contactID), map[string]any{"format": "zip"}); err != nil {
		t.Fatal(err)
	}
	before := s.QueryCount()
	ex, err := s.ExportContact(ctx, p.contactID)
	if err != nil {
		t.Fatal(err)
	}
	n := s.QueryCount() - before
	allRefs, _ := personRefs(ctx, s.query)
	otherTables, _, _ := relatedWhere(allRefs, 0, nil, nil)
	if n > int64(11+len(otherTables)) {
		t.Errorf("the export took %d statements; it must not grow with the data (%d other tables)", n, len(otherTables))
	}

	exported := map[string]map[int64]bool{}
	add := func(table string, id int64) {
		if exported[table] == nil {
			exported[table] = map[int64]bool{}
		}
		exported[table][id] = true
	}
	add("contacts", ex.Contact.ID)
	for _, i := range ex.Contact.Identities {
		add("identities", i.ID)
	}
	var msgIDs, convIDs []int64
	for _, c := range ex.Conversations {
		add("conversations", c.ID)
		convIDs = append(convIDs, c.ID)
		for _, m := range c.Messages {
			add("messages", m.ID)
			msgIDs = append(msgIDs, m.ID)
			for _, a := range m.Attachments {
				add("attachments", a.ID)
			}
		}
	}
	events := 0
	for _, d := range ex.DataRequests {
		add("data_requests", d.ID)
		events += len(d.History)
	}
	for _, r := range ex.RawSources {
		add("raw_sources", r.ID)
	}
	for _, o := range ex.Outbox {
		add("outbox", o.ID)
	}
	for _, a := range ex.Audit {
		add("audit_log", a.ID)
	}

	// What the database holds about them, table by table, found generically.
	held := map[string][]int64{}
	ids := func(q string, args ...any) []int64 {
		t.Helper()
		rows, err := s.r.Query(q, args...)
		if err != nil {
			t.Fatal(q, err)
		}
		defer rows.Close()
		var out []int64
		for rows.Next() {
			var id int64
			rows.Scan(&id)
			out = append(out, id)
		}
		return out
	}
	held["contacts"] = ids(`SELECT id FROM contacts WHERE id = ? OR merged_into = ?`, p.contactID, p.contactID)
	dbConvs := ids(`SELECT id FROM conversations WHERE contact_id = ?`, p.contactID)
	dbMsgs := ids(`SELECT id FROM messages WHERE conversation_id IN (SELECT value FROM json_each(?)) OR (author_kind = 'contact' AND author_id = ?)`, jsonIDs(dbConvs), p.contactID)
	refs, err := personRefs(ctx, s.query)
	if err != nil {
		t.Fatal(err)
	}
	if len(refs) < 8 {
		t.Fatalf("only %d references to people found in the schema: %v", len(refs), refs)
	}
	related := 0
	for _, r := range refs {
		arg := any(p.contactID)
		cond := `"` + r.Column + `" = ?`
		switch r.Parent {
		case "conversations":
			arg, cond = jsonIDs(dbConvs), `"`+r.Column+`" IN (SELECT value FROM json_each(?))`
		case "messages":
			arg, cond = jsonIDs(dbMsgs), `"`+r.Column+`" IN (SELECT value FROM json_each(?))`
		}
		switch r.Table {
		case "conversation_reads", "conversation_tags":
			continue // agents' read markers; tags are exported on the conversation
		case "contacts", "identities", "conversations", "messages", "attachments", "raw_sources", "outbox", "data_requests":
			held[r.Table] = append(held[r.Table], ids(`SELECT rowid FROM "`+r.Table+`" WHERE `+cond, arg)...)
		default:
			var n int
			s.r.QueryRow(`SELECT COUNT(*) FROM "`+r.Table+`" WHERE `+cond, arg).Scan(&n)
			related += n
			if len(ex.Related[r.Table]) < n {
				t.Errorf("%s: %d rows point at the contact, the export has %d", r.Table, n, len(ex.Related[r.Table]))
			}
		}
	}
	held["raw_sources"] = append(held["raw_sources"], ids(`SELECT id FROM raw_sources WHERE message_id IN (SELECT value FROM json_each(?))
		OR instr(CAST(body AS TEXT), 'zq@unique-example.org') > 0`, jsonIDs(dbMsgs))...)
	held["outbox"] = append(held["outbox"], ids(`SELECT id FROM outbox WHERE message_id IN (SELECT value FROM json_each(?)) OR conversation_id IN (SELECT value FROM json_each(?))`,
		jsonIDs(dbMsgs), jsonIDs(dbConvs))...)
	refsJSON, _ := json.Marshal([]string{itoa(p.contactID), itoa(p.merged[0]), itoa(p.merged[1]), itoa(p.merged[2])})
	held["audit_log"] = ids(`SELECT id FROM audit_log WHERE subject = 'contact' AND subject_ref IN (SELECT value FROM json_each(?))`, string(refsJSON))
	var dbEvents int
	s.r.QueryRow(`SELECT COUNT(*) FROM data_request_events WHERE request_id IN (SELECT id FROM data_requests WHERE contact_id = ?)`, p.contactID).Scan(&dbEvents)

	for table, list := range held {
		if len(list) == 0 && table != "contacts" {
			continue
		}
		for _, id := range list {
			if !exported[table][id] {
				t.Errorf("%s row %d is about the contact but not in the export", table, id)
			}
		}
	}
	for table, want := range map[string]int{"identities": 4, "conversations": 4, "messages": 6, "attachments": 2, "raw_sources": 3, "outbox": 1, "data_requests": 1, "audit_log": 4} {
		if len(held[table]) < want {
			t.Errorf("the fixture should hold at least %d %s rows, the database has %d", want, table, len(held[table]))
		}
	}
	if events != dbEvents || events < 2 {
		t.Errorf("%d history events exported, %d stored", events, dbEvents)
	}
	private := false
	for _, c := range ex.Conversations {
		for _, m := range c.Messages {
			private = private || (m.Private && strings.Contains(m.Text, "called too"))
		}
	}
	if !private {
		t.Error("the private note is not in the export, or not marked private")
	}
	t.Logf("exported: %d conversations, %d messages, %d raw sources, %d outbox rows, %d audit entries, %d rows of other tables",
		len(ex.Conversations), len(msgIDs), len(ex.RawSources), len(ex.Outbox), len(ex.Audit), related)
	_ = convIDs

	// The bystander is not in it.
	b, _ := json.Marshal(ex)
	if bytes.Contains(b, []byte("bystander@example.net")) || bytes.Contains(b, []byte("here are the terms again")) {
		t.Error("the export holds someone else's data")
	}
}

func TestExportZIPHasJSONFilesAndEscapedSummary(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	in := mustInbox(t, s, "email")
	got, err := s.Ingest(ctx, Incoming{Inbound: connectors.Inbound{InboxID: in.ID, Identity: connectors.Identity{Kind: "email", ExternalID: "evil@example.com", Name: `<script>alert("x")</script>`},
		Subject: "<img src=x onerror=alert(1)>", Text: "</pre><script>steal()</script>",
		Attachments: []connectors.Attachment{{Filename: "../../etc/passwd", ContentType: "text/plain", Data: []byte("file body")}}}})
	if err != nil {
		t.Fatal(err)
	}
	ex, err := s.ExportContact(ctx, got.ContactID)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := s.WriteZIP(ex, &buf); err != nil {
		t.Fatal(err)
	}
	z, err := zip.NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	for _, f := range z.File {
		if strings.Contains(f.Name, "..") || strings.HasPrefix(f.Name, "/") {
			t.Errorf("unsafe path in the ZIP: %q", f.Name)
		}
		r, _ := f.Open()
		files[f.Name], _ = io.ReadAll(r)
		r.Close()
	}
	for _, name := range []string{"contact.json", "conversations.json", "data_requests.json", "audit.json", "raw_sources.json", "outbox.json", "index.html"} {
		if _, ok := files[name]; !ok {
			t.Errorf("%s missing from the ZIP", name)
		}
	}
	var att []byte
	for name, body := range files {
		if strings.HasPrefix(name, "attachments/") {
			att = body
		}
	}
	if string(att) != "file body" {
		t.Errorf("attachment file: %q", att)
	}
	page := string(files["index.html"])
	if strings.Contains(page, "<script>") || strings.Contains(page, "<img src=x") || !strings.Contains(page, "&lt;script&gt;") {
		t.Errorf("customer data is not escaped in index.html:\n%s", page)
	}
	var convs []ExportConversation
	if err := json.Unmarshal(files["conversations.json"], &convs); err != nil || len(convs) != 1 || convs[0].Messages[0].Text != "</pre><script>steal()</script>" {
		t.Fatalf("conversations.json: %v %+v", err, convs)
	}
}
