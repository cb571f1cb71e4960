package x

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"time"

	"kibo/connectors"
	"kibo/connectors/netguard"
)

// Channel describes X direct messages to Kibo (docs/CHANNELS.md, "X"): one ongoing
// conversation per customer, replies of text through the outbox, messages polled and
// also taken from the Account Activity webhook.
func Channel() connectors.Channel {
	return connectors.Channel{
		Kind:      Kind,
		Name:      "X",
		Title:     "X",
		Color:     "#334155",
		Broadcast: time.Second, // DMs are tightly limited
		Secrets:   []string{"consumer_secret", "access_token", "access_secret"},
		Validate: func(ctx context.Context, s connectors.Settings, hosts netguard.Policy) error {
			if err := s.Require("user_id", "consumer_key", "consumer_secret", "access_token", "access_secret"); err != nil {
				return err
			}
			return s.CheckURL(ctx, hosts, "api_base_url")
		},
		Webhook:   true,
		ReuseOpen: true,
		Connect: func(in connectors.Inbox, env connectors.Env) (connectors.Connector, error) {
			s := in.Settings
			// a value that does not parse is the default (docs/CHANNELS.md)
			poll, _ := time.ParseDuration(s.String("poll_interval"))
			return New(Config{
				InboxID: in.ID, UserID: s.String("user_id"), ConsumerKey: s.String("consumer_key"), ConsumerSecret: s.String("consumer_secret"),
				AccessToken: s.String("access_token"), AccessSecret: s.String("access_secret"), APIBaseURL: s.String("api_base_url"),
				PollInterval: poll, OnStatus: env.Report, AllowPrivateHosts: env.AllowPrivateHosts,
			})
		},
	}
}

var _ connectors.Webhook = (*Connector)(nil)

// Handshake answers the CRC check: {"response_token": "sha256=..."}. A missing or
// foreign-looking token is malformed (400): the answer would sign it.
func (c *Connector) Handshake(query url.Values) (connectors.WebhookAnswer, error) {
	token := query.Get("crc_token")
	if token == "" {
		return connectors.WebhookAnswer{}, malformed("crc_token is missing", nil)
	}
	answer, err := c.CRC(token)
	if err != nil {
		return connectors.WebhookAnswer{}, malformed("crc_token is not one X sends", err)
	}
	body, _ := json.Marshal(map[string]string{"response_token": answer})
	return connectors.WebhookAnswer{ContentType: "application/json", Body: body}, nil
}

// Verify checks x-twitter-webhooks-signature against the consumer secret.
func (c *Connector) Verify(header func(string) string, body []byte) error {
	if !c.VerifyWebhook(header(SignatureHeader), body) {
		return errors.New("the x-twitter-webhooks-signature does not match")
	}
	return nil
}

// Parse reads an Account Activity body for this inbox's account.
func (c *Connector) Parse(body []byte) (connectors.WebhookEvents, error) {
	msgs, err := c.ParseWebhook(body)
	return connectors.WebhookEvents{Messages: msgs}, err
}

// Deliver hands the messages over in order; their senders' names came in the body.
func (c *Connector) Deliver(ctx context.Context, sink connectors.Sink, ev connectors.WebhookEvents) error {
	for _, m := range ev.Messages {
		if _, err := sink.Deliver(ctx, m); err != nil {
			return err
		}
	}
	return nil
}
