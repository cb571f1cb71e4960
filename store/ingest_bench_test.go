package store

import (
	"context"
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"kibo/connectors"
)

// BenchmarkIngestWriter measures the single writer alone: visitors who already have a
// conversation (the widget's steady state) send chat messages concurrently, so every
// Ingest goes through the group commit. Unlike BenchmarkStore/Insert it needs no
// generated database and reports the writer's cost per message, which is what bounds
// the chat throughput of the whole server.
//
//	go test -tags sqlite_fts5 -run '^$' -bench IngestWriter -benchtime 20000x -count 5 ./store/
func BenchmarkIngestWriter(b *testing.B) {
	for _, durability := range []Durability{DurabilityFull, DurabilityNormal} {
		b.Run(string(durability), func(b *testing.B) {
			ctx := context.Background()
			s, err := Open(b.TempDir(), Options{Durability: durability})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			in, err := s.CreateInbox(ctx, "chat", "bench", "bench-key", map[string]any{})
			if err != nil {
				b.Fatal(err)
			}
			const visitors = 256
			convs := make([]int64, visitors)
			scope := strconv.FormatInt(in.ID, 10)
			var seq atomic.Int64
			send := func(v int) error {
				res, err := s.Ingest(ctx, Incoming{Inbound: connectors.Inbound{InboxID: in.ID, ConversationID: convs[v],
					Identity: connectors.Identity{Kind: "visitor", Scope: scope, ExternalID: fmt.Sprintf("visitor-%d", v)},
					ClientID: fmt.Sprintf("c-%d", seq.Add(1)), Text: "my order has not arrived yet, could you check the tracking number please"}})
				if err == nil {
					convs[v] = res.ConversationID
				}
				return err
			}
			for v := range convs {
				if err := send(v); err != nil {
					b.Fatal(err)
				}
			}
			var next atomic.Int64
			b.SetParallelism(visitors / 2) // GOMAXPROCS×128 goroutines: one per visitor on 2 cores
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				v := int(next.Add(1)-1) % visitors
				for pb.Next() {
					if err := send(v); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
		})
	}
}
