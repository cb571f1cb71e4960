package server

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-message/mail"

	"kibo/connectors"
	"kibo/store"
)

// Files attached to replies and notes: multipart/form-data on the messages route,
// stored like inbound files, sent by e-mail through a real SMTP exchange.

type formFile struct {
	name, ctype string
	data        []byte
}

// postForm sends a multipart reply and returns the status and the decoded answer.
func (k *testKibo) postForm(convID int64, token string, fields map[string]string, files ...formFile) (int, map[string]any) {
	k.t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for name, v := range fields {
		w.WriteField(name, v)
	}
	for _, f := range files {
		h := textproto.MIMEHeader{}
		h.Set("Content-Disposition", mime.FormatMediaType("form-data", map[string]string{"name": "file", "filename": f.name}))
		if f.ctype != "" {
			h.Set("Content-Type", f.ctype)
		}
		p, _ := w.CreatePart(h)
		p.Write(f.data)
	}
	w.Close()
	req, _ := http.NewRequest("POST", fmt.Sprintf("%s/api/v1/conversations/%d/messages", k.base, convID), &buf)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", w.FormDataContentType())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		k.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		k.t.Fatalf("answer %d is not JSON: %v: %.300s", resp.StatusCode, err, b)
	}
	return resp.StatusCode, out
}

func errCode(out map[string]any) string {
	e, _ := out["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func (k *testKibo) download(url string) (int, string, []byte) {
	k.t.Helper()
	req, _ := http.NewRequest("GET", k.base+url, nil)
	req.Header.Set("Authorization", "Bearer "+k.agentToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		k.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Content-Type"), b
}

func TestReplyAttachmentLimitsAndChannels(t *testing.T) {
	k := startKibo(t)
	convID, _ := k.chatConversation("Can you send me the manual?")
	pdf := formFile{"manual.pdf", "application/pdf", append([]byte("%PDF-1.4\n"), randomBytes(3000)...)}

	// the chat widget shows no files: refused before anything is stored
	code, out := k.postForm(convID, k.agentToken, map[string]string{"text": "Here it is"}, pdf)
	if code != 422 || errCode(out) != "unprocessable" || !strings.Contains(out["error"].(map[string]any)["message"].(string), "private note") {
		t.Fatalf("a file on a chat reply: %d %v", code, out)
	}
	if n := len(k.messages(convID)); n != 1 {
		t.Fatalf("a refused reply was stored: %d messages", n)
	}

	// a private note may carry files on any channel, also without text
	code, note := k.postForm(convID, k.agentToken, map[string]string{"text": "The customer's manual, for the record", "private": "true"}, pdf,
		formFile{`C:\Users\sam\Desktop\Ölwechsel plan.txt`, "", []byte("change the oil\n")})
	if code != 201 || note["private"] != true {
		t.Fatalf("a note with files: %d %v", code, note)
	}
	atts := note["attachments"].([]any)
	if len(atts) != 2 {
		t.Fatalf("attachments %v", atts)
	}
	a0, a1 := atts[0].(map[string]any), atts[1].(map[string]any)
	if a0["filename"] != "manual.pdf" || a0["content_type"] != "application/pdf" || num(a0["size"]) != int64(len(pdf.data)) {
		t.Errorf("first attachment %v", a0)
	}
	if a1["filename"] != "Ölwechsel plan.txt" || !strings.HasPrefix(a1["content_type"].(string), "text/plain") {
		t.Errorf("second attachment (path stripped, type sniffed) %v", a1)
	}
	status, _, got := k.download(a0["url"].(string))
	if status != 200 || !bytes.Equal(got, pdf.data) {
		t.Fatalf("download: %d, %d bytes", status, len(got))
	}
	code, onlyFile := k.postForm(convID, k.agentToken, map[string]string{"private": "true"}, formFile{"photo.png", "image/png", []byte("\x89PNG\r\n\x1a\nfake")})
	if code != 201 || len(onlyFile["attachments"].([]any)) != 1 {
		t.Fatalf("a note with only a file: %d %v", code, onlyFile)
	}
	// the file is stored once by its content hash under the data directory
	stored, err := k.st.AttachmentByID(t.Context(), num(a0["id"]))
	if err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(k.st.AttachmentPath(stored.SHA256)); err != nil || !bytes.Equal(b, pdf.data) {
		t.Fatalf("stored file %s: %v", stored.SHA256, err)
	}

	// limits: 20 MB a file, 25 MB together, answered 413 too_large before storing
	before := len(k.messages(convID))
	code, out = k.postForm(convID, k.agentToken, map[string]string{"text": "big", "private": "true"}, formFile{"big.bin", "", make([]byte, 20<<20+1)})
	if code != 413 || errCode(out) != "too_large" {
		t.Fatalf("a file over 20 MB: %d %v", code, out)
	}
	code, out = k.postForm(convID, k.agentToken, map[string]string{"text": "two", "private": "true"},
		formFile{"a.bin", "", make([]byte, 13<<20)}, formFile{"b.bin", "", make([]byte, 13<<20)})
	if code != 413 || errCode(out) != "too_large" {
		t.Fatalf("files over 25 MB together: %d %v", code, out)
	}
	if n := len(k.messages(convID)); n != before {
		t.Fatalf("a refused upload was stored: %d messages, want %d", n, before)
	}

	// bad forms say what is wrong; JSON works as before
	if code, out = k.postForm(convID, k.agentToken, map[string]string{"text": "x", "private": "maybe"}); code != 400 {
		t.Fatalf("private=maybe: %d %v", code, out)
	}
	if code, out = k.postForm(convID, k.agentToken, map[string]string{"private": "true"}); code != 422 {
		t.Fatalf("an empty note: %d %v", code, out)
	}
	var m map[string]any
	k.api("POST", fmt.Sprintf("/api/v1/conversations/%d/messages", convID), k.agentToken, map[string]any{"text": "Plain JSON still works"}, &m, 201)
	if atts := m["attachments"].([]any); len(atts) != 0 || m["text"] != "Plain JSON still works" {
		t.Fatalf("JSON reply %v", m)
	}
	code, out = k.postForm(convID, k.agentToken, map[string]string{"text": "A form reply without files"})
	if code != 201 || out["delivery"] != "sent" {
		t.Fatalf("a multipart chat reply without files: %d %v", code, out)
	}

	// Messenger refuses files from Kibo: so does the API, up front
	graph := newFakeGraph(t)
	var inbox map[string]any
	k.api("POST", "/api/v1/inboxes", k.adminToken, map[string]any{"kind": "messenger", "name": "Facebook", "settings": map[string]any{
		"page_id": "106171755573456", "page_access_token": "PAGE-TOKEN", "app_secret": "app-secret", "verify_token": "verify-me", "graph_base_url": graph.URL,
	}}, &inbox, 201)
	res, err := k.st.Ingest(t.Context(), store.Incoming{Inbound: connectors.Inbound{InboxID: num(inbox["id"]), Identity: connectors.Identity{Kind: "messenger", Scope: "106171755573456", ExternalID: "6738291543210987"},
		ExternalID: "mid.1", Text: "hello", SentAt: time.Now()}, ReuseOpen: true})
	if err != nil {
		t.Fatal(err)
	}
	code, out = k.postForm(res.ConversationID, k.agentToken, map[string]string{"text": "Here"}, pdf)
	if code != 422 || !strings.Contains(out["error"].(map[string]any)["message"].(string), "Messenger") {
		t.Fatalf("a file on a Messenger reply: %d %v", code, out)
	}
	if code, _ = k.postForm(res.ConversationID, k.agentToken, map[string]string{"text": "for us", "private": "true"}, pdf); code != 201 {
		t.Fatalf("a note with a file on Messenger: %d", code)
	}
	time.Sleep(300 * time.Millisecond) // the outbox has nothing to send: no Send API call
	if n := graph.sentCount(); n != 0 {
		t.Fatalf("%d sends to Messenger", n)
	}
}

func TestReplyAttachmentsGoOutByEmail(t *testing.T) {
	k := startKibo(t)
	dc := startTestDovecot(t)
	smtpBox, smtpPort := startSMTPSink(t)
	inbox := k.addEmailInbox(dc, smtpPort)
	dc.appendMail(t, `From: Karl Meyer <karl@example.org>
To: support@example.com
Subject: Invoice please
Message-ID: <inv-1@example.org>
Date: Thu, 26 Nov 2026 08:00:00 +0000
Content-Type: text/plain; charset=utf-8

Could you send me the invoice and a photo of the part?
`)
	var convID int64
	waitFor(t, "the mail to become a conversation", func() bool {
		var list struct {
			Conversations []map[string]any `json:"conversations"`
		}
		k.api("GET", fmt.Sprintf("/api/v1/conversations?inbox=%v", inbox["id"]), k.agentToken, nil, &list, 200)
		if len(list.Conversations) == 1 {
			convID = num(list.Conversations[0]["id"])
		}
		return convID != 0
	})

	invoice := formFile{"Rechnung März 2026.pdf", "application/pdf", append([]byte("%PDF-1.7\n"), randomBytes(1<<20)...)}
	photo := formFile{"part.png", "image/png", append([]byte("\x89PNG\r\n\x1a\n"), randomBytes(40000)...)}
	code, reply := k.postForm(convID, k.agentToken, map[string]string{"text": "Here are the invoice and the photo.", "private": "false"}, invoice, photo)
	if code != 201 || reply["delivery"] != "queued" || len(reply["attachments"].([]any)) != 2 {
		t.Fatalf("reply with files: %d %v", code, reply)
	}
	var raw string
	waitFor(t, "the reply over SMTP", func() bool {
		if r := smtpBox.received(); len(r) > 0 {
			raw = r[0]
			return true
		}
		return false
	})
	waitFor(t, "the reply marked sent", func() bool {
		m := k.messages(convID)
		return m[len(m)-1]["delivery"] == "sent"
	})

	// what arrives: multipart/mixed with the text and both files, byte for byte
	mr, err := mail.CreateReader(strings.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	if ct, _, _ := mr.Header.ContentType(); ct != "multipart/mixed" {
		t.Fatalf("Content-Type %q", ct)
	}
	if irt := header(raw, "In-Reply-To"); irt != "<inv-1@example.org>" {
		t.Errorf("In-Reply-To %q", irt)
	}
	type got struct {
		ctype string
		data  []byte
	}
	files := map[string]got{}
	var text string
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(p.Body)
		switch h := p.Header.(type) {
		case *mail.AttachmentHeader:
			name, err := h.Filename()
			if err != nil {
				t.Fatalf("filename: %v", err)
			}
			ct, _, _ := h.ContentType()
			files[name] = got{ct, b}
		case *mail.InlineHeader:
			if ct, _, _ := h.ContentType(); ct == "text/plain" {
				text = string(b)
			}
		}
	}
	if !strings.Contains(text, "Here are the invoice and the photo.") {
		t.Errorf("text part %q", text)
	}
	for _, f := range []formFile{invoice, photo} {
		g, ok := files[f.name]
		if !ok {
			t.Errorf("%q did not arrive; got %v", f.name, keys(files))
			continue
		}
		if g.ctype != f.ctype || !bytes.Equal(g.data, f.data) {
			t.Errorf("%q arrived as %s with %d bytes, want %s with %d", f.name, g.ctype, len(g.data), f.ctype, len(f.data))
		}
	}
	if len(files) != 2 {
		t.Errorf("attachments that arrived: %v", keys(files))
	}
	if n := smtpCount(smtpBox); n != 1 {
		t.Errorf("%d mails for one reply", n)
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
