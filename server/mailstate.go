package server

import (
	"context"
	"fmt"

	"kibo/connectors"
	"kibo/store"
)

// mailState is the store seen as a polled mailbox's record (connectors.MailState):
// the cursor of each mailbox, and the quarantine for mail that cannot be processed.
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
	if err := m.st.Quarantine(ctx, inboxID, raw, reason, &at); err != nil {
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
