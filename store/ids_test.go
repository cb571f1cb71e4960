package store

import (
	"context"
	"errors"
	"testing"

	"kibo/connectors"
)

// Ids are never reused: a visitor erased while their widget is open must not see the
// next visitor's contact, conversation, message or ticket number come back with the
// ids they held (SQLite's plain INTEGER PRIMARY KEY hands out the largest rowid + 1
// again once the newest row is deleted).
func TestIDsAreNeverReusedAfterErasure(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	in := mustInbox(t, s, "chat")
	visitor := func(id string) connectors.Identity {
		return connectors.Identity{Kind: "visitor", Scope: "1", ExternalID: id}
	}
	v, err := s.Ingest(ctx, Incoming{Inbound: connectors.Inbound{InboxID: in.ID, Identity: visitor("v"), ClientID: "v-1", Text: "I am V",
		Attachments: []connectors.Attachment{{Filename: "v.txt", ContentType: "text/plain", Data: []byte("V's file")}}}})
	if err != nil {
		t.Fatal(err)
	}
	vConv, err := s.Conversation(ctx, v.ConversationID, 0)
	if err != nil {
		t.Fatal(err)
	}
	vMsgs, err := s.Messages(ctx, v.ConversationID, MessageFilter{})
	if err != nil || len(vMsgs) != 1 || len(vMsgs[0].Attachments) != 1 {
		t.Fatalf("V's messages: %v %v", vMsgs, err)
	}
	vAttachment := vMsgs[0].Attachments[0].ID
	if _, err := s.EraseContact(ctx, v.ContactID, ErasureOptions{ActorID: 1}); err != nil {
		t.Fatal(err)
	}

	w, err := s.Ingest(ctx, Incoming{Inbound: connectors.Inbound{InboxID: in.ID, Identity: visitor("w"), ClientID: "w-1", Text: "I am W",
		Attachments: []connectors.Attachment{{Filename: "w.txt", ContentType: "text/plain", Data: []byte("W's file")}}}})
	if err != nil {
		t.Fatal(err)
	}
	wConv, err := s.Conversation(ctx, w.ConversationID, 0)
	if err != nil {
		t.Fatal(err)
	}
	wMsgs, err := s.Messages(ctx, w.ConversationID, MessageFilter{})
	if err != nil || len(wMsgs) != 1 || len(wMsgs[0].Attachments) != 1 {
		t.Fatalf("W's messages: %v %v", wMsgs, err)
	}
	for _, c := range []struct {
		what        string
		erased, got int64
	}{
		{"contact", v.ContactID, w.ContactID},
		{"conversation", v.ConversationID, w.ConversationID},
		{"message", v.MessageID, w.MessageID},
		{"attachment", vAttachment, wMsgs[0].Attachments[0].ID},
		{"ticket number", vConv.Number, wConv.Number},
	} {
		if c.got <= c.erased {
			t.Errorf("the next %s after erasing %d is %d: an erased id came back", c.what, c.erased, c.got)
		}
	}
}

// A message for a conversation that was deleted (or erased) under an open widget is not
// filed there: the channel is told, and the widget starts afresh.
func TestNothingIsFiledUnderADeletedConversation(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	in := mustInbox(t, s, "chat")
	who := connectors.Identity{Kind: "visitor", Scope: "1", ExternalID: "v"}
	first, err := s.Ingest(ctx, Incoming{Inbound: connectors.Inbound{InboxID: in.ID, Identity: who, ClientID: "1", Text: "spam"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteConversation(ctx, first.ConversationID); err != nil {
		t.Fatal(err)
	}
	_, err = s.Ingest(ctx, Incoming{Inbound: connectors.Inbound{InboxID: in.ID, Identity: who, ConversationID: first.ConversationID, ClientID: "2", Text: "more spam"}})
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("a message into a deleted conversation: %v, want not found", err)
	}
}
