package followups

import (
	"context"
	"errors"
	"io"
	"kibo/connectors"
	"log/slog"
	"strconv"
	"testing"
	"time"

	"kibo/store"
)

// A step that fails is tried again later with a growing wait, and its work stays
// recorded meanwhile; other work is not held up behind it.
func TestFollowupRetriedAfterAFailure(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(t.TempDir(), store.Options{Durability: store.DurabilityNormal})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	in, err := st.CreateInbox(ctx, "chat", "Web", "retry-key", map[string]any{})
	if err != nil {
		t.Fatal(err)
	}
	scope := strconv.FormatInt(in.ID, 10)
	say := func(who string) int64 {
		r, err := st.Ingest(ctx, store.Incoming{Inbound: connectors.Inbound{InboxID: in.ID, Identity: connectors.Identity{Kind: "visitor", Scope: scope, ExternalID: who}, ClientID: who, Text: "hello"}})
		if err != nil {
			t.Fatal(err)
		}
		return r.MessageID
	}
	bad, good := say("a"), say("b")
	now := time.Now()
	seen := map[int64]int{}
	w := NewWorker(st, slog.New(slog.NewTextHandler(io.Discard, nil)), func() time.Time { return now },
		func(_ context.Context, batch []Item) map[int64]error {
			out := map[int64]error{}
			for _, it := range batch {
				seen[it.Work.MessageID]++
				if it.Work.MessageID == bad && seen[bad] < 3 {
					out[bad] = errors.New("the disk is full")
				}
			}
			return out
		})
	pending := func() int {
		b, err := st.FollowupBacklog(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return b.Pending
	}
	if n, err := w.runBatch(ctx); err != nil || n != 2 {
		t.Fatalf("first batch: %d, %v", n, err)
	}
	if seen[good] != 1 || pending() != 1 {
		t.Fatalf("after one failure: steps ran %v, %d pending; want the good one done and the bad one kept", seen, pending())
	}
	// not due again before its wait (1 s after the first failure, 2 s after the second)
	if n, _ := w.runBatch(ctx); n != 0 {
		t.Fatalf("a failed follow-up ran again at once")
	}
	now = now.Add(1500 * time.Millisecond)
	w.runBatch(ctx)
	now = now.Add(1500 * time.Millisecond)
	if n, _ := w.runBatch(ctx); n != 0 || seen[bad] != 2 {
		t.Fatalf("the second wait is longer than the first: ran %d times", seen[bad])
	}
	now = now.Add(time.Second)
	w.runBatch(ctx)
	if seen[bad] != 3 || pending() != 0 || w.Failed() != 2 || w.Done() != 2 {
		t.Fatalf("after the third try: ran %d times, %d pending, %d failed, %d done", seen[bad], pending(), w.Failed(), w.Done())
	}
}
