// Command crashtest kills Kibo with SIGKILL at random moments under chat load and
// restarts it, then stops it once with SIGTERM, while the visitors resend every
// unacknowledged message with the same client_id after reconnecting (as the widget
// does). At the end it reads every conversation back through the API and checks that
// each acknowledged client_id is stored exactly once: 0 lost, 0 duplicated.
//
//	go run ./scripts/crashtest --bin bin/kibo --kills 25 --visitors 50
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"kibo/scripts/loadkit"
)

func main() {
	fs := flag.NewFlagSet("crashtest", flag.ExitOnError)
	bin := fs.String("bin", "bin/kibo", "the kibo binary to start, kill and restart")
	kills := fs.Int("kills", 20, "SIGKILLs")
	visitors := fs.Int("visitors", 50, "concurrent widget visitors")
	rate := fs.Float64("rate", 10, "messages a second per visitor")
	minGap := fs.Duration("min-gap", 300*time.Millisecond, "shortest time between a restart and the next kill")
	maxGap := fs.Duration("max-gap", 2*time.Second, "longest time between a restart and the next kill")
	term := fs.Bool("sigterm", true, "add a SIGTERM round after the kills")
	durability := fs.String("durability", "", "KIBO_DURABILITY (full|normal); default full")
	keep := fs.Bool("keep", false, "keep the data directory")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "crashtest: SIGKILL and restart Kibo under chat load; check 0 lost / 0 duplicated through the API.")
		fs.PrintDefaults()
	}
	fs.Parse(os.Args[1:])
	if _, err := loadkit.RaiseNoFile(); err != nil {
		fail(err)
	}
	dir, err := os.MkdirTemp("", "kibo-crash-")
	if err != nil {
		fail(err)
	}
	if *keep {
		fmt.Println("data directory:", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	var env []string
	if *durability != "" {
		env = append(env, "KIBO_DURABILITY="+*durability)
	}
	// a visitor's messages may come faster than the default per-socket limit when
	// resends pile up after a restart
	env = append(env, "KIBO_CHAT_RATE=200")
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	res, err := loadkit.CrashTest(ctx, loadkit.CrashConfig{Bin: *bin, Data: filepath.Join(dir, "data"), Env: env, Visitors: *visitors,
		Rate: *rate, Kills: *kills, MinGap: *minGap, MaxGap: *maxGap, Term: *term,
		Logf: func(f string, a ...any) { fmt.Printf(f+"\n", a...) }})
	if err != nil {
		fail(err)
	}
	fmt.Printf("crash test: %d SIGKILLs + %d SIGTERM (clean stop in %.0f ms), slowest restart %.0f ms, %.0fs in all, load %s\n",
		res.Kills, res.Terms, res.TermStopMS, res.MaxRestartMS, res.Elapsed, loadkit.LoadAvg())
	fmt.Printf("messages: %s; %d conversations read back; pending at the end %d\n", res.Check, res.Conversations, res.PendingAtEnd)
	b, _ := json.Marshal(map[string]any{"tool": "crashtest", "result": res, "loadavg": loadkit.LoadAvg()})
	fmt.Println(string(b))
	if !res.Check.OK() || res.Check.Acked == 0 || res.PendingAtEnd > 0 {
		fmt.Println("FAIL: acknowledged messages lost or duplicated, or messages never acknowledged")
		os.Exit(1)
	}
	fmt.Println("PASS: 0 lost, 0 duplicated")
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "crashtest:", err)
	os.Exit(1)
}
