package email

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"syscall"
	"time"

	"kibo/connectors/mailaddr"
	"kibo/connectors/netguard"
)

// TLS modes of a server connection (the "tls" setting of an e-mail inbox).
const (
	TLSImplicit = "tls"      // TLS from the first byte (IMAP 993, SMTP 465)
	TLSStartTLS = "starttls" // plain connection upgraded by STARTTLS (IMAP 143, SMTP 587)
	TLSNone     = "none"     // no encryption: loopback and tests only
)

// ServerConfig is one IMAP or SMTP account, as in the inbox settings.
type ServerConfig struct {
	Host     string `json:"host"`
	Port     int    `json:"port"`
	TLS      string `json:"tls"`
	Username string `json:"username"`
	Password string `json:"password"`
	// Mailbox is the IMAP folder to read (default INBOX); unused for SMTP.
	Mailbox string `json:"mailbox,omitempty"`
}

func (s ServerConfig) addr() string { return net.JoinHostPort(s.Host, strconv.Itoa(s.Port)) }

// Config is one e-mail inbox.
type Config struct {
	// Address is the support address: the From of replies and, when IMAP.Username is
	// empty, the login.
	Address string
	IMAP    ServerConfig
	SMTP    ServerConfig
	// PollInterval is how often to look for new mail when the server has no IDLE
	// (default 1 minute).
	PollInterval time.Duration
	// MaxAttachment is the largest attachment kept, in bytes (default 25 MiB); larger
	// ones are recorded as TooLarge without data.
	MaxAttachment int64
	// OnStatus, when set, hears about the mailbox connection: (true, nil) once it is
	// logged in and synced, (false, err) on every failure. The inbox settings show it
	// and raise an alert when failures persist. Called from the receiving goroutine.
	OnStatus func(connected bool, err error)

	// AllowPrivateHosts lets the IMAP and SMTP hosts be loopback, private or link-local
	// addresses. Without it such a connection is refused (netguard), checked on the
	// address actually dialled; tests and a mail server beside Kibo need it.
	AllowPrivateHosts bool

	// TLSConfig overrides the TLS settings (tests with their own CA); nil is the
	// system roots with the server's host name.
	TLSConfig *tls.Config
	// Logger for connection events (default slog.Default()).
	Logger *slog.Logger
	// ReconnectMin and ReconnectMax bound the wait between reconnection attempts,
	// which doubles after each failure (defaults 1 s and 1 min).
	ReconnectMin, ReconnectMax time.Duration
	// IdleRefresh is how long one IDLE lasts before it is renewed with a re-sync
	// (default 25 minutes; servers may drop an IDLE after 30).
	IdleRefresh time.Duration
	// Timeout bounds dialling and each command exchange of Check and Send
	// (default 30 s).
	Timeout time.Duration
}

// Defaults.
const (
	DefaultPollInterval  = time.Minute
	DefaultMaxAttachment = 25 << 20
	defaultIdleRefresh   = 25 * time.Minute
	defaultReconnectMin  = time.Second
	defaultReconnectMax  = time.Minute
	defaultTimeout       = 30 * time.Second
)

// withDefaults fills in what was left empty.
func (c Config) withDefaults() Config {
	if c.PollInterval <= 0 {
		c.PollInterval = DefaultPollInterval
	}
	if c.MaxAttachment == 0 {
		c.MaxAttachment = DefaultMaxAttachment
	}
	if c.IMAP.Mailbox == "" {
		c.IMAP.Mailbox = "INBOX"
	}
	if c.IMAP.TLS == "" {
		c.IMAP.TLS = TLSImplicit
	}
	if c.SMTP.TLS == "" {
		c.SMTP.TLS = TLSStartTLS
	}
	if c.IMAP.Port == 0 {
		c.IMAP.Port = map[string]int{TLSImplicit: 993, TLSStartTLS: 143, TLSNone: 143}[c.IMAP.TLS]
	}
	if c.SMTP.Port == 0 {
		c.SMTP.Port = map[string]int{TLSImplicit: 465, TLSStartTLS: 587, TLSNone: 25}[c.SMTP.TLS]
	}
	if c.IMAP.Username == "" {
		c.IMAP.Username = c.Address
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.ReconnectMin <= 0 {
		c.ReconnectMin = defaultReconnectMin
	}
	if c.ReconnectMax <= 0 {
		c.ReconnectMax = defaultReconnectMax
	}
	if c.ReconnectMax < c.ReconnectMin {
		c.ReconnectMax = c.ReconnectMin
	}
	if c.IdleRefresh <= 0 {
		c.IdleRefresh = defaultIdleRefresh
	}
	if c.Timeout <= 0 {
		c.Timeout = defaultTimeout
	}
	return c
}

// Validate checks the settings an admin typed, with messages meant for them that name
// the setting to fix (docs/CHANNELS.md, "E-mail"). It is the one place their rules
// live: saving an inbox (Channel().Validate) and building its connector (New) both
// come here.
func (c Config) Validate() error {
	var errs []error
	if a, err := mailaddr.Parse(c.Address); err != nil {
		errs = append(errs, fmt.Errorf("address must be the inbox's e-mail address: %w", err))
	} else if a != c.Address {
		errs = append(errs, fmt.Errorf("address %q has spaces around it", c.Address))
	}
	check := func(name string, s ServerConfig) {
		if strings.TrimSpace(s.Host) == "" {
			errs = append(errs, fmt.Errorf("%s.host is missing", name))
		}
		if s.Port < 1 || s.Port > 65535 {
			errs = append(errs, fmt.Errorf("%s.port must be a port number, not %d", name, s.Port))
		}
		switch s.TLS {
		case TLSImplicit, TLSStartTLS, TLSNone:
		default:
			errs = append(errs, fmt.Errorf("%s.tls must be tls, starttls or none, not %q", name, s.TLS))
		}
	}
	check("imap", c.IMAP)
	check("smtp", c.SMTP)
	return errors.Join(errs...)
}

func (c Config) tlsConfig(host string) *tls.Config {
	var t *tls.Config
	if c.TLSConfig != nil {
		t = c.TLSConfig.Clone()
	} else {
		t = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	if t.ServerName == "" {
		t.ServerName = host
	}
	return t
}

// dial opens the TCP connection (and, in TLS mode, completes the handshake) with
// errors that say what went wrong in words an admin can act on.
func dial(ctx context.Context, cfg Config, proto string, s ServerConfig) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	d := netguard.Policy{AllowPrivate: cfg.AllowPrivateHosts}.Dialer(&net.Dialer{KeepAlive: 30 * time.Second})
	conn, err := d.DialContext(ctx, "tcp", s.addr())
	if err != nil {
		return nil, describeDialError(proto, s, err)
	}
	if s.TLS != TLSImplicit {
		return conn, nil
	}
	tc := tls.Client(conn, cfg.tlsConfig(s.Host))
	if err := tc.HandshakeContext(ctx); err != nil {
		conn.Close()
		return nil, describeTLSError(proto, s, err)
	}
	return tc, nil
}

// ConnError is a failure to reach or log in to a mail server, with a message written
// for the admin. Login failures are Auth.
type ConnError struct {
	Msg  string
	Auth bool
	Err  error
}

func (e *ConnError) Error() string {
	if e.Err == nil {
		return e.Msg
	}
	return e.Msg + ": " + e.Err.Error()
}

func (e *ConnError) Unwrap() error { return e.Err }

func describeDialError(proto string, s ServerConfig, err error) error {
	var dnsErr *net.DNSError
	switch {
	case errors.Is(err, netguard.ErrBlocked):
		return &ConnError{Msg: fmt.Sprintf("%s server %q is on a loopback, private or link-local address, which Kibo does not connect to unless KIBO_ALLOW_PRIVATE_HOSTS=true", proto, s.Host), Err: err}
	case errors.As(err, &dnsErr):
		return &ConnError{Msg: fmt.Sprintf("%s server %q not found (unknown host)", proto, s.Host), Err: err}
	case errors.Is(err, syscall.ECONNREFUSED):
		return &ConnError{Msg: fmt.Sprintf("%s server %s refused the connection (is the port right?)", proto, s.addr()), Err: err}
	case errors.Is(err, context.DeadlineExceeded) || isTimeout(err):
		return &ConnError{Msg: fmt.Sprintf("%s server %s did not answer in time", proto, s.addr()), Err: err}
	default:
		return &ConnError{Msg: fmt.Sprintf("cannot connect to %s server %s", proto, s.addr()), Err: err}
	}
}

func describeTLSError(proto string, s ServerConfig, err error) error {
	var (
		hostErr    x509.HostnameError
		unknownCA  x509.UnknownAuthorityError
		certErr    x509.CertificateInvalidError
		recordErr  tls.RecordHeaderError
		verifyErr  *tls.CertificateVerificationError
		hint       string
		mode       = "TLS"
		startTLSed = s.TLS == TLSStartTLS
	)
	if startTLSed {
		mode = "STARTTLS"
	}
	switch {
	case errors.As(err, &recordErr):
		hint = " (the server does not speak TLS on this port: try starttls or another port)"
	case errors.As(err, &hostErr):
		hint = " (the certificate is for another host name)"
	case errors.As(err, &unknownCA):
		hint = " (the certificate is not signed by a trusted authority)"
	case errors.As(err, &certErr):
		hint = " (the certificate is invalid or expired)"
	case errors.As(err, &verifyErr):
		hint = " (the certificate could not be verified)"
	}
	return &ConnError{Msg: fmt.Sprintf("%s handshake with %s server %s failed%s", mode, proto, s.addr(), hint), Err: err}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// isTLSError tells whether err comes from a TLS handshake.
func isTLSError(err error) bool {
	var (
		recordErr tls.RecordHeaderError
		alertErr  tls.AlertError
		verifyErr *tls.CertificateVerificationError
		hostErr   x509.HostnameError
		unknownCA x509.UnknownAuthorityError
		certErr   x509.CertificateInvalidError
	)
	return errors.As(err, &recordErr) || errors.As(err, &alertErr) || errors.As(err, &verifyErr) ||
		errors.As(err, &hostErr) || errors.As(err, &unknownCA) || errors.As(err, &certErr) ||
		strings.HasPrefix(err.Error(), "tls: ")
}
