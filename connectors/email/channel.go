package email

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"kibo/connectors"
	"kibo/connectors/netguard"
)

// Kind is the channel kind of e-mail, and of the identities it creates.
const Kind = "email"

// Channel describes e-mail to Kibo (docs/CHANNELS.md, "E-mail"). A mail threads by
// its references and ticket token only: a customer's new subject is a new ticket.
// Replies may carry files, and go out with a Message-ID fixed before the first attempt.
func Channel() connectors.Channel {
	return connectors.Channel{
		Kind:      Kind,
		Name:      "e-mail",
		Title:     "E-mail",
		Color:     "#8b5cf6",
		Subjects:  true,
		Broadcast: 100 * time.Millisecond, // 10 a second
		Secrets:   []string{"password"},
		Validate:  validateSettings,
		Replies: connectors.Replies{
			Files:      true,
			ExternalID: func(s connectors.Settings) string { return NewMessageID(s.String("address")) },
		},
		Connect: func(in connectors.Inbox, env connectors.Env) (connectors.Connector, error) {
			cfg, err := ParseSettings(in.Settings)
			if err != nil {
				return nil, err
			}
			cfg.OnStatus, cfg.Logger, cfg.AllowPrivateHosts = env.Report, env.Log, env.AllowPrivateHosts
			return New(in.ID, cfg, env.Mail)
		},
	}
}

// ParseSettings reads an e-mail inbox's settings into the connector's Config and
// checks them (Config.Validate).
func ParseSettings(s connectors.Settings) (Config, error) {
	var raw struct {
		Address       string       `json:"address"`
		IMAP          ServerConfig `json:"imap"`
		SMTP          ServerConfig `json:"smtp"`
		MaxAttachment int64        `json:"max_attachment_bytes"`
	}
	b, _ := json.Marshal(s)
	if err := json.Unmarshal(b, &raw); err != nil {
		return Config{}, fmt.Errorf("e-mail settings: %w", err)
	}
	raw.SMTP.Mailbox = ""
	cfg := Config{Address: strings.TrimSpace(raw.Address), IMAP: raw.IMAP, SMTP: raw.SMTP, MaxAttachment: raw.MaxAttachment}
	return cfg, cfg.Validate()
}

// validateSettings checks the settings and that both servers are hosts Kibo may reach
// (the receiver and the sender check again on every connection).
func validateSettings(ctx context.Context, s connectors.Settings, hosts netguard.Policy) error {
	cfg, err := ParseSettings(s)
	if err != nil {
		return err
	}
	for part, host := range map[string]string{"imap": cfg.IMAP.Host, "smtp": cfg.SMTP.Host} {
		if err := hosts.CheckHost(ctx, host); err != nil {
			return fmt.Errorf("%s.host: %w", part, err)
		}
	}
	return nil
}
