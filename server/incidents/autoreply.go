package incidents

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"kibo/server/words"
	"kibo/store"
)

// autoReplyText answers a new ticket while an incident is open.
func (b *Broadcaster) autoReplyText(ctx context.Context, inc *store.Incident) string {
	var s strings.Builder
	fmt.Fprintf(&s, "Thank you for writing. We are aware of an ongoing issue: %s (%s).\n\n%s\n", inc.Title, strings.ToLower(StateWords[inc.State]), inc.Message)
	switch {
	case inc.State == "scheduled" && inc.ScheduledEnd != nil:
		fmt.Fprintf(&s, "\nThe maintenance should be over by %s.\n", b.when(ctx, *inc.ScheduledEnd))
	case inc.ETA != nil:
		fmt.Fprintf(&s, "\nWe expect it to be resolved by %s.\n", b.when(ctx, *inc.ETA))
	}
	s.WriteString("\nIf your message is about this, there is no need to write again: we will keep you posted. Otherwise we will answer you as soon as we can.")
	if b.PublicURL != "" {
		fmt.Fprintf(&s, "\nLive status: %s", words.Link(b.PublicURL, "/status"))
	}
	return s.String()
}

// AfterIngest is the follow-up step of an inbound message (server/followups): it
// answers a new ticket during an incident, once per contact and incident, and tags the
// conversation with the incident so the inbox can group them. Run again, it does
// nothing new.
func (b *Broadcaster) AfterIngest(ctx context.Context, work store.Followup, conv *store.Conversation, msg *store.Message) error {
	if !work.NewConversation || msg.Direction != "in" {
		return nil
	}
	inc := b.Active()
	// the hook runs after the commit, in batches: a ticket opened just before the
	// declaration is not one that arrived during the incident
	if inc == nil || conv.CreatedAt.Before(inc.StartedAt()) {
		return nil
	}
	if err := b.Store.TagConversation(ctx, conv.ID, fmt.Sprintf("incident-%d", inc.ID)); err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("tag conversation %d with incident %d: %w", conv.ID, inc.ID, err)
	}
	if msg.Auto { // an out-of-office or a bounce is never answered automatically
		if c, err := b.Store.Conversation(ctx, conv.ID, 0); err == nil {
			b.Events.ConversationUpdated(c)
		}
		return nil
	}
	ch, ok := b.Channels.Lookup(conv.Channel)
	if !ok {
		return nil // a channel this Kibo no longer runs: nothing can answer there
	}
	im := store.IncidentMessage{
		Kind: "auto_reply", IncidentID: inc.ID, ContactID: conv.Contact.ID, ConversationID: conv.ID, Channel: conv.Channel,
		DedupeKey:  fmt.Sprintf("incident-auto:%d:%d", inc.ID, conv.Contact.ID),
		AuthorName: b.Store.CompanyName(ctx), Text: b.autoReplyText(ctx, inc), Queue: !ch.Replies.Direct, Bump: true,
	}
	if ch.Replies.ExternalID != nil {
		im.ExternalID = ch.Replies.ExternalID(b.InboxSettings(ctx, conv.InboxID))
	}
	msgs, err := b.Store.AddIncidentMessages(ctx, []store.IncidentMessage{im})
	if errors.Is(err, store.ErrNotFound) {
		return nil // the conversation was deleted since
	}
	if err != nil {
		return fmt.Errorf("incident auto-reply to conversation %d: %w", conv.ID, err)
	}
	reply := msgs[0]
	if c, err := b.Store.Conversation(ctx, conv.ID, 0); err == nil {
		conv = c
	}
	if reply == nil {
		b.Events.ConversationUpdated(conv) // the tag, or an auto-reply sent before a crash
		return nil
	}
	if im.Queue {
		b.WakeOutbox()
	} else {
		b.pushWhenJoined(conv.ID, map[string]any{
			"type": "message", "id": reply.ID, "author": map[string]any{"kind": "system", "name": reply.Author.Name},
			"text": reply.Text, "created_at": reply.CreatedAt,
		})
	}
	b.Events.MessageCreated(conv, reply)
	return nil
}

// pushWhenJoined sends a frame to a chat conversation's widgets once the visitor's
// socket has joined it: a visitor's first message creates the conversation, and the
// socket joins it only when the message is stored (the reply is in the store either
// way, so a visitor who left sees it on the next visit).
func (b *Broadcaster) pushWhenJoined(convID int64, frame map[string]any) {
	go func() {
		deadline := time.Now().Add(5 * time.Second)
		for !b.Widgets.Online(convID) {
			if time.Now().After(deadline) {
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
		b.Widgets.Push(convID, frame)
	}()
}
