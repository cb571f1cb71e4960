// Command gendata writes a large, realistic Kibo database for the store benchmarks
// and the migration timing: conversations with contacts, tags, statuses and
// assignees, and messages whose text reads like support mail (Zipf-distributed words,
// so searches hit realistic numbers of rows). Bulk inserts in big transactions,
// synchronous=OFF while generating; the full-text index is kept consistent.
//
//	go run ./scripts/gendata --out /tmp/kibo-1m --conversations 1000000 --messages 10
//	KIBO_BENCH_DB=/tmp/kibo-1m go test -run '^$' -bench . ./store/
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"time"

	"kibo/store/storegen"
)

func main() {
	fs := flag.NewFlagSet("gendata", flag.ExitOnError)
	out := fs.String("out", "", "data directory to create (kibo.db goes in it; must not hold one)")
	convs := fs.Int("conversations", 10000, "conversations")
	per := fs.Float64("messages", 10, "messages per conversation on average")
	fts := fs.String("fts", "rebuild", "full-text index: rebuild (drop the trigger, rebuild at the end) or trigger (index each insert)")
	schema := fs.Int("schema", 0, "schema version to write (0: current; 1: the first migration only, for timing `kibo migrate`)")
	seed := fs.Uint64("seed", 1, "random seed")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "gendata: generate a large Kibo database (kibo.db in --out) for benchmarks.")
		fs.PrintDefaults()
	}
	fs.Parse(os.Args[1:])
	if *out == "" {
		fs.Usage()
		os.Exit(2)
	}
	start := time.Now()
	last := time.Now()
	st, err := storegen.Generate(context.Background(), *out, storegen.Config{Conversations: *convs, MessagesPer: *per, FTS: *fts,
		SchemaVersion: *schema, Seed: *seed, Progress: func(done, total int) {
			if time.Since(last) > 5*time.Second || done >= total {
				last = time.Now()
				el := time.Since(start).Seconds()
				fmt.Fprintf(os.Stderr, "  %d/%d messages, %.0fs, %.0f msg/s\n", done, total, el, float64(done)/el)
			}
		}})
	if err != nil {
		fmt.Fprintln(os.Stderr, "gendata:", err)
		os.Exit(1)
	}
	fmt.Printf("%s/kibo.db: %d conversations, %d messages, %d contacts, %.1f GB; schema %s, inserts %s (%.0f msg/s), fts %s (%s), total %s\n",
		*out, st.Conversations, st.Messages, st.Contacts, float64(st.Bytes)/1e9, st.Schema.Round(time.Millisecond),
		st.Insert.Round(time.Millisecond), float64(st.Messages)/st.Insert.Seconds(), st.FTS.Round(time.Millisecond), *fts,
		st.Total.Round(time.Millisecond))
	b, _ := json.Marshal(map[string]any{"tool": "gendata", "conversations": st.Conversations, "messages": st.Messages, "contacts": st.Contacts,
		"bytes": st.Bytes, "fts": *fts, "schema_version": *schema, "insert_s": st.Insert.Seconds(), "fts_s": st.FTS.Seconds(), "total_s": st.Total.Seconds()})
	fmt.Println(string(b))
}
