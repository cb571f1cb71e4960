package email

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"strings"
	"time"
	"unicode"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"kibo/connectors"
)

// Sender sends agents' replies by SMTP.
type Sender struct {
	cfg Config
}

// NewSender makes a sender for one inbox.
func NewSender(cfg Config) *Sender {
	return &Sender{cfg: cfg.withDefaults()}
}

// Send writes the reply as MIME and hands it to the SMTP server. It returns the
// Message-ID it went out with: m.MessageIDHeader when set (the outbox fixes it before
// the first attempt, so a retry after an unanswered final dot is the same message to
// every mail client), else a new one.
//
// Errors: a 5xx answer is a *connectors.PermanentError with the server's words; a 4xx
// answer, a refused or dropped connection or a timeout is returned as it is, for the
// outbox to retry.
//
// The subject of a reply is ReplySubject(m.Subject, m.TicketNumber): one "Re:" and the
// ticket token ("[#1042]"), from TicketNumber or else found in m.Subject. A message
// outside any conversation (an alert to an agent) keeps its subject as it is.
func (s *Sender) Send(ctx context.Context, m connectors.Outbound) (string, error) {
	to := m.Recipient.Email
	if to == "" {
		to = m.Recipient.ExternalID
	}
	if !strings.Contains(to, "@") {
		return "", connectors.Permanent(fmt.Sprintf("the contact has no e-mail address (%q)", to), nil)
	}
	id := normalizeMsgID(m.MessageIDHeader)
	if id == "" {
		id = NewMessageID(s.cfg.Address)
	}
	raw, err := BuildReply(s.cfg.Address, m, id, time.Now())
	if err != nil {
		return "", connectors.Permanent("the reply cannot be written as e-mail", err)
	}
	if err := sendSMTP(ctx, s.cfg, s.cfg.Address, []string{to}, raw); err != nil {
		return "", err
	}
	return id, nil
}

// NewMessageID makes a fresh "<random@domain>" for the domain of address.
func NewMessageID(address string) string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return "<" + hex.EncodeToString(b[:]) + "@" + domainOf(address) + ">"
}

func domainOf(address string) string {
	if i := strings.LastIndexByte(address, '@'); i >= 0 && i < len(address)-1 {
		return strings.ToLower(address[i+1:])
	}
	return "kibo.invalid"
}

// normalizeMsgID returns id with angle brackets and nothing a header must not hold, or
// "" when nothing usable is left.
func normalizeMsgID(id string) string {
	id = strings.Map(func(r rune) rune {
		if r <= ' ' || r == '<' || r == '>' || r > '~' {
			return -1
		}
		return r
	}, id)
	if id == "" {
		return ""
	}
	return "<" + id + ">"
}

func bare(id string) string { return strings.TrimSuffix(strings.TrimPrefix(id, "<"), ">") }

// oneLine drops control characters (a CR or LF in a name or subject would start a new
// header).
func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)), " ")
}

// BuildReply writes the MIME message for an outbound reply: multipart/alternative with
// text/plain and text/html (the HTML made from the text when m.HTML is empty, and
// sanitised when it is not), inside multipart/mixed when there are attachments. Header
// text is RFC 2047 encoded where it is not ASCII; attachment names use RFC 2231.
func BuildReply(from string, m connectors.Outbound, messageID string, now time.Time) ([]byte, error) {
	to := m.Recipient.Email
	if to == "" {
		to = m.Recipient.ExternalID
	}
	var h mail.Header
	h.SetDate(now)
	h.SetAddressList("From", []*mail.Address{{Name: oneLine(m.AuthorName), Address: from}})
	h.SetAddressList("To", []*mail.Address{{Name: oneLine(m.Recipient.Name), Address: to}})
	subject := m.Subject
	if m.ConversationID != 0 {
		subject = ReplySubject(m.Subject, m.TicketNumber)
	}
	h.SetSubject(oneLine(subject))
	h.SetMessageID(bare(messageID))
	var refs []string
	for _, r := range m.References {
		if id := normalizeMsgID(r); id != "" && !containsID(refs, bare(id)) {
			refs = append(refs, bare(id))
		}
	}
	if irt := normalizeMsgID(m.InReplyTo); irt != "" {
		h.SetMsgIDList("In-Reply-To", []string{bare(irt)})
		// References end with the message answered (RFC 5322 3.6.4).
		if !containsID(refs, bare(irt)) {
			refs = append(refs, bare(irt))
		}
	}
	if len(refs) > 0 {
		h.SetMsgIDList("References", refs)
	}

	htmlBody := m.HTML
	if htmlBody == "" {
		htmlBody = TextToHTML(m.Text)
	} else {
		htmlBody = SanitizeHTML(htmlBody)
	}
	text := strings.ReplaceAll(m.Text, "\r\n", "\n")
	if text == "" && m.HTML != "" {
		text = HTMLToText(m.HTML)
	}

	var buf bytes.Buffer
	if len(m.Attachments) == 0 {
		h.SetContentType("multipart/alternative", nil)
		w, err := message.CreateWriter(&buf, h.Header)
		if err != nil {
			return nil, err
		}
		if err := writeAlternatives(w, text, htmlBody); err != nil {
			return nil, err
		}
		if err := w.Close(); err != nil {
			return nil, err
		}
		return buf.Bytes(), nil
	}
	h.SetContentType("multipart/mixed", nil)
	w, err := message.CreateWriter(&buf, h.Header)
	if err != nil {
		return nil, err
	}
	var ah message.Header
	ah.SetContentType("multipart/alternative", nil)
	alt, err := w.CreatePart(ah)
	if err != nil {
		return nil, err
	}
	if err := writeAlternatives(alt, text, htmlBody); err != nil {
		return nil, err
	}
	if err := alt.Close(); err != nil {
		return nil, err
	}
	for _, a := range m.Attachments {
		if a.Data == nil {
			return nil, fmt.Errorf("attachment %q has no data", a.Filename)
		}
		ct := a.ContentType
		if t, _, err := mime.ParseMediaType(ct); err != nil || t == "" {
			ct = "application/octet-stream"
		}
		name := oneLine(cleanFilename(a.Filename))
		if name == "" {
			name = "attachment"
		}
		var ph message.Header
		// Old clients read the RFC 2047 name in Content-Type, current ones the RFC 2231
		// filename in Content-Disposition (mime.FormatMediaType writes that form).
		ph.Set("Content-Type", mime.FormatMediaType(ct, map[string]string{"name": mime.QEncoding.Encode("utf-8", name)}))
		ph.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": name}))
		ph.Set("Content-Transfer-Encoding", "base64")
		pw, err := w.CreatePart(ph)
		if err != nil {
			return nil, err
		}
		if _, err := pw.Write(a.Data); err != nil {
			return nil, err
		}
		if err := pw.Close(); err != nil {
			return nil, err
		}
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func containsID(l []string, id string) bool {
	for _, x := range l {
		if x == id {
			return true
		}
	}
	return false
}

func writeAlternatives(w *message.Writer, text, htmlBody string) error {
	for _, p := range []struct{ ct, body string }{
		{"text/plain", text},
		{"text/html", htmlBody},
	} {
		var ph message.Header
		ph.SetContentType(p.ct, map[string]string{"charset": "utf-8"})
		ph.Set("Content-Transfer-Encoding", "quoted-printable")
		pw, err := w.CreatePart(ph)
		if err != nil {
			return err
		}
		if _, err := pw.Write([]byte(strings.ReplaceAll(p.body, "\n", "\r\n"))); err != nil {
			return err
		}
		if err := pw.Close(); err != nil {
			return err
		}
	}
	return w.Close()
}

// sendSMTP runs one SMTP transaction.
func sendSMTP(ctx context.Context, cfg Config, from string, to []string, raw []byte) error {
	c, err := connectSMTP(ctx, cfg)
	if err != nil {
		return smtpError(err)
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	if err := c.SendMail(from, to, bytes.NewReader(raw)); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("sending by SMTP: %w (%w)", ctx.Err(), err)
		}
		return smtpError(err)
	}
	_ = c.Quit()
	return nil
}

// connectSMTP dials by TLS mode, says EHLO with the inbox's domain and logs in when a
// username is set.
func connectSMTP(ctx context.Context, cfg Config) (*smtp.Client, error) {
	s := cfg.SMTP
	conn, err := dial(ctx, cfg, "SMTP", s)
	if err != nil {
		return nil, err
	}
	var c *smtp.Client
	if s.TLS == TLSStartTLS {
		c, err = smtp.NewClientStartTLS(conn, cfg.tlsConfig(s.Host))
		if err != nil {
			conn.Close()
			var se *smtp.SMTPError
			if errors.As(err, &se) {
				return nil, &ConnError{Msg: fmt.Sprintf("SMTP server %s refused STARTTLS", s.addr()), Err: err}
			}
			return nil, describeTLSError("SMTP", s, err)
		}
	} else {
		c = smtp.NewClient(conn)
	}
	c.CommandTimeout = cfg.Timeout
	c.SubmissionTimeout = max(cfg.Timeout, 5*time.Minute)
	// Until login completes, ctx ending must also end a server that went silent.
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	ok := false
	defer func() {
		if !ok {
			c.Close()
		}
	}()
	if err := c.Hello(domainOf(cfg.Address)); err != nil {
		// go-smtp finishes the STARTTLS handshake lazily, on this first exchange.
		if isTLSError(err) {
			return nil, describeTLSError("SMTP", s, err)
		}
		var se *smtp.SMTPError
		if errors.As(err, &se) {
			return nil, err
		}
		return nil, &ConnError{Msg: fmt.Sprintf("SMTP server %s did not greet (is it an SMTP server?)", s.addr()), Err: err}
	}
	if s.Username != "" {
		if err := c.Auth(sasl.NewPlainClient("", s.Username, s.Password)); err != nil {
			var se *smtp.SMTPError
			if errors.As(err, &se) {
				return nil, &ConnError{Msg: fmt.Sprintf("SMTP login refused for %s", s.Username), Auth: true, Err: err}
			}
			return nil, &ConnError{Msg: fmt.Sprintf("SMTP login failed for %s", s.Username), Err: err}
		}
	}
	ok = true
	return c, nil
}

// smtpError sorts SMTP failures into permanent (5xx) and retryable (everything else).
func smtpError(err error) error {
	var se *smtp.SMTPError
	if errors.As(err, &se) && se.Code >= 500 && se.Code < 600 {
		what := "the mail server refused the message"
		var ce *ConnError
		if errors.As(err, &ce) && ce.Auth {
			what = "the mail server refused the login"
		}
		return connectors.Permanent(fmt.Sprintf("%s: %s", what, smtpReply(se)), err)
	}
	return err
}

func smtpReply(se *smtp.SMTPError) string {
	s := fmt.Sprintf("%d", se.Code)
	if c := se.EnhancedCode; c != smtp.EnhancedCodeNotSet && c != smtp.NoEnhancedCode {
		s += fmt.Sprintf(" %d.%d.%d", c[0], c[1], c[2])
	}
	if se.Message != "" {
		s += " " + se.Message
	}
	return s
}

// checkSMTP connects and logs in, for "Test connection".
func checkSMTP(ctx context.Context, cfg Config) error {
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	c, err := connectSMTP(ctx, cfg)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.Quit()
	return nil
}

// Check connects and logs in to the SMTP server, for "Test connection".
func (s *Sender) Check(ctx context.Context) error {
	return checkSMTP(ctx, s.cfg)
}
