package messenger

import (
	"context"
	"errors"
	"time"

	"kibo/connectors"
)

// profileTimeout bounds the name lookup done before a message is stored, so a slow Graph
// API delays a message by at most this much.
const profileTimeout = 5 * time.Second

// ErrBadSignature is what OnStatus hears when a webhook's signature does not match the
// app secret: usually a wrong app secret in the settings (or a forged request; the next
// good webhook clears it).
var ErrBadSignature = errors.New("messenger: a webhook's X-Hub-Signature-256 did not match the app secret")

// Connector is one Messenger inbox. Messages arrive through the webhook, so Run only
// waits; the server's webhook handler calls it as a connectors.Webhook (channel.go).
type Connector struct {
	cfg    Config
	client *Client
	status *connectors.Status
}

var _ connectors.Connector = (*Connector)(nil)

// New checks cfg and returns the connector for its page.
func New(cfg Config) (*Connector, error) {
	client, err := NewClient(cfg)
	if err != nil {
		return nil, err
	}
	return &Connector{cfg: cfg, client: client, status: connectors.NewStatus(cfg.OnStatus)}, nil
}

// Kind is "messenger".
func (c *Connector) Kind() string { return Kind }

// Client is the Graph API client, for profile lookups.
func (c *Connector) Client() *Client { return c.client }

// Run waits for ctx to end: Facebook pushes messages to the webhook.
func (c *Connector) Run(ctx context.Context, sink connectors.Sink) error {
	<-ctx.Done()
	return nil
}

// VerifyWebhook checks a webhook's signature header against the app secret and reports
// the outcome through OnStatus.
func (c *Connector) VerifyWebhook(header string, body []byte) bool {
	if !VerifySignature(c.cfg.AppSecret, header, body) {
		c.report(false, ErrBadSignature)
		return false
	}
	c.report(true, nil)
	return true
}

// DeliverMessages hands each parsed message to sink in the order Facebook sent them,
// after looking up the customer's name (a failed lookup delivers without one). It stops
// at the first error so the caller can keep the raw webhook for a later retry; messages
// already stored are duplicates then, which the sink ignores. Receipts are not for the
// sink: the server applies them to stored messages itself.
func (c *Connector) DeliverMessages(ctx context.Context, sink connectors.Sink, ev Events) error {
	for _, in := range ev.Messages {
		if in.Identity.Name == "" {
			pctx, cancel := context.WithTimeout(ctx, profileTimeout)
			if name, err := c.client.Profile(pctx, in.Identity.ExternalID); err == nil {
				in.Identity.Name = name
			}
			cancel()
		}
		if _, err := sink.Deliver(ctx, in); err != nil {
			return err
		}
	}
	return nil
}

// Send delivers one reply through the Send API (see Client.Send).
func (c *Connector) Send(ctx context.Context, m connectors.Outbound) (externalID string, err error) {
	mid, err := c.client.Send(ctx, m)
	if ctx.Err() == nil {
		// A send cut short by shutdown says nothing about the page.
		c.reportAPI(err)
	}
	return mid, err
}

// Check is the settings page's "Test connection".
func (c *Connector) Check(ctx context.Context) error {
	err := c.client.Check(ctx)
	if connectors.IsPermanent(err) {
		// Whatever Facebook refuses here is about the page, not about one customer.
		c.report(false, err)
	} else {
		c.reportAPI(err)
	}
	return err
}

// reportAPI tells OnStatus what a Graph API call says about the page's health. Refusals
// about one recipient (blocked, window closed) say nothing about it.
func (c *Connector) reportAPI(err error) {
	c.status.Call(err, errors.Is(err, errUnavailable) || isPageProblem(err))
}

func isPageProblem(err error) bool {
	var ge *GraphError
	return errors.As(err, &ge) && ge.PageProblem()
}

func (c *Connector) report(up bool, err error) { c.status.Report(up, err) }
