package store

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"kibo/connectors"
)

// The store benchmarks run against a generated database: KIBO_BENCH_DB names one made
// by scripts/gendata (its directory, or its kibo.db), e.g. 1M conversations and 10M
// messages; without it a small one (20,000 conversations, ~200,000 messages) is made
// in a temporary directory. The read benchmarks report p50 and p95 per operation
// besides the mean; the insert benchmarks add rows to the database (in their own chat
// inbox, a few thousand at most), so a shared generated database grows a little.
//
//	go test -run '^$' -bench . -benchtime 2s ./store/
//	KIBO_BENCH_DB=/tmp/kibo-1m go test -run '^$' -bench 'Store/(Inbox|Search)' ./store/
func BenchmarkStore(b *testing.B) {
	ctx := context.Background()
	dir := os.Getenv("KIBO_BENCH_DB")
	if dir == "" {
		dir = filepath.Join(b.TempDir(), "data")
		t := time.Now()
		st, err := Generate(ctx, dir, GenConfig{Conversations: 20000, MessagesPer: 10, Seed: 1})
		if err != nil {
			b.Fatal(err)
		}
		b.Logf("generated %d conversations, %d messages in %s (set KIBO_BENCH_DB for a large database)", st.Conversations, st.Messages, time.Since(t).Round(time.Millisecond))
	} else if filepath.Base(dir) == "kibo.db" {
		dir = filepath.Dir(dir)
	}
	if _, err := os.Stat(filepath.Join(dir, "kibo.db")); err != nil {
		b.Fatalf("KIBO_BENCH_DB: %v", err)
	}
	s, err := Open(dir, Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	var convs, msgs, maxConv int64
	s.r.QueryRow(`SELECT COUNT(*), COALESCE(MAX(id), 0) FROM conversations`).Scan(&convs, &maxConv)
	s.r.QueryRow(`SELECT MAX(id) FROM messages`).Scan(&msgs)
	b.Logf("database %s: %d conversations, ~%d messages", dir, convs, msgs)
	var agent int64 = 3

	pages := []struct {
		name string
		f    ConversationFilter
	}{
		{"all", ConversationFilter{}},
		{"open", ConversationFilter{Status: "open"}},
		{"resolved", ConversationFilter{Status: "resolved"}},
		{"mine_open", ConversationFilter{Status: "open", Assignee: "me"}},
		{"unassigned_open", ConversationFilter{Status: "open", Assignee: "none"}},
		{"tag_billing", ConversationFilter{Tag: "billing"}},
		{"tag_billing_open", ConversationFilter{Tag: "billing", Status: "open"}},
		{"tag_onboarding_open", ConversationFilter{Tag: "onboarding", Status: "open"}},
		{"inbox_open", ConversationFilter{InboxID: 3, Status: "open"}},
		{"inbox_all", ConversationFilter{InboxID: 5}},
	}
	for _, p := range pages {
		b.Run("InboxFirstPage/"+p.name, func(b *testing.B) {
			f := p.f
			f.AgentID, f.Limit = agent, 50
			measure(b, func(int) error {
				_, _, err := s.Conversations(ctx, f)
				return err
			})
		})
	}
	for _, p := range []struct {
		name string
		f    ConversationFilter
	}{
		{"open", ConversationFilter{Status: "open"}},
		{"tag_billing", ConversationFilter{Tag: "billing"}},
	} {
		b.Run("InboxSecondPage/"+p.name, func(b *testing.B) {
			f := p.f
			f.AgentID, f.Limit = agent, 50
			_, next, err := s.Conversations(ctx, f)
			if err != nil {
				b.Fatal(err)
			}
			f.Cursor = next
			measure(b, func(int) error {
				_, _, err := s.Conversations(ctx, f)
				return err
			})
		})
	}

	b.Run("ConversationView", func(b *testing.B) {
		r := rand.New(rand.NewPCG(1, 2))
		measure(b, func(int) error {
			id := 1 + r.Int64N(maxConv)
			if _, err := s.Conversation(ctx, id, agent); err != nil {
				return err
			}
			_, err := s.Messages(ctx, id, MessageFilter{})
			return err
		})
	})

	for _, q := range []struct{ name, q string }{
		{"common_word", "refund"},
		{"two_words", "wrong size"},
		{"phrase_prefix", "tracking numb"},
		{"rare_word", "kalomi"},
		{"contact_name", "Okafor"},
		{"ticket_number", "#1042"},
		{"no_match", "zzyzxq"},
	} {
		b.Run("Search/"+q.name, func(b *testing.B) {
			measure(b, func(int) error {
				_, _, err := s.Conversations(ctx, ConversationFilter{Query: q.q, AgentID: agent, Limit: 50})
				return err
			})
		})
	}

	// what every open inbox page and every new visitor cost, whatever the inbox's size
	b.Run("Counts", func(b *testing.B) {
		measure(b, func(int) error {
			_, err := s.ConversationCounts(ctx, agent)
			return err
		})
	})
	b.Run("Tags", func(b *testing.B) {
		measure(b, func(int) error {
			_, err := s.Tags(ctx)
			return err
		})
	})
	b.Run("ReturningVisitor", func(b *testing.B) {
		r := rand.New(rand.NewPCG(3, 4))
		measure(b, func(int) error {
			_, _, err := s.VisitorConversation(ctx, 1, "visitor", "1", fmt.Sprintf("gen-visitor-%d", 1+r.Int64N(maxConv)))
			return err
		})
	})
	// a new visitor's first message in the generated chat inbox (inbox 1, a sixth of
	// the conversations), as the sink stores it: the store looks for the new contact's
	// open conversation there before it opens one
	var newVisitor atomic.Int64
	b.Run("NewVisitorFirstMessage", func(b *testing.B) {
		measure(b, func(int) error {
			n := newVisitor.Add(1)
			_, err := s.Ingest(ctx, Incoming{Inbound: connectors.Inbound{InboxID: 1, Identity: connectors.Identity{Kind: "visitor", Scope: "1", ExternalID: fmt.Sprintf("bench-new-%d-%d", time.Now().UnixNano(), n)}, ClientID: "first", Text: "hello, is anyone there?"}, ReuseOpen: true})
			return err
		})
	})

	// inserts: chat messages from visitors, into the benchmark's own inbox
	in, err := s.CreateInbox(ctx, "chat", "bench", fmt.Sprintf("bench-%d", time.Now().UnixNano()), map[string]any{})
	if err != nil {
		b.Fatal(err)
	}
	var seq atomic.Int64
	ingest := func(visitor string, conv *int64) error {
		n := seq.Add(1)
		res, err := s.Ingest(ctx, Incoming{Inbound: connectors.Inbound{InboxID: in.ID, ConversationID: *conv,
			Identity: connectors.Identity{Kind: "visitor", Scope: strconv.FormatInt(in.ID, 10), ExternalID: visitor},
			ClientID: fmt.Sprintf("bench-%d", n), Text: "my order has not arrived yet, could you check the tracking number please"}})
		if err == nil {
			*conv = res.ConversationID
		}
		return err
	}
	b.Run("Insert/single", func(b *testing.B) {
		// one visitor, one message at a time: each is its own commit (one fsync)
		var conv int64
		v := fmt.Sprintf("single-%d", time.Now().UnixNano())
		measure(b, func(int) error { return ingest(v, &conv) })
	})
	b.Run("Insert/single_tagged", func(b *testing.B) {
		// as single, into a conversation with two tags: the tag list's copy of the
		// activity time is updated with each message
		var conv int64
		v := fmt.Sprintf("tagged-%d", time.Now().UnixNano())
		if err := ingest(v, &conv); err != nil {
			b.Fatal(err)
		}
		for _, tag := range []string{"billing", "vip"} {
			if err := s.TagConversation(ctx, conv, tag); err != nil {
				b.Fatal(err)
			}
		}
		measure(b, func(int) error { return ingest(v, &conv) })
	})
	b.Run("Insert/batched", func(b *testing.B) {
		// many visitors at once: Ingest commits them together (group commit)
		b.SetParallelism(32)
		var g atomic.Int64
		start := time.Now()
		b.RunParallel(func(pb *testing.PB) {
			var conv int64
			v := fmt.Sprintf("par-%d-%d", time.Now().UnixNano(), g.Add(1))
			for pb.Next() {
				if err := ingest(v, &conv); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
	})
}

// measure times each call and reports p50 and p95 besides the mean.
func measure(b *testing.B, op func(i int) error) {
	b.Helper()
	d := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t := time.Now()
		if err := op(i); err != nil {
			b.Fatal(err)
		}
		d = append(d, time.Since(t))
	}
	b.StopTimer()
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	pct := func(p float64) float64 {
		i := int(p*float64(len(d))+0.5) - 1
		if i < 0 {
			i = 0
		}
		if i >= len(d) {
			i = len(d) - 1
		}
		return float64(d[i].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.95), "p95-ms")
}
