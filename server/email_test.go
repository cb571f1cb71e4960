package server

import (
	"bytes"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-smtp"
)

// A real IMAP server (Dovecot, started by scripts/dovecot.sh) and a real SMTP exchange
// (go-smtp's server) around the whole desk: mail in, reply out, the answer threads.

type testDovecot struct {
	dir  string
	port int
}

func startTestDovecot(t *testing.T) *testDovecot {
	t.Helper()
	if os.Getenv("KIBO_SKIP_DOVECOT") == "1" {
		t.Skip("KIBO_SKIP_DOVECOT=1")
	}
	// not t.TempDir: Dovecot's processes run as other users and its sockets need a
	// short path
	dir, err := os.MkdirTemp("", "kibo-sdc-")
	if err != nil {
		t.Fatal(err)
	}
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	d := &testDovecot{dir: dir, port: port}
	script, _ := filepath.Abs("../scripts/dovecot.sh")
	run := func(args ...string) {
		cmd := exec.Command(script, args...)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			t.Fatalf("dovecot.sh %v: %v\n%s", args, err, out.String())
		}
	}
	t.Cleanup(func() { run("stop", dir); os.RemoveAll(dir) })
	run("start", dir, strconv.Itoa(port))
	return d
}

func (d *testDovecot) appendMail(t *testing.T, raw string) {
	t.Helper()
	c, err := imapclient.DialInsecure(fmt.Sprintf("127.0.0.1:%d", d.port), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login("support@example.com", "secret").Wait(); err != nil {
		t.Fatal(err)
	}
	raw = strings.ReplaceAll(raw, "\n", "\r\n")
	cmd := c.Append("INBOX", int64(len(raw)), &imap.AppendOptions{})
	cmd.Write([]byte(raw))
	cmd.Close()
	if _, err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
}

// smtpSink is an SMTP server that keeps what it is given.
type smtpSink struct {
	mu   sync.Mutex
	msgs []string
	rcpt []string
}

func (b *smtpSink) NewSession(*smtp.Conn) (smtp.Session, error) { return &smtpSinkSession{b: b}, nil }

type smtpSinkSession struct {
	b  *smtpSink
	to []string
}

func (s *smtpSinkSession) Reset()                               {}
func (s *smtpSinkSession) Logout() error                        { return nil }
func (s *smtpSinkSession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *smtpSinkSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.to = append(s.to, to)
	return nil
}
func (s *smtpSinkSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	s.b.mu.Lock()
	s.b.msgs = append(s.b.msgs, string(b))
	s.b.rcpt = append(s.b.rcpt, strings.Join(s.to, ","))
	s.b.mu.Unlock()
	return err
}

func (b *smtpSink) received() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.msgs...)
}

func startSMTPSink(t *testing.T) (*smtpSink, int) {
	b := &smtpSink{}
	s := smtp.NewServer(b)
	s.Domain = "mx.test"
	s.AllowInsecureAuth = true
	s.ErrorLog = log.New(io.Discard, "", 0)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(ln)
	t.Cleanup(func() { s.Close() })
	return b, ln.Addr().(*net.TCPAddr).Port
}

func header(raw, name string) string {
	for _, line := range strings.Split(raw, "\r\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.EqualFold(k, name) {
			return strings.TrimSpace(v)
		}
		if line == "" {
			break
		}
	}
	return ""
}

func TestEmailInboxEndToEnd(t *testing.T) {
	k := startKibo(t)
	dc := startTestDovecot(t)
	smtpBox, smtpPort := startSMTPSink(t)
	inbox := k.addEmailInbox(dc, smtpPort)
	id := int64(inbox["id"].(float64))
	if pw := inbox["settings"].(map[string]any)["imap"].(map[string]any)["password"]; pw != true {
		t.Fatalf("the password must be write-only, got %v", pw)
	}
	var tested map[string]any
	k.api("POST", fmt.Sprintf("/api/v1/inboxes/%d/test", id), k.adminToken, nil, &tested, 200)

	dc.appendMail(t, `From: Karl Meyer <karl@example.org>
To: support@example.com
Subject: Printer on fire
Message-ID: <first-1@example.org>
Date: Thu, 26 Nov 2026 08:00:00 +0000
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary="b1"

--b1
Content-Type: text/plain; charset=utf-8

My printer is on fire. Please help.
--b1
Content-Type: text/html; charset=utf-8

<p>My printer is <b>on fire</b>.<script>alert(1)</script><img src=x onerror="alert(2)"></p>
--b1--
`)
	var conv map[string]any
	waitFor(t, "the mail to become a conversation", func() bool {
		var list struct {
			Conversations []map[string]any `json:"conversations"`
		}
		k.api("GET", fmt.Sprintf("/api/v1/conversations?inbox=%d", id), k.agentToken, nil, &list, 200)
		if len(list.Conversations) == 1 {
			conv = list.Conversations[0]
			return true
		}
		return false
	})
	convID := int64(conv["id"].(float64))
	if conv["channel"] != "email" || conv["subject"] != "Printer on fire" || conv["contact"].(map[string]any)["email"] != "karl@example.org" {
		t.Fatalf("conversation %v", conv)
	}
	msgs := k.messages(convID)
	html := strings.ToLower(msgs[0]["html"].(string))
	if !strings.Contains(msgs[0]["text"].(string), "on fire") || strings.Contains(html, "<script") || strings.Contains(html, "onerror") {
		t.Fatalf("message %v", msgs[0])
	}

	var reply map[string]any
	k.api("POST", fmt.Sprintf("/api/v1/conversations/%d/messages", convID), k.agentToken, map[string]any{"text": "Unplug it, we are on our way."}, &reply, 201)
	var sent string
	waitFor(t, "the reply over SMTP", func() bool {
		if r := smtpBox.received(); len(r) > 0 {
			sent = r[0]
			return true
		}
		return false
	})
	number := int64(conv["number"].(float64))
	if got := header(sent, "Subject"); got != fmt.Sprintf("Re: Printer on fire [#%d]", number) {
		t.Errorf("subject %q", got)
	}
	if got := header(sent, "In-Reply-To"); got != "<first-1@example.org>" {
		t.Errorf("In-Reply-To %q", got)
	}
	if !strings.Contains(sent, "multipart/alternative") || !strings.Contains(sent, "Unplug it") {
		t.Errorf("body:\n%s", sent)
	}
	replyID := header(sent, "Message-ID")
	waitFor(t, "the reply marked sent", func() bool {
		m := k.messages(convID)
		return m[len(m)-1]["delivery"] == "sent"
	})

	// the customer answers from a client that keeps only In-Reply-To
	dc.appendMail(t, `From: Karl Meyer <karl@example.org>
To: support@example.com
Subject: AW: Printer on fire
Message-ID: <second-2@example.org>
In-Reply-To: `+replyID+`
Date: Thu, 26 Nov 2026 09:00:00 +0000
Content-Type: text/plain; charset=utf-8

Done, thanks!

On Thu, Support wrote:
> Unplug it, we are on our way.
`)
	waitFor(t, "the answer in the same conversation", func() bool { return len(k.messages(convID)) == 3 })
	if n := smtpCount(smtpBox); n != 1 {
		t.Fatalf("%d mails sent for one reply", n)
	}
	// an alert to an agent goes out through the same SMTP account, once
	for i := 0; i < 2; i++ {
		if err := k.srv.queueAlertEmail(t.Context(), "sam@example.com", "Data request due in 3 days", "Request #4 is due.", "test-alert-1"); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the alert over SMTP", func() bool { return smtpCount(smtpBox) == 2 })
	time.Sleep(200 * time.Millisecond)
	alert := smtpBox.received()[1]
	if smtpCount(smtpBox) != 2 || header(alert, "Subject") != "Data request due in 3 days" {
		t.Fatalf("alert mail: %d sent, subject %q", smtpCount(smtpBox), header(alert, "Subject"))
	}
}

func smtpCount(b *smtpSink) int { return len(b.received()) }

// addEmailInbox creates an e-mail inbox on the test Dovecot, sending through smtpPort.
func (k *testKibo) addEmailInbox(dc *testDovecot, smtpPort int) map[string]any {
	k.t.Helper()
	var inbox map[string]any
	k.api("POST", "/api/v1/inboxes", k.adminToken, map[string]any{"kind": "email", "name": "Support mail", "settings": map[string]any{
		"address": "support@example.com",
		"imap":    map[string]any{"host": "127.0.0.1", "port": dc.port, "tls": "none", "username": "support@example.com", "password": "secret", "mailbox": "INBOX"},
		"smtp":    map[string]any{"host": "127.0.0.1", "port": smtpPort, "tls": "none", "username": "", "password": ""},
	}}, &inbox, 201)
	return inbox
}

func TestEmailInboxTestConnectionSaysWhatIsWrong(t *testing.T) {
	k := startKibo(t)
	dc := startTestDovecot(t)
	var inbox map[string]any
	k.api("POST", "/api/v1/inboxes", k.adminToken, map[string]any{"kind": "email", "name": "Wrong password", "settings": map[string]any{
		"address": "support@example.com",
		"imap":    map[string]any{"host": "127.0.0.1", "port": dc.port, "tls": "none", "username": "support@example.com", "password": "not-the-password", "mailbox": "INBOX"},
		"smtp":    map[string]any{"host": "127.0.0.1", "port": 1, "tls": "none", "username": "", "password": ""},
	}}, &inbox, 201)
	var e map[string]map[string]string
	k.api("POST", fmt.Sprintf("/api/v1/inboxes/%v/test", inbox["id"]), k.adminToken, nil, &e, 422)
	msg := strings.ToLower(e["error"]["message"])
	if !strings.Contains(msg, "login") && !strings.Contains(msg, "password") && !strings.Contains(msg, "auth") {
		t.Fatalf("wrong password explained as %q", e["error"]["message"])
	}
	waitFor(t, "the inbox to show the failure", func() bool {
		var in map[string]any
		k.api("GET", fmt.Sprintf("/api/v1/inboxes/%v", inbox["id"]), k.adminToken, nil, &in, 200)
		return in["state"] == "error" && in["last_error"] != ""
	})
}
