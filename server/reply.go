package server

import (
	"context"
	"errors"

	"github.com/gofiber/fiber/v2"

	"kibo/connectors"
	"kibo/store"
)

// reply stores an agent's reply or note and sends it on the conversation's channel.
func (s *Server) reply(ctx context.Context, convID int64, agent *store.Agent, text string, private bool, tag string) (*store.Message, error) {
	return s.replyWithFiles(ctx, convID, agent, text, private, tag, nil)
}

// replyWithFiles is reply with attached files (attachments.go): stored with the
// message in one transaction. The channel's descriptor says whether it takes the reply
// (its files, its window) and how it goes: through the outbox, or handed to the
// connector as soon as it is stored (connectors.Replies). A note never leaves Kibo.
func (s *Server) replyWithFiles(ctx context.Context, convID int64, agent *store.Agent, text string, private bool, tag string, files []connectors.Attachment) (*store.Message, error) {
	conv, err := s.store.Conversation(ctx, convID, agent.ID)
	if err != nil {
		return nil, err
	}
	am := store.AgentMessage{ConversationID: convID, AgentID: agent.ID, AuthorName: agent.Name, Text: text, Private: private, Files: files}
	var ch *connectors.Channel
	if !private {
		if ch, err = s.channels.channel(conv.Channel); err != nil {
			return nil, err
		}
		// tell the agent before anything is stored, not after the platform refuses
		d := connectors.Draft{Now: s.cfg.Now(), Tag: tag, Files: files}
		if conv.LastCustomerMessageAt != nil {
			d.LastInboundAt = *conv.LastCustomerMessageAt
		}
		var r *connectors.Refusal
		if err := ch.AcceptReply(d); errors.As(err, &r) {
			return nil, &apiError{fiber.StatusUnprocessableEntity, r.Code, r.Reason}
		} else if err != nil {
			return nil, errUnprocessable(err.Error())
		}
		if !ch.Replies.Direct {
			am.Queue = true
			am.OutboxPayload = outboxPayload{Tag: tag}
		}
		if ch.Replies.ExternalID != nil {
			am.ExternalID = ch.Replies.ExternalID(s.inboxSettings(ctx, conv.InboxID))
		}
	}
	msg, err := s.store.AddAgentMessage(ctx, am)
	if err != nil {
		return nil, err
	}
	switch {
	case am.Queue:
		s.outbox.wake()
	case ch != nil:
		s.sendNow(ctx, conv, msg)
	}
	if conv, err = s.store.Conversation(ctx, convID, agent.ID); err == nil {
		s.publishMessage(conv, msg)
	}
	return msg, nil
}

// sendNow hands a stored reply to its channel's connector at once (Replies.Direct: the
// chat pushes it to the visitor's open widgets). Nothing is retried: such a channel
// reads what it missed from the store.
func (s *Server) sendNow(ctx context.Context, conv *store.Conversation, msg *store.Message) {
	conn, err := s.channels.connector(conv.Channel, conv.InboxID)
	if err == nil {
		_, err = conn.Send(ctx, connectors.Outbound{MessageID: msg.ID, ConversationID: conv.ID, InboxID: conv.InboxID,
			Text: msg.Text, AuthorName: msg.Author.Name})
	}
	if err != nil {
		s.log.Warn("send a reply at once", "message", msg.ID, "err", err)
	}
}

// inboxSettings are an inbox's settings as its channel reads them (nil when it is gone).
func (s *Server) inboxSettings(ctx context.Context, inboxID int64) connectors.Settings {
	in, err := s.store.Inbox(ctx, inboxID)
	if err != nil {
		return nil
	}
	return in.Settings
}
