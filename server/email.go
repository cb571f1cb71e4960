package server

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"kibo/connectors"
	"kibo/connectors/email"
	"kibo/store"
)

// registerEmailChannel adds the e-mail connector (IMAP in, SMTP out) to the registry.
func (s *Server) registerEmailChannel() {
	s.channels.register("email", func(in *store.Inbox, report func(bool, error)) (connectors.Connector, error) {
		cfg, err := emailConfig(in.Settings)
		if err != nil {
			return nil, err
		}
		cfg.OnStatus = report
		cfg.Logger = s.log.With("inbox", in.ID)
		cfg.AllowPrivateHosts = s.cfg.AllowPrivateHosts
		return email.New(in.ID, cfg, mailState{s.store, s})
	})
}

// emailConfig reads an e-mail inbox's settings (docs/CHANNELS.md) into the connector's
// config.
func emailConfig(settings map[string]any) (email.Config, error) {
	var raw struct {
		Address string `json:"address"`
		IMAP    struct {
			Host     string `json:"host"`
			Port     int    `json:"port"`
			TLS      string `json:"tls"`
			Username string `json:"username"`
			Password string `json:"password"`
			Mailbox  string `json:"mailbox"`
		} `json:"imap"`
		SMTP struct {
			Host     string `json:"host"`
			Port     int    `json:"port"`
			TLS      string `json:"tls"`
			Username string `json:"username"`
			Password string `json:"password"`
		} `json:"smtp"`
		MaxAttachment int64 `json:"max_attachment_bytes"`
	}
	b, _ := json.Marshal(settings)
	if err := json.Unmarshal(b, &raw); err != nil {
		return email.Config{}, errUnprocessable("e-mail settings: " + err.Error())
	}
	cfg := email.Config{
		Address:       strings.TrimSpace(raw.Address),
		IMAP:          email.ServerConfig{Host: raw.IMAP.Host, Port: raw.IMAP.Port, TLS: raw.IMAP.TLS, Username: raw.IMAP.Username, Password: raw.IMAP.Password, Mailbox: raw.IMAP.Mailbox},
		SMTP:          email.ServerConfig{Host: raw.SMTP.Host, Port: raw.SMTP.Port, TLS: raw.SMTP.TLS, Username: raw.SMTP.Username, Password: raw.SMTP.Password},
		MaxAttachment: raw.MaxAttachment,
	}
	if err := cfg.Validate(); err != nil {
		return email.Config{}, errUnprocessable(err.Error())
	}
	return cfg, nil
}

// mailState is the store seen as the e-mail connector's sync state: the cursor of
// each mailbox, and the quarantine for mail that cannot be processed.
type mailState struct {
	st  *store.Store
	srv *Server
}

func (m mailState) Cursor(ctx context.Context, inboxID int64) (connectors.MailCursor, error) {
	return m.st.MailCursor(ctx, inboxID)
}

// Quarantine keeps a mail that can't be processed, with its raw source, moves past it
// and tells the admins once: a quarantined mail is a customer nobody answers yet.
func (m mailState) Quarantine(ctx context.Context, inboxID int64, at connectors.MailCursor, raw []byte, reason string) error {
	if err := m.st.Quarantine(ctx, inboxID, "email", raw, reason, &at); err != nil {
		return err
	}
	if admins, _, err := m.srv.admins(ctx); err == nil {
		key := fmt.Sprintf("quarantine:%d:%d:%d", inboxID, at.UIDValidity, at.UID)
		text := fmt.Sprintf("A mail in inbox %d could not be processed and was quarantined with its raw source (IMAP UID %d): %s", inboxID, at.UID, reason)
		if _, err := m.srv.raiseAlert(ctx, "mail_quarantined", key, "[Kibo] A mail was quarantined", text, "/settings#inboxes", admins); err != nil {
			m.srv.log.Warn("quarantine alert", "err", err)
		}
	}
	return nil
}
