package server

import (
	"context"
	"strings"
	"time"

	"kibo/connectors"
	"kibo/connectors/messenger"
	"kibo/store"
)

// reply stores an agent's reply or note and sends it on the conversation's channel: at
// once for chat (the widget reads from the store), through the outbox for the others.
func (s *Server) reply(ctx context.Context, convID int64, agent *store.Agent, text string, private bool, tag string) (*store.Message, error) {
	return s.replyWithFiles(ctx, convID, agent, text, private, tag, nil)
}

// replyWithFiles is reply with attached files (attachments.go): stored with the
// message in one transaction, sent by the outbox with it.
func (s *Server) replyWithFiles(ctx context.Context, convID int64, agent *store.Agent, text string, private bool, tag string, files []connectors.Attachment) (*store.Message, error) {
	conv, err := s.store.Conversation(ctx, convID, agent.ID)
	if err != nil {
		return nil, err
	}
	if err := checkReplyFiles(conv.Channel, private, files); err != nil {
		return nil, err
	}
	if !private && conv.Channel == "messenger" {
		// tell the agent before sending, not after Facebook refuses
		var last time.Time
		if conv.LastCustomerMessageAt != nil {
			last = *conv.LastCustomerMessageAt
		}
		switch messenger.ReplyWindow(last, s.cfg.Now()) {
		case messenger.WindowHumanAgent:
			if tag != messenger.HumanAgentTag {
				return nil, &apiError{422, "outside_window", "the customer last wrote more than 24 hours ago: Messenger takes a reply now only with the HUMAN_AGENT tag (send with \"tag\":\"HUMAN_AGENT\" if your page has that permission)"}
			}
		case messenger.WindowClosed:
			return nil, &apiError{422, "outside_window", "the customer last wrote more than 7 days ago: Messenger takes no reply until they write again"}
		}
	}
	am := store.AgentMessage{ConversationID: convID, AgentID: agent.ID, AuthorName: agent.Name, Text: text, Private: private, Files: files}
	if !private && conv.Channel != "chat" {
		am.Queue = true
		am.OutboxPayload = outboxPayload{Tag: tag}
		if conv.Channel == "email" {
			am.ExternalID = newMessageID(s.inboxAddress(ctx, conv.InboxID))
		}
	}
	msg, err := s.store.AddAgentMessage(ctx, am)
	if err != nil {
		return nil, err
	}
	if !private && conv.Channel == "chat" {
		s.chat.Send(ctx, connectors.Outbound{MessageID: msg.ID, ConversationID: convID, Text: msg.Text, AuthorName: agent.Name})
		s.chat.Push(convID, map[string]any{"type": "typing", "on": false, "name": agent.Name})
	}
	if am.Queue {
		s.outbox.wake()
	}
	if conv, err = s.store.Conversation(ctx, convID, agent.ID); err == nil {
		s.publishMessage(conv, msg)
	}
	return msg, nil
}

// newMessageID makes the Message-ID an e-mail reply goes out with; it is stored with
// the reply before sending so a customer's answer threads onto it whatever happens.
func newMessageID(address string) string {
	domain := "kibo.invalid"
	if _, d, ok := strings.Cut(address, "@"); ok && d != "" {
		domain = d
	}
	return "<" + NewSecret(18) + "@" + domain + ">"
}

func (s *Server) inboxAddress(ctx context.Context, inboxID int64) string {
	in, err := s.store.Inbox(ctx, inboxID)
	if err != nil {
		return ""
	}
	a, _ := in.Settings["address"].(string)
	return a
}
