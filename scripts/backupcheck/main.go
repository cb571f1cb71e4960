// Command backupcheck takes `kibo backup` while chat visitors write, restores the copy
// into a fresh data directory and checks it: every message acknowledged before the
// backup began is in the copy exactly once, the copy passes PRAGMA integrity_check,
// its message rows have the same checksum as the same rows of the live database, and
// a kibo serves it.
//
//	go run ./scripts/backupcheck --bin bin/kibo --visitors 200 --before 10s
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"time"

	"kibo/scripts/loadkit"
)

func main() {
	fs := flag.NewFlagSet("backupcheck", flag.ExitOnError)
	bin := fs.String("bin", "bin/kibo", "the kibo binary")
	visitors := fs.Int("visitors", 100, "concurrent widget visitors")
	rate := fs.Float64("rate", 5, "messages a second per visitor")
	before := fs.Duration("before", 10*time.Second, "load before the backup starts")
	after := fs.Duration("after", 3*time.Second, "load after the backup ends")
	keep := fs.Bool("keep", false, "keep the work directory")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "backupcheck: kibo backup under chat load, restore into a fresh directory, compare.")
		fs.PrintDefaults()
	}
	fs.Parse(os.Args[1:])
	loadkit.RaiseNoFile()
	dir, err := os.MkdirTemp("", "kibo-backup-")
	if err != nil {
		fail(err)
	}
	if *keep {
		fmt.Println("work directory:", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	res, err := loadkit.BackupUnderLoad(ctx, loadkit.BackupConfig{Bin: *bin, Dir: dir, Visitors: *visitors, Rate: *rate,
		Before: *before, After: *after, Env: []string{"KIBO_CHAT_RATE=200"}, Logf: func(f string, a ...any) { fmt.Printf(f+"\n", a...) }})
	if err != nil {
		fail(err)
	}
	fmt.Printf("backup under load: %.0f ms, %d bytes; %d messages acked before it began, %d of them missing in the copy, %d duplicated\n",
		res.BackupMS, res.BackupBytes, res.AckedBefore, res.MissingInCopy, res.DuplicatedCopy)
	fmt.Printf("copy: %d messages (live at the end: %d), integrity_check %s, checksum copy %s… live %s…, restored copy serves: %v\n",
		res.CopyMessages, res.LiveMessages, res.Integrity, short(res.ChecksumCopy), short(res.ChecksumLive), res.RestoredServes)
	fmt.Printf("live: %s\n", res.LiveCheck)
	b, _ := json.Marshal(map[string]any{"tool": "backupcheck", "result": res, "loadavg": loadkit.LoadAvg()})
	fmt.Println(string(b))
	if !res.OK() {
		fmt.Println("FAIL")
		os.Exit(1)
	}
	fmt.Println("PASS")
}

func short(s string) string {
	if len(s) > 12 {
		return s[:12]
	}
	return s
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "backupcheck:", err)
	os.Exit(1)
}
