package server

import (
	"context"

	"kibo/store"
)

// Events the agents' pages receive (docs/API.md). Each durable one gets a seq from the
// hub and is replayed to a page that reconnects.

func (s *Server) publishMessage(conv *store.Conversation, msg *store.Message) {
	s.hub.Publish(map[string]any{"type": "message.created", "conversation_id": conv.ID, "conversation": conv, "message": msg})
	s.liveCounts.kick()
}

func (s *Server) publishMessageUpdate(msg *store.Message) {
	s.hub.Publish(map[string]any{"type": "message.updated", "conversation_id": msg.ConversationID, "message": msg})
}

func (s *Server) publishConversationValue(conv *store.Conversation) {
	s.hub.Publish(map[string]any{"type": "conversation.updated", "conversation_id": conv.ID, "conversation": conv})
	s.liveCounts.kick()
}

func (s *Server) publishConversation(ctx context.Context, id int64) {
	conv, err := s.store.Conversation(ctx, id, 0)
	if err != nil {
		s.log.Warn("load conversation for event", "id", id, "err", err)
		return
	}
	s.publishConversationValue(conv)
}
