package server

import "kibo/store"

// The events the agents' pages receive are server/events' (s.events). These two names
// are how the channel code (sink.go, reply.go, outbox.go) publishes them; they go once
// that code calls s.events itself.

func (s *Server) publishMessage(conv *store.Conversation, msg *store.Message) {
	s.events.MessageCreated(conv, msg)
}

func (s *Server) publishMessageUpdate(msg *store.Message) { s.events.MessageUpdated(msg) }
