// Package events says what the agents' open pages are told (docs/API.md lists the
// events) and tells them through the real-time hub (server/hub). Each event gets a
// seq from the hub and is replayed to a page that reconnects; a page that missed too
// much resyncs, so an event lost in a crash costs a page its freshness, never data.
//
// Handlers and workflows publish through a Publisher; the workflows name the few
// events they send in an interface of their own.
package events

import (
	"context"
	"log/slog"

	"kibo/server/hub"
	"kibo/store"
)

// Hub is the real-time hub as events are published on it.
type Hub interface {
	Publish(v map[string]any) int64
	PublishTo(v map[string]any, to hub.Audience) int64
}

// Conversations loads a conversation for an event that carries it.
type Conversations interface {
	Conversation(ctx context.Context, id, agentID int64) (*store.Conversation, error)
}

// Publisher publishes the durable events.
type Publisher struct {
	hub   Hub
	convs Conversations
	log   *slog.Logger
	// countsChanged is called after each event that can change the inbox counts (a
	// message, a conversation changed, deleted or erased): the counts are pushed to
	// the pages on their own (server/counts).
	countsChanged func()
}

// NewPublisher publishes on h, loading conversations from convs when an event needs
// one, and calls countsChanged after each event that can change the inbox counts.
func NewPublisher(h Hub, convs Conversations, log *slog.Logger, countsChanged func()) *Publisher {
	return &Publisher{hub: h, convs: convs, log: log, countsChanged: countsChanged}
}

// MessageCreated: a message or note was stored, with its conversation as it now is.
func (p *Publisher) MessageCreated(conv *store.Conversation, msg *store.Message) {
	p.hub.Publish(map[string]any{"type": "message.created", "conversation_id": conv.ID, "conversation": conv, "message": msg})
	p.countsChanged()
}

// MessageUpdated: a message's delivery changed (sent, failed, retried).
func (p *Publisher) MessageUpdated(msg *store.Message) {
	p.hub.Publish(map[string]any{"type": "message.updated", "conversation_id": msg.ConversationID, "message": msg})
}

// ConversationUpdated: a conversation changed (status, assignee, tags, SLA).
func (p *Publisher) ConversationUpdated(conv *store.Conversation) {
	p.hub.Publish(map[string]any{"type": "conversation.updated", "conversation_id": conv.ID, "conversation": conv})
	p.countsChanged()
}

// ConversationChanged is ConversationUpdated for a conversation known by its id.
func (p *Publisher) ConversationChanged(ctx context.Context, id int64) {
	conv, err := p.convs.Conversation(ctx, id, 0)
	if err != nil {
		p.log.Warn("load conversation for event", "id", id, "err", err)
		return
	}
	p.ConversationUpdated(conv)
}

// ConversationDeleted: a conversation is gone for good.
func (p *Publisher) ConversationDeleted(id int64) {
	p.hub.Publish(map[string]any{"type": "conversation.deleted", "conversation_id": id})
	p.countsChanged()
}

// ContactErased: a person and their conversations were erased.
func (p *Publisher) ContactErased(contactID int64, conversationIDs []int64) {
	p.hub.Publish(map[string]any{"type": "contact.erased", "contact_id": contactID, "conversation_ids": conversationIDs})
	p.countsChanged()
}

// IncidentUpdated: an incident was declared or updated, or its fan-out moved on.
func (p *Publisher) IncidentUpdated(inc *store.Incident) {
	p.hub.Publish(map[string]any{"type": "incident.updated", "incident": inc})
}

// DataRequestUpdated: a data request was suggested, opened or changed.
func (p *Publisher) DataRequestUpdated(dr *store.DataRequest) {
	p.hub.Publish(map[string]any{"type": "data_request.updated", "data_request": dr})
}

// NotificationCreated: agents got an in-app notification; only their pages hear it.
func (p *Publisher) NotificationCreated(to []*store.Agent, kind, text, link string) {
	ids := make([]int64, len(to))
	for i, a := range to {
		ids[i] = a.ID
	}
	p.hub.PublishTo(map[string]any{"type": "notification.created", "agent_ids": ids, "kind": kind, "text": text, "link": link}, hub.Agents(ids...))
}
