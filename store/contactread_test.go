package store

import (
	"context"
	"testing"

	"kibo/connectors"
)

// The customer's read mark lands on the company's last public message at or before
// what they say they read, only in their conversation, and only moves forward.
func TestContactReadMarksTheCompanysLastPublicMessage(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	in := mustInbox(t, s, "chat")
	visitor := func(v string) connectors.Inbound {
		return connectors.Inbound{InboxID: in.ID, Identity: connectors.Identity{Kind: "visitor", Scope: "1", ExternalID: v}, ClientID: v, Text: "hello from " + v}
	}
	mine, err := s.Ingest(ctx, Incoming{Inbound: visitor("a"), ReuseOpen: true})
	if err != nil {
		t.Fatal(err)
	}
	other, err := s.Ingest(ctx, Incoming{Inbound: visitor("b"), ReuseOpen: true})
	if err != nil {
		t.Fatal(err)
	}
	say := func(conv int64, text string, private bool) int64 {
		m, err := s.AddAgentMessage(ctx, AgentMessage{ConversationID: conv, AuthorName: "Sam", Text: text, Private: private})
		if err != nil {
			t.Fatal(err)
		}
		return m.ID
	}
	first := say(mine.ConversationID, "first", false)
	note := say(mine.ConversationID, "a note", true)
	elsewhere := say(other.ConversationID, "to someone else", false)
	second := say(mine.ConversationID, "second", false)

	for _, tt := range []struct {
		name   string
		upTo   int64
		want   int64
		moved  bool
		stored int64
	}{
		{"the visitor's own message", mine.MessageID, 0, false, 0},
		{"the note: the public message before it", note, first, true, first},
		{"another conversation's message: this one's before it", elsewhere, first, false, first},
		{"past the end: the last", second + 100, second, true, second},
		{"an older read", first, first, false, second},
	} {
		got, moved, err := s.ContactRead(ctx, mine.ConversationID, tt.upTo)
		if err != nil || got != tt.want || moved != tt.moved {
			t.Errorf("%s: %d, %v, %v; want %d, %v", tt.name, got, moved, err, tt.want, tt.moved)
		}
		c, err := s.Conversation(ctx, mine.ConversationID, 0)
		if err != nil || c.ContactReadID != tt.stored {
			t.Errorf("%s: stored %d (%v), want %d", tt.name, c.ContactReadID, err, tt.stored)
		}
	}
}
