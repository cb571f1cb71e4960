package messenger

import (
	"context"
	"errors"
	"net/url"
	"time"

	"kibo/connectors"
	"kibo/connectors/netguard"
)

// Channel describes Facebook Messenger to Kibo (docs/CHANNELS.md, "Facebook
// Messenger"): one ongoing conversation per customer, replies of text through the
// outbox, refused before they are stored when the messaging window has closed, and a
// webhook for everything that comes in.
func Channel() connectors.Channel {
	return connectors.Channel{
		Kind:      Kind,
		Name:      "Messenger",
		Title:     "Messenger",
		Color:     "#0ea5e9",
		Broadcast: 50 * time.Millisecond, // 20 a second
		Secrets:   []string{"page_access_token", "app_secret", "verify_token"},
		Validate: func(ctx context.Context, s connectors.Settings, hosts netguard.Policy) error {
			if err := s.Require("page_id", "page_access_token", "app_secret", "verify_token"); err != nil {
				return err
			}
			return s.CheckURL(ctx, hosts, "graph_base_url")
		},
		Webhook:   true,
		ReuseOpen: true,
		Replies:   connectors.Replies{Check: checkWindow},
		Connect: func(in connectors.Inbox, env connectors.Env) (connectors.Connector, error) {
			s := in.Settings
			return New(Config{
				InboxID: in.ID, PageID: s.String("page_id"), PageAccessToken: s.String("page_access_token"),
				AppSecret: s.String("app_secret"), VerifyToken: s.String("verify_token"), GraphBaseURL: s.String("graph_base_url"),
				OnStatus: env.Report, AllowPrivateHosts: env.AllowPrivateHosts,
			})
		},
	}
}

// checkWindow tells the agent before sending, not after Facebook refuses.
func checkWindow(d connectors.Draft) error {
	switch ReplyWindow(d.LastInboundAt, d.Now) {
	case WindowHumanAgent:
		if d.Tag != HumanAgentTag {
			return &connectors.Refusal{Code: "outside_window", Reason: "the customer last wrote more than 24 hours ago: Messenger takes a reply now only with the HUMAN_AGENT tag (send with \"tag\":\"HUMAN_AGENT\" if your page has that permission)"}
		}
	case WindowClosed:
		return &connectors.Refusal{Code: "outside_window", Reason: "the customer last wrote more than 7 days ago: Messenger takes no reply until they write again"}
	}
	return nil
}

var _ connectors.Webhook = (*Connector)(nil)

// Handshake answers the subscription handshake with the challenge, as plain text.
func (c *Connector) Handshake(query url.Values) (connectors.WebhookAnswer, error) {
	challenge, ok := VerifyChallenge(c.cfg, query)
	if !ok {
		return connectors.WebhookAnswer{}, errors.New("the verify token does not match, or hub.challenge is not a plain token")
	}
	return connectors.WebhookAnswer{ContentType: "text/plain; charset=utf-8", Body: []byte(challenge)}, nil
}

// Verify checks X-Hub-Signature-256 against the app secret.
func (c *Connector) Verify(header func(string) string, body []byte) error {
	if !c.VerifyWebhook(header(SignatureHeader), body) {
		return errors.New("the X-Hub-Signature-256 signature does not match")
	}
	return nil
}

// Parse reads a page event; Facebook expects EVENT_RECEIVED in answer.
func (c *Connector) Parse(body []byte) (connectors.WebhookEvents, error) {
	ev, err := ParseWebhook(c.cfg.InboxID, body)
	if err != nil {
		return connectors.WebhookEvents{}, err
	}
	out := connectors.WebhookEvents{Messages: ev.Messages, Ack: connectors.WebhookAnswer{ContentType: "text/plain; charset=utf-8", Body: []byte("EVENT_RECEIVED")}}
	for _, r := range ev.Receipts {
		out.Receipts = append(out.Receipts, connectors.Receipt{Kind: r.Kind, ExternalIDs: r.MIDs, Watermark: r.Watermark})
	}
	return out, nil
}

// Deliver looks up the customers' names, then hands the messages over (DeliverMessages).
func (c *Connector) Deliver(ctx context.Context, sink connectors.Sink, ev connectors.WebhookEvents) error {
	return c.DeliverMessages(ctx, sink, Events{Messages: ev.Messages})
}
