package server

import (
	"context"
	"os"
	"strings"
	"testing"

	"kibo/connectors/email"
)

// A mailing-list message that answers a customer's mail (In-Reply-To their Message-ID,
// their ticket's token in the subject) is other people's traffic: it must open a
// conversation of its own, marked auto, and leave the customer's ticket alone.
func TestListMailNeverJoinsACustomersConversation(t *testing.T) {
	k := startKibo(t)
	ctx := context.Background()
	in, err := k.st.CreateInbox(ctx, "email", "Support mail", "", map[string]any{"address": "support@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	deliver := func(raw []byte) (int64, bool) {
		t.Helper()
		p, err := email.Parse(raw, 0)
		if err != nil {
			t.Fatal(err)
		}
		got, err := (sink{k.srv}).Deliver(ctx, email.ToInbound(in.ID, p, raw))
		if err != nil {
			t.Fatal(err)
		}
		return got.ConversationID, got.NewConversation
	}
	customer := strings.ReplaceAll(`From: "Meyer, Karl" <karl.meyer@example.com>
To: Widget users <users@lists.example.org>
Cc: Kibo Support <support@example.com>
Subject: Printer broken
Date: Fri, 22 Mar 2024 08:02:11 +0000
Message-ID: <orig.1@example.com>
Content-Type: text/plain; charset=utf-8

My printer says offline since the update. My customer number is 55-1234.
`, "\n", "\r\n")
	ticket, _ := deliver([]byte(customer))
	list, err := os.ReadFile("../connectors/email/testdata/corpus/list-reply.eml")
	if err != nil {
		t.Fatal(err)
	}
	conv, isNew := deliver(list)
	if conv == ticket || !isNew {
		t.Fatalf("the list's message joined the customer's conversation %d (got %d, new %v)", ticket, conv, isNew)
	}
	if msgs := k.messages(ticket); len(msgs) != 1 {
		t.Errorf("the customer's conversation has %d messages, want their own 1", len(msgs))
	}
	msgs := k.messages(conv)
	if len(msgs) != 1 || msgs[0]["auto"] != true {
		t.Errorf("the list's conversation: %v", msgs)
	}
	// the customer answering in their own thread still joins it
	reply := strings.ReplaceAll(`From: "Meyer, Karl" <karl.meyer@example.com>
To: Kibo Support <support@example.com>
Subject: Re: Printer broken
Message-ID: <orig.2@example.com>
In-Reply-To: <orig.1@example.com>
References: <orig.1@example.com>
Content-Type: text/plain; charset=utf-8

Still offline.
`, "\n", "\r\n")
	if got, _ := deliver([]byte(reply)); got != ticket {
		t.Errorf("the customer's own reply went to %d, not their conversation %d", got, ticket)
	}
}
