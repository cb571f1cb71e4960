package server

import (
	"context"
	"strconv"
	"sync"

	"kibo/connectors"
	"kibo/store"
)

// sink is where every connector hands its inbound messages: it stores them (contact,
// conversation and message in one transaction, committed before Deliver returns) and
// tells the agents.
type sink struct{ s *Server }

var inboxKinds sync.Map // inbox id → kind; an inbox never changes kind

func (s *Server) inboxKind(ctx context.Context, id int64) (string, error) {
	if k, ok := inboxKinds.Load(id); ok {
		return k.(string), nil
	}
	in, err := s.store.Inbox(ctx, id)
	if err != nil {
		return "", err
	}
	inboxKinds.Store(id, in.Kind)
	return in.Kind, nil
}

func (k sink) Deliver(ctx context.Context, in connectors.Inbound) (connectors.Delivered, error) {
	s := k.s
	kind, err := s.inboxKind(ctx, in.InboxID)
	if err != nil {
		return connectors.Delivered{}, err
	}
	inc := store.Incoming{
		InboxID: in.InboxID,
		Identity: store.IdentityRef{
			Kind: in.Identity.Kind, Scope: in.Identity.Scope, ExternalID: in.Identity.ExternalID,
			Name: in.Identity.Name, Email: in.Identity.Email, Handle: in.Identity.Handle,
			Verified: in.Identity.Kind == "chat_user",
		},
		ExternalID: in.ExternalID, ClientID: in.ClientID, ConversationID: in.ConversationID,
		ThreadRefs: in.ThreadRefs, SubjectToken: in.SubjectToken, NewThread: in.NewThread,
		ReuseOpen: kind != "email",
		Subject:   in.Subject, Text: in.Text, HTML: in.HTML, Echo: in.Echo, Auto: in.Auto,
		Raw: in.Raw, RawKind: kind, SentAt: in.SentAt, Metadata: in.Metadata,
	}
	for _, a := range in.Attachments {
		inc.Attachments = append(inc.Attachments, store.IncomingAttachment{
			Filename: a.Filename, ContentType: a.ContentType, URL: a.URL, ContentID: a.ContentID,
			Size: a.Size, Data: a.Data, TooLarge: a.TooLarge,
		})
	}
	if v, u := in.Metadata["imap_uidvalidity"], in.Metadata["imap_uid"]; v != "" && u != "" {
		vv, err1 := strconv.ParseUint(v, 10, 32)
		uu, err2 := strconv.ParseUint(u, 10, 32)
		if err1 == nil && err2 == nil {
			inc.MailCursor = &store.MailCursor{UIDValidity: uint32(vv), UID: uint32(uu)}
		}
	}
	res, err := s.store.Ingest(ctx, inc)
	if err != nil {
		return connectors.Delivered{}, err
	}
	s.metrics.ingested.Add(1)
	if !res.Duplicate {
		s.afterIngest(ctx, res)
	}
	return connectors.Delivered{
		MessageID: res.MessageID, ConversationID: res.ConversationID, ContactID: res.ContactID,
		CreatedAt: res.CreatedAt, Duplicate: res.Duplicate, NewConversation: res.NewConversation,
	}, nil
}

// afterIngest tells the agents about a new message.
func (s *Server) afterIngest(ctx context.Context, res store.Ingested) {
	msg, err := s.store.Message(ctx, res.MessageID)
	if err != nil {
		s.log.Warn("load ingested message", "id", res.MessageID, "err", err)
		return
	}
	conv, err := s.store.Conversation(ctx, res.ConversationID, 0)
	if err != nil {
		s.log.Warn("load conversation", "id", res.ConversationID, "err", err)
		return
	}
	s.publishMessage(conv, msg)
}
