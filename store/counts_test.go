package store

import (
	"context"
	"errors"
	"fmt"
	"kibo/connectors"
	"math/rand/v2"
	"testing"
	"time"
)

// countsByDefinition counts what the kept counts stand for, over every row, for one
// agent: the plain definition the triggers of migration 0012 must agree with.
func countsByDefinition(t *testing.T, s *Store, agentID int64) *Counts {
	t.Helper()
	want := &Counts{ByStatus: map[string]int{}, ByInbox: map[int64]int{}}
	for _, st := range Statuses {
		want.ByStatus[st] = 0
	}
	rows, err := s.r.Query(`SELECT c.status, c.inbox_id, c.assignee_id IS NOT NULL AND c.assignee_id = ?, c.assignee_id IS NULL,
		c.last_inbound_message_id > COALESCE(r.last_read_id, 0)
		FROM conversations c LEFT JOIN conversation_reads r ON r.conversation_id = c.id AND r.agent_id = ? WHERE c.deleted_at IS NULL`, agentID, agentID)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var st string
		var inbox int64
		var mine, unassigned, unread bool
		if err := rows.Scan(&st, &inbox, &mine, &unassigned, &unread); err != nil {
			t.Fatal(err)
		}
		want.ByStatus[st]++
		if st == "open" {
			want.ByInbox[inbox]++
			if mine {
				want.Mine++
			}
			if unassigned {
				want.Unassigned++
			}
			if unread {
				want.Unread++
			}
		}
	}
	return want
}

// tagsByDefinition lists the tags in use, most used first, over every tag row.
func tagsByDefinition(t *testing.T, s *Store) []string {
	t.Helper()
	want := []string{}
	rows, err := s.r.Query(`SELECT tag FROM conversation_tags GROUP BY tag ORDER BY COUNT(*) DESC, tag LIMIT 200`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var tag string
		if err := rows.Scan(&tag); err != nil {
			t.Fatal(err)
		}
		want = append(want, tag)
	}
	return want
}

func sameCounts(a, b *Counts) bool {
	if a.Mine != b.Mine || a.Unassigned != b.Unassigned || a.Unread != b.Unread || len(a.ByInbox) != len(b.ByInbox) {
		return false
	}
	for _, st := range Statuses {
		if a.ByStatus[st] != b.ByStatus[st] {
			return false
		}
	}
	for k, v := range a.ByInbox {
		if b.ByInbox[k] != v {
			return false
		}
	}
	return true
}

// The counts the writer keeps agree with the counts by definition after any sequence of
// what changes conversations: new ones and messages on several channels, agent replies,
// status and assignee changes, snoozes that wake, reads by several agents, deletions,
// merges and erasures.
func TestKeptCountsAgreeWithTheDefinition(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(7, 11))
	chat, email := mustInbox(t, s, "chat"), mustInbox(t, s, "email")
	var agents []int64
	for i := range 3 {
		a, err := s.CreateAgent(ctx, fmt.Sprintf("a%d@example.com", i), fmt.Sprintf("Agent %d", i), "agent", "x")
		if err != nil {
			t.Fatal(err)
		}
		agents = append(agents, a.ID)
	}
	var convs, contacts []int64
	pick := func(list []int64) int64 { return list[rng.IntN(len(list))] }
	seq := 0
	steps := map[string]int{}
	for step := range 1500 {
		seq++
		op := rng.IntN(100)
		if len(convs) == 0 {
			op = 0
		}
		var err error
		switch {
		case op < 20: // a new customer, on chat or e-mail
			var r Ingested
			if rng.IntN(2) == 0 {
				r, err = s.Ingest(ctx, Incoming{Inbound: connectors.Inbound{InboxID: chat.ID, Identity: connectors.Identity{Kind: "visitor", Scope: "1", ExternalID: fmt.Sprint("v", seq)}, ClientID: fmt.Sprint("c", seq), Text: "hi"}})
			} else {
				r, err = s.Ingest(ctx, Incoming{Inbound: connectors.Inbound{InboxID: email.ID, Identity: emailFrom(fmt.Sprintf("p%d@example.com", seq)), ExternalID: fmt.Sprintf("<m%d@x>", seq), Text: "hello"}})
			}
			if err == nil {
				convs, contacts = append(convs, r.ConversationID), append(contacts, r.ContactID)
			}
			steps["new"]++
		case op < 45: // the customer writes again (reopens what was closed)
			c, cerr := s.Conversation(ctx, pick(convs), 0)
			if cerr != nil {
				continue
			}
			ident, ierr := s.Contact(ctx, c.Contact.ID)
			if ierr != nil || len(ident.Identities) == 0 {
				continue
			}
			id := ident.Identities[0]
			_, err = s.Ingest(ctx, Incoming{Inbound: connectors.Inbound{InboxID: c.InboxID, ConversationID: c.ID, Identity: connectors.Identity{Kind: id.Kind, Scope: id.Scope, ExternalID: id.ExternalID}, ClientID: fmt.Sprint("c", seq), ExternalID: fmt.Sprintf("<m%d@x>", seq), Text: "again"}})
			steps["message"]++
		case op < 55: // an agent replies or writes a note
			_, err = s.AddAgentMessage(ctx, AgentMessage{ConversationID: pick(convs), AgentID: pick(agents), AuthorName: "Agent", Text: "on it", Private: rng.IntN(3) == 0})
			steps["reply"]++
		case op < 70: // status, assignee, tags
			u := ConversationUpdate{}
			if rng.IntN(3) == 0 {
				tags := []string{}
				for _, tag := range []string{"billing", "bug", "vip"} {
					if rng.IntN(2) == 0 {
						tags = append(tags, tag)
					}
				}
				u.Tags = &tags
			} else if rng.IntN(2) == 0 {
				st := Statuses[rng.IntN(len(Statuses))]
				u.Status = &st
				if st == "snoozed" {
					at := time.Now().Add(time.Duration(rng.IntN(3)-1) * time.Hour)
					u.SnoozedUntil = &at
				}
			} else {
				var a int64
				if rng.IntN(4) > 0 {
					a = pick(agents)
				}
				u.SetAssignee, u.AssigneeID = true, &a
			}
			_, err = s.UpdateConversation(ctx, pick(convs), pick(agents), u)
			steps["update"]++
		case op < 85: // an agent reads up to some message
			c, cerr := s.Conversation(ctx, pick(convs), 0)
			if cerr != nil {
				continue
			}
			upTo := c.LastMessageID
			if rng.IntN(3) == 0 {
				upTo -= int64(rng.IntN(3))
			}
			err = s.MarkRead(ctx, c.ID, pick(agents), upTo)
			steps["read"]++
		case op < 89:
			_, err = s.WakeSnoozed(ctx)
			steps["wake"]++
		case op < 93:
			err = s.DeleteConversation(ctx, pick(convs))
			steps["delete"]++
		case op < 96:
			if len(contacts) > 1 {
				_, err = s.MergeContacts(ctx, pick(contacts), pick(contacts), agents[0])
				steps["merge"]++
			}
		default:
			_, err = s.EraseContact(ctx, pick(contacts), ErasureOptions{ActorID: agents[0]})
			steps["erase"]++
		}
		if err != nil && !isExpected(err) {
			t.Fatalf("step %d (op %d): %v", step, op, err)
		}
		if step%25 == 0 || step == 1499 {
			for _, a := range agents {
				got, err := s.ConversationCounts(ctx, a)
				if err != nil {
					t.Fatal(err)
				}
				if want := countsByDefinition(t, s, a); !sameCounts(got, want) {
					t.Fatalf("after step %d (%v), agent %d: kept %+v, by definition %+v", step, steps, a, got, want)
				}
			}
			got, err := s.Tags(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if want := tagsByDefinition(t, s); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("after step %d (%v): tags %v, by definition %v", step, steps, got, want)
			}
		}
	}
	final := countsByDefinition(t, s, agents[0])
	if final.Unread == 0 || final.Mine == 0 || final.Unassigned == 0 || final.ByStatus["resolved"] == 0 || len(final.ByInbox) != 2 {
		t.Fatalf("the sequence does not exercise every figure: %+v (%v)", final, steps)
	}
}

// isExpected is an error a random sequence runs into legitimately: something already
// deleted, merged or erased, a merge with itself.
func isExpected(err error) bool {
	var v *ValidationError
	var c *ConflictError
	return errors.Is(err, ErrNotFound) || errors.As(err, &v) || errors.As(err, &c)
}
