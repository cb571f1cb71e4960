package email

import (
	"context"
	"errors"

	"kibo/connectors"
)

// Connector is one e-mail inbox: IMAP in (Receiver), SMTP out (Sender).
type Connector struct {
	receiver *Receiver
	sender   *Sender
}

var _ connectors.Connector = (*Connector)(nil)

// New makes the connector for one inbox after checking its settings. It does not
// connect to anything yet.
func New(inboxID int64, cfg Config, state connectors.MailState) (*Connector, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if state == nil {
		return nil, errors.New("email: no sync state")
	}
	return &Connector{receiver: NewReceiver(inboxID, cfg, state), sender: NewSender(cfg)}, nil
}

// Kind is "email".
func (c *Connector) Kind() string { return Kind }

// Run receives mail until ctx ends; see Receiver.Run.
func (c *Connector) Run(ctx context.Context, sink connectors.Sink) error {
	return c.receiver.Run(ctx, sink)
}

// Send sends one reply; see Sender.Send.
func (c *Connector) Send(ctx context.Context, m connectors.Outbound) (string, error) {
	return c.sender.Send(ctx, m)
}

// Check is "Test connection": it logs in to both servers (and opens the IMAP mailbox)
// and returns every failure, each in words an admin can act on ("IMAP login refused
// for support@example.com: ...", "SMTP server \"mail.example.org\" not found (unknown
// host)", "TLS handshake with IMAP server ... failed ...").
func (c *Connector) Check(ctx context.Context) error {
	return errors.Join(c.receiver.Check(ctx), c.sender.Check(ctx))
}
