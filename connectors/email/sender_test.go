package email

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"log"
	"math/big"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"kibo/connectors"
	"kibo/connectors/netguard"
)

// ---- a real SMTP server (go-smtp) that records what it receives ----

type received struct {
	from string
	to   []string
	raw  []byte
}

type smtpBackend struct {
	mu       sync.Mutex
	msgs     []received
	dataErrs []error // answers to the next DATA commands, then success
	rcptErr  error
	authUser string
	authPass string
	authed   int
}

func (b *smtpBackend) NewSession(*smtp.Conn) (smtp.Session, error) { return &smtpSession{b: b}, nil }

func (b *smtpBackend) received() []received {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]received(nil), b.msgs...)
}

type smtpSession struct {
	b    *smtpBackend
	from string
	to   []string
}

func (s *smtpSession) AuthMechanisms() []string { return []string{sasl.Plain} }
func (s *smtpSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, username, password string) error {
		if username != s.b.authUser || password != s.b.authPass {
			return &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "Authentication credentials invalid"}
		}
		s.b.mu.Lock()
		s.b.authed++
		s.b.mu.Unlock()
		return nil
	}), nil
}
func (s *smtpSession) Reset()        { s.from, s.to = "", nil }
func (s *smtpSession) Logout() error { return nil }
func (s *smtpSession) Mail(from string, _ *smtp.MailOptions) error {
	if s.b.authUser != "" {
		s.b.mu.Lock()
		authed := s.b.authed
		s.b.mu.Unlock()
		if authed == 0 {
			return &smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 0}, Message: "Authentication required"}
		}
	}
	s.from = from
	return nil
}
func (s *smtpSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	if s.b.rcptErr != nil {
		return s.b.rcptErr
	}
	s.to = append(s.to, to)
	return nil
}
func (s *smtpSession) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.b.mu.Lock()
	defer s.b.mu.Unlock()
	if len(s.b.dataErrs) > 0 {
		err := s.b.dataErrs[0]
		s.b.dataErrs = s.b.dataErrs[1:]
		return err
	}
	s.b.msgs = append(s.b.msgs, received{s.from, s.to, raw})
	return nil
}

func startSMTP(t testing.TB, be *smtpBackend, tlsConfig *tls.Config) int {
	t.Helper()
	s := smtp.NewServer(be)
	s.Domain = "mx.test"
	s.AllowInsecureAuth = true
	s.TLSConfig = tlsConfig
	s.ReadTimeout, s.WriteTimeout = 10*time.Second, 10*time.Second
	s.ErrorLog = log.New(io.Discard, "", 0)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(ln)
	t.Cleanup(func() { s.Close() })
	return ln.Addr().(*net.TCPAddr).Port
}

func smtpConfig(port int) Config {
	return Config{
		AllowPrivateHosts: true, // the test servers listen on loopback
		Address:           "support@example.com",
		IMAP:              ServerConfig{Host: "127.0.0.1", Port: 1, TLS: TLSNone},
		SMTP:              ServerConfig{Host: "127.0.0.1", Port: port, TLS: TLSNone},
		Timeout:           5 * time.Second,
	}
}

func reply() connectors.Outbound {
	return connectors.Outbound{
		MessageID:      9,
		ConversationID: 3,
		Recipient:      connectors.Identity{Kind: "email", ExternalID: "karl.meyer@example.com", Email: "karl.meyer@example.com", Name: "Karl Meyer"},
		Subject:        "RE: Re: Printer broken [#1042]",
		Text:           "Hello Karl,\n\nplease try the driver at https://example.com/driver?v=2&os=win.\nIt fixes <this> & that.\n\nSam",
		InReplyTo:      "<DB9PR01MB1234ABCD@example.com>",
		References:     []string{"<orig.1@example.com>", "kibo.out.77@example.com"},
		AuthorName:     "Sam Ström",
	}
}

func TestSendWritesAThreadedMultipartReply(t *testing.T) {
	t.Parallel()
	be := &smtpBackend{authUser: "support@example.com", authPass: "smtp-secret"}
	cfg := smtpConfig(startSMTP(t, be, nil))
	cfg.SMTP.Username, cfg.SMTP.Password = "support@example.com", "smtp-secret"
	s := NewSender(cfg)

	m := reply()
	m.MessageIDHeader = "<reply.9@example.com>"
	m.Attachments = []connectors.Attachment{
		{Filename: "Übersicht März.pdf", ContentType: "application/pdf", Data: []byte("%PDF-1.4 fake")},
		{Filename: "../../etc/passwd", ContentType: "text/plain", Data: []byte("just a file")},
	}
	id, err := s.Send(context.Background(), m)
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	if id != "<reply.9@example.com>" {
		t.Errorf("Send returned id %q", id)
	}
	got := be.received()
	if len(got) != 1 {
		t.Fatalf("server received %d messages", len(got))
	}
	if got[0].from != "support@example.com" || len(got[0].to) != 1 || got[0].to[0] != "karl.meyer@example.com" {
		t.Errorf("envelope %q -> %q", got[0].from, got[0].to)
	}
	raw := got[0].raw
	hdr, _, _ := readTopHeader(raw)
	for key, want := range map[string]string{
		"Message-Id":   "<reply.9@example.com>",
		"In-Reply-To":  "<DB9PR01MB1234ABCD@example.com>",
		"References":   "<orig.1@example.com> <kibo.out.77@example.com> <DB9PR01MB1234ABCD@example.com>",
		"Mime-Version": "1.0",
	} {
		if v := hdr.Get(key); v != want {
			t.Errorf("%s: %q, want %q", key, v, want)
		}
	}
	if !strings.HasPrefix(hdr.Get("Content-Type"), "multipart/mixed") {
		t.Errorf("Content-Type %q", hdr.Get("Content-Type"))
	}
	if !strings.Contains(hdr.Get("From"), "=?utf-8?") || !strings.Contains(hdr.Get("From"), "<support@example.com>") {
		t.Errorf("From %q is not RFC 2047 encoded", hdr.Get("From"))
	}
	if _, err := time.Parse(time.RFC1123Z, hdr.Get("Date")); err != nil {
		t.Errorf("Date %q: %v", hdr.Get("Date"), err)
	}
	for _, line := range bytes.Split(raw, []byte("\r\n")) {
		if len(line) > 998 {
			t.Fatalf("a line of %d bytes", len(line))
		}
		for _, c := range line {
			if c >= 0x80 {
				t.Fatalf("8-bit byte in %q", line)
			}
		}
	}

	// What a mail client sees, read back with our own parser.
	p, err := Parse(raw, 0)
	if err != nil {
		t.Fatal(err)
	}
	if p.Subject != "Re: Printer broken [#1042]" || p.SubjectToken != 1042 {
		t.Errorf("subject %q", p.Subject)
	}
	if p.From.Name != "Sam Ström" || p.From.Address != "support@example.com" {
		t.Errorf("from %+v", p.From)
	}
	if len(p.To) != 1 || p.To[0].Name != "Karl Meyer" {
		t.Errorf("to %+v", p.To)
	}
	if !strings.Contains(p.Text, "It fixes <this> & that.") {
		t.Errorf("text part %q", p.Text)
	}
	if !strings.Contains(p.HTML, "It fixes &lt;this&gt; &amp; that.") ||
		!strings.Contains(p.HTML, `<a href="https://example.com/driver?v=2&amp;os=win"`) {
		t.Errorf("html part %q", p.HTML)
	}
	if len(p.Attachments) != 2 {
		t.Fatalf("%d attachments", len(p.Attachments))
	}
	if a := p.Attachments[0]; a.Filename != "Übersicht März.pdf" || a.ContentType != "application/pdf" || string(a.Data) != "%PDF-1.4 fake" {
		t.Errorf("attachment 0: %q %q %q", a.Filename, a.ContentType, a.Data)
	}
	if a := p.Attachments[1]; a.Filename != "passwd" {
		t.Errorf("attachment 1 named %q", a.Filename)
	}
}

func TestSendWithoutAttachmentsIsAlternative(t *testing.T) {
	t.Parallel()
	be := &smtpBackend{}
	s := NewSender(smtpConfig(startSMTP(t, be, nil)))
	m := reply()
	m.Subject = "Printer broken" // no token and no Re: yet
	id, err := s.Send(context.Background(), m)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(id, "<") || !strings.HasSuffix(id, "@example.com>") || len(id) < 30 {
		t.Errorf("generated Message-ID %q", id)
	}
	raw := be.received()[0].raw
	hdr, _, _ := readTopHeader(raw)
	if !strings.HasPrefix(hdr.Get("Content-Type"), "multipart/alternative") {
		t.Errorf("Content-Type %q", hdr.Get("Content-Type"))
	}
	if hdr.Get("Message-Id") != id || hdr.Get("Subject") != "Re: Printer broken" {
		t.Errorf("Message-Id %q Subject %q", hdr.Get("Message-Id"), hdr.Get("Subject"))
	}
	if !bytes.Contains(raw, []byte("Content-Type: text/plain; charset=utf-8")) || !bytes.Contains(raw, []byte("Content-Type: text/html; charset=utf-8")) {
		t.Errorf("missing a part:\n%s", raw)
	}
}

func TestSendSortsFailures(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	// 4xx: retryable; the caller retries with the same Message-ID and it goes out.
	be := &smtpBackend{dataErrs: []error{&smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Try again later"}}}
	s := NewSender(smtpConfig(startSMTP(t, be, nil)))
	m := reply()
	m.MessageIDHeader = "<retry.1@example.com>"
	_, err := s.Send(ctx, m)
	if err == nil || connectors.IsPermanent(err) || !strings.Contains(err.Error(), "451") {
		t.Fatalf("4xx: got %v, want a retryable error", err)
	}
	id, err := s.Send(ctx, m)
	if err != nil || id != "<retry.1@example.com>" || len(be.received()) != 1 {
		t.Fatalf("retry: %q %v, %d received", id, err, len(be.received()))
	}

	// 5xx: permanent, with the server's words for the agent.
	be5 := &smtpBackend{rcptErr: &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such user here"}}
	_, err = NewSender(smtpConfig(startSMTP(t, be5, nil))).Send(ctx, reply())
	var perm *connectors.PermanentError
	if !errors.As(err, &perm) || perm.Reason != "the mail server refused the message: 550 5.1.1 No such user here" {
		t.Fatalf("5xx: got %v", err)
	}

	// Wrong SMTP password: permanent until the admin fixes it.
	beAuth := &smtpBackend{authUser: "u", authPass: "p"}
	cfg := smtpConfig(startSMTP(t, beAuth, nil))
	cfg.SMTP.Username, cfg.SMTP.Password = "u", "wrong"
	_, err = NewSender(cfg).Send(ctx, reply())
	if !errors.As(err, &perm) || !strings.Contains(perm.Reason, "refused the login: 535 5.7.8") {
		t.Fatalf("bad login: got %v", err)
	}

	// Nobody listening: retryable.
	_, err = NewSender(smtpConfig(freePort(t))).Send(ctx, reply())
	if err == nil || connectors.IsPermanent(err) || !strings.Contains(err.Error(), "refused the connection") {
		t.Fatalf("connection refused: got %v", err)
	}

	// A server that never answers: retryable, within the timeout.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	cfg = smtpConfig(ln.Addr().(*net.TCPAddr).Port)
	cfg.Timeout = 300 * time.Millisecond
	start := time.Now()
	_, err = NewSender(cfg).Send(ctx, reply())
	if err == nil || connectors.IsPermanent(err) || time.Since(start) > 3*time.Second {
		t.Fatalf("silent server: got %v after %s", err, time.Since(start))
	}

	// No address to send to: permanent.
	m = reply()
	m.Recipient = connectors.Identity{Kind: "email"}
	if _, err := s.Send(ctx, m); !connectors.IsPermanent(err) {
		t.Fatalf("no recipient: got %v", err)
	}
}

func TestSendOverStartTLSAndImplicitTLS(t *testing.T) {
	t.Parallel()
	serverTLS, clientTLS := testTLS(t)
	be := &smtpBackend{authUser: "support@example.com", authPass: "pw"}
	port := startSMTP(t, be, serverTLS)

	cfg := smtpConfig(port)
	cfg.SMTP.TLS = TLSStartTLS
	cfg.SMTP.Host = "localhost"
	cfg.SMTP.Username, cfg.SMTP.Password = "support@example.com", "pw"
	cfg.TLSConfig = clientTLS
	if _, err := NewSender(cfg).Send(context.Background(), reply()); err != nil {
		t.Fatalf("STARTTLS: %v", err)
	}
	if err := NewSender(cfg).Check(context.Background()); err != nil {
		t.Fatalf("Check over STARTTLS: %v", err)
	}

	// The certificate is not for this name: a clear TLS error.
	bad := cfg
	bad.TLSConfig = &tls.Config{RootCAs: clientTLS.RootCAs, ServerName: "other.example"}
	err := NewSender(bad).Check(context.Background())
	if err == nil || !strings.Contains(err.Error(), "STARTTLS handshake with SMTP server localhost:") {
		t.Fatalf("wrong name: got %v", err)
	}

	// Implicit TLS against a server that speaks plain SMTP on the port.
	plain := cfg
	plain.SMTP.TLS = TLSImplicit
	plain.Timeout = time.Second
	err = NewSender(plain).Check(context.Background())
	if err == nil || !strings.Contains(err.Error(), "TLS handshake with SMTP server") {
		t.Fatalf("TLS to a plain port: got %v", err)
	}

	// Implicit TLS for real.
	ln, err := tls.Listen("tcp", "127.0.0.1:0", serverTLS)
	if err != nil {
		t.Fatal(err)
	}
	srv := smtp.NewServer(be)
	srv.Domain, srv.AllowInsecureAuth, srv.ErrorLog = "mx.test", true, log.New(io.Discard, "", 0)
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	implicit := cfg
	implicit.SMTP.TLS = TLSImplicit
	implicit.SMTP.Port = ln.Addr().(*net.TCPAddr).Port
	if _, err := NewSender(implicit).Send(context.Background(), reply()); err != nil {
		t.Fatalf("implicit TLS: %v", err)
	}
	if n := len(be.received()); n != 2 {
		t.Errorf("%d messages received, want 2", n)
	}
}

func TestConnectorCheckJoinsBothServers(t *testing.T) {
	t.Parallel()
	be := &smtpBackend{authUser: "support@example.com", authPass: "pw"}
	cfg := smtpConfig(startSMTP(t, be, nil))
	cfg.SMTP.Username, cfg.SMTP.Password = "support@example.com", "bad"
	cfg.IMAP = ServerConfig{Host: "127.0.0.1", Port: freePort(t), TLS: TLSNone, Username: "support@example.com", Password: "x"}
	c, err := New(1, cfg, newMemStore(t))
	if err != nil {
		t.Fatal(err)
	}
	if c.Kind() != "email" {
		t.Errorf("Kind %q", c.Kind())
	}
	err = c.Check(context.Background())
	if err == nil || !strings.Contains(err.Error(), "IMAP server 127.0.0.1:") ||
		!strings.Contains(err.Error(), "SMTP login refused for support@example.com") {
		t.Fatalf("Check: %v", err)
	}
	if _, err := New(1, Config{Address: "not an address", IMAP: ServerConfig{TLS: "ssl"}}, newMemStore(t)); err == nil ||
		!strings.Contains(err.Error(), "not an e-mail address") || !strings.Contains(err.Error(), "tls must be tls, starttls or none") {
		t.Errorf("Validate: %v", err)
	}
}

// testTLS makes a self-signed certificate for localhost.
func testTLS(t testing.TB) (server, client *tls.Config) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "localhost"},
		DNSNames:              []string{"localhost"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}},
		&tls.Config{RootCAs: pool}
}

// Without AllowPrivateHosts, IMAP and SMTP servers on loopback are refused before a
// connection is made, with words that say which setting allows them.
func TestPrivateHostsNeedTheSetting(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var accepted atomic.Int32
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			c.Close()
		}
	}()
	port := ln.Addr().(*net.TCPAddr).Port
	cfg := Config{
		Address: "support@example.com",
		IMAP:    ServerConfig{Host: "127.0.0.1", Port: port, TLS: TLSNone, Username: "support@example.com", Password: "x"},
		SMTP:    ServerConfig{Host: "localhost", Port: port, TLS: TLSNone},
		Timeout: 5 * time.Second,
	}
	c, err := New(1, cfg, newMemStore(t))
	if err != nil {
		t.Fatal(err)
	}
	err = c.Check(context.Background())
	if !errors.Is(err, netguard.ErrBlocked) || !strings.Contains(err.Error(), "KIBO_ALLOW_PRIVATE_HOSTS") {
		t.Errorf("Check: %v", err)
	}
	if _, err := c.Send(context.Background(), reply()); !errors.Is(err, netguard.ErrBlocked) {
		t.Errorf("Send: %v", err)
	}
	if n := accepted.Load(); n != 0 {
		t.Errorf("%d connections reached the loopback server", n)
	}
}
