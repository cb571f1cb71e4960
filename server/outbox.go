package server

import (
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"net"
	"net/url"
	"time"

	"kibo/connectors"
	"kibo/connectors/email"
	"kibo/connectors/netguard"
	"kibo/store"
)

// outboxWorker sends what agents (and Kibo) wrote, through each channel, until the
// channel takes it or refuses it for good. The message was stored with its outbox row
// in one transaction, so a crash between store and send only delays it.
type outboxWorker struct {
	s    *Server
	kick chan struct{}
}

func newOutboxWorker(s *Server) *outboxWorker {
	return &outboxWorker{s: s, kick: make(chan struct{}, 1)}
}

// wake makes the worker look at once (a reply was just queued).
func (w *outboxWorker) wake() {
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

func (w *outboxWorker) run(ctx context.Context) {
	t := time.NewTicker(w.s.cfg.OutboxInterval)
	defer t.Stop()
	for {
		for w.sendDue(ctx) {
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-w.kick:
		}
	}
}

// sendDue sends one batch; it reports whether there may be more.
func (w *outboxWorker) sendDue(ctx context.Context) bool {
	items, err := w.s.store.DueOutbox(ctx, 20, 2*time.Minute)
	if err != nil {
		if ctx.Err() == nil {
			w.s.log.Warn("outbox", "err", err)
		}
		return false
	}
	for _, it := range items {
		if ctx.Err() != nil {
			return false
		}
		w.send(ctx, it)
	}
	return len(items) == 20
}

// outboxPayload is what a queued send carries besides its message. Alerts to agents
// (kind "alert") carry their own address, subject and text instead of a message.
type outboxPayload struct {
	Tag     string `json:"tag,omitempty"`
	To      string `json:"to,omitempty"`
	Subject string `json:"subject,omitempty"`
	Text    string `json:"text,omitempty"`
}

// queueAlertEmail puts an e-mail to an agent in the outbox; dedupeKey makes it go out
// once however often it is queued. It is sent through the first e-mail inbox.
func (s *Server) queueAlertEmail(ctx context.Context, to, subject, text, dedupeKey string) error {
	_, err := s.store.Enqueue(ctx, store.OutboxItem{Kind: "alert", DedupeKey: dedupeKey, Payload: outboxPayload{To: to, Subject: subject, Text: text}})
	if err == nil {
		s.outbox.wake()
	}
	return err
}

// alertSender finds the e-mail channel alerts go out through: an alert is an e-mail to
// an agent's address, whatever channels the customers write on.
func (w *outboxWorker) alertSender(ctx context.Context) (connectors.Connector, error) {
	inboxes, err := w.s.store.Inboxes(ctx)
	if err != nil {
		return nil, err
	}
	for _, in := range inboxes {
		if in.Kind == email.Kind {
			return w.s.channels.get(ctx, in.ID)
		}
	}
	return nil, errors.New("there is no e-mail inbox to send alerts from: add one in Settings")
}

func (w *outboxWorker) send(ctx context.Context, it *store.OutboxItem) {
	s := w.s
	var out connectors.Outbound
	var conn connectors.Connector
	var err error
	if it.Kind == "alert" {
		var p outboxPayload
		json.Unmarshal([]byte(it.PayloadJSON), &p)
		out = connectors.Outbound{Recipient: connectors.Identity{Kind: email.Kind, ExternalID: p.To, Email: p.To}, Subject: p.Subject, Text: p.Text, AuthorName: "Kibo"}
		conn, err = w.alertSender(ctx)
	} else {
		out, err = w.outbound(ctx, it)
		if err == nil {
			conn, err = s.channels.get(ctx, it.InboxID)
		}
	}
	var extID string
	if err == nil {
		sendCtx, cancel := context.WithTimeout(ctx, 60*time.Second)
		extID, err = conn.Send(sendCtx, out)
		cancel()
	}
	switch {
	case err == nil:
		if e := s.store.OutboxSent(ctx, it.ID, extID); e != nil {
			s.log.Error("record sent", "outbox", it.ID, "err", e)
		}
		s.metrics.sent.Add(1)
	case connectors.IsPermanent(err) || errors.Is(err, store.ErrNotFound):
		s.store.OutboxFailed(ctx, it.ID, err.Error())
		s.metrics.failed.Add(1)
	default:
		delay := retryDelay(s.cfg.RetryBase, it.Attempts)
		var ra *connectors.RetryAfterError
		if errors.As(err, &ra) && ra.After > delay {
			delay = ra.After
		}
		s.store.OutboxRetry(ctx, it.ID, retryText(err), s.store.Now().Add(delay))
		s.log.Info("send will be retried", "outbox", it.ID, "in", delay, "err", err)
	}
	if it.MessageID != 0 {
		if m, e := s.store.Message(ctx, it.MessageID); e == nil {
			if err != nil && !connectors.IsPermanent(err) && m.Delivery == "queued" {
				m.DeliveryError = "retrying: " + retryText(err)
			}
			s.publishMessageUpdate(m)
		}
	}
}

// retryText is what agents are shown of a send that will be retried (on the message,
// and in an incident's delivery report). A failure to connect names hosts, addresses
// and the resolver's words: those stay in the log and in the inbox's error, which only
// admins read in full.
func retryText(err error) string {
	var (
		conn  *email.ConnError
		netw  net.Error
		urlE  *url.Error
		ra    *connectors.RetryAfterError
		dnsE  *net.DNSError
		opErr *net.OpError
	)
	switch {
	case errors.As(err, &ra) && !errors.As(err, &urlE) && !errors.As(err, &netw):
		return err.Error()
	case errors.As(err, &conn) && conn.Auth:
		return "the channel's server refused Kibo's login; an admin must check the inbox's settings"
	case errors.Is(err, netguard.ErrBlocked), errors.As(err, &conn), errors.As(err, &urlE), errors.As(err, &dnsE),
		errors.As(err, &opErr), errors.As(err, &netw):
		return "the channel's server could not be reached; Kibo tries again (an admin can see why in the log)"
	}
	return err.Error()
}

// retryDelay backs off exponentially with jitter, from base (5 s) up to 30 min.
func retryDelay(base time.Duration, attempts int) time.Duration {
	d := base
	for i := 1; i < attempts && d < 30*time.Minute; i++ {
		d *= 2
	}
	d = min(d, 30*time.Minute)
	return d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
}

// outbound builds what the channel sends from the stored message and conversation.
func (w *outboxWorker) outbound(ctx context.Context, it *store.OutboxItem) (connectors.Outbound, error) {
	s := w.s
	var p outboxPayload
	json.Unmarshal([]byte(it.PayloadJSON), &p)
	msg, err := s.store.Message(ctx, it.MessageID)
	if err != nil {
		return connectors.Outbound{}, err
	}
	conv, err := s.store.Conversation(ctx, it.ConversationID, 0)
	if err != nil {
		return connectors.Outbound{}, err
	}
	kind := conv.Channel
	recipient, err := s.store.ContactIdentity(ctx, conv.Contact.ID, kind, "")
	if err != nil {
		return connectors.Outbound{}, connectors.Permanent("the contact has no "+kind+" address to answer", err)
	}
	refs, err := s.store.ThreadRefs(ctx, conv.ID, msg.ID)
	if err != nil {
		return connectors.Outbound{}, err
	}
	// the contact's address (an agent's correction) goes before the identity's, unless
	// it is one the person only claimed: replies never go to an unverified address
	email := ""
	if conv.Contact.EmailVerified {
		email = conv.Contact.Email
	}
	out := connectors.Outbound{
		MessageID: msg.ID, ConversationID: conv.ID, InboxID: conv.InboxID,
		Recipient:    connectors.Identity{Kind: recipient.Kind, Scope: recipient.Scope, ExternalID: recipient.ExternalID, Name: recipient.Name, Handle: recipient.Handle, Email: email, EmailVerified: email != ""},
		TicketNumber: conv.Number, Subject: conv.Subject, Text: msg.Text, AuthorName: msg.Author.Name,
		MessageIDHeader: msg.ExternalID, References: refs.References, InReplyTo: refs.InReplyTo, Tag: p.Tag,
	}
	if conv.LastCustomerMessageAt != nil {
		out.LastInboundAt = *conv.LastCustomerMessageAt
	}
	for _, a := range msg.Attachments {
		data, err := s.store.AttachmentData(a)
		if err != nil {
			// the file is gone from the data directory: no retry brings it back
			return connectors.Outbound{}, connectors.Permanent("the file "+a.Filename+" of this reply is missing from the data directory", err)
		}
		out.Attachments = append(out.Attachments, connectors.Attachment{Filename: a.Filename, ContentType: a.ContentType, Size: int64(len(data)), Data: data})
	}
	return out, nil
}
