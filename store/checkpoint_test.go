package store

import (
	"context"
	"fmt"
	"kibo/connectors"
	"os"
	"testing"
	"time"
)

// The writer never checkpoints (its commits stay short), and the log still does not
// grow without end: the checkpointer folds it back and it is reused from its start.
// Without the checkpointer the log of this test grows past 40 MB.
func TestTheWriteAheadLogIsCheckpointedOffTheWriter(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{Durability: DurabilityNormal})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var auto int
	if err := s.w.QueryRow(`PRAGMA wal_autocheckpoint`).Scan(&auto); err != nil || auto != 0 {
		t.Fatalf("the writer checkpoints by itself every %d pages (%v)", auto, err)
	}
	ctx := context.Background()
	in := mustInbox(t, s, "chat")
	text := fmt.Sprintf("%0500d", 0) // half a kilobyte a message
	var biggest int64
	for round := 0; round < 20; round++ {
		errs := make(chan error, 500)
		for i := 0; i < 500; i++ {
			go func() {
				_, err := s.Ingest(ctx, Incoming{Inbound: connectors.Inbound{InboxID: in.ID, Identity: connectors.Identity{Kind: "visitor", Scope: "1", ExternalID: fmt.Sprintf("v%d-%d", round, i)}, ClientID: "c", Text: text}})
				errs <- err
			}()
		}
		for i := 0; i < 500; i++ {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(2 * checkpointEvery) // the checkpointer's turn
		if fi, err := os.Stat(s.path + "-wal"); err == nil && fi.Size() > biggest {
			biggest = fi.Size()
		}
	}
	if biggest == 0 || biggest > 12<<20 {
		t.Fatalf("the log grew to %d bytes for 10,000 messages", biggest)
	}
	t.Logf("the log peaked at %.1f MB", float64(biggest)/(1<<20))
}
