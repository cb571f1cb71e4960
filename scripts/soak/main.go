// Command soak holds N idle widget sockets open on Kibo (each through hello →
// welcome, answering the server's pings) and reports the server's resident memory
// before, with the sockets open, and after they close: the memory per connection.
//
//	go run ./scripts/soak --bin bin/kibo --conns 10000 --hold 20s
//
// Ten thousand sockets need more open files than the usual soft limit of 1024: soak
// raises its own soft limit to the hard limit, and a kibo it starts inherits it (for a
// server started by hand, run `ulimit -n 65535` in its shell first).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"kibo/scripts/loadkit"
)

func main() {
	fs := flag.NewFlagSet("soak", flag.ExitOnError)
	bin := fs.String("bin", "", "start this kibo binary on a fresh data directory (else --base/--token)")
	base := fs.String("base", "", "URL of a running Kibo on 127.0.0.1")
	token := fs.String("token", "", "admin API token of that Kibo")
	pid := fs.Int("pid", 0, "the server's process id (default: found by the listen port)")
	conns := fs.Int("conns", 10000, "idle widget sockets to hold")
	parallel := fs.Int("parallel", 100, "sockets being opened at once")
	hold := fs.Duration("hold", 20*time.Second, "how long to hold them all before measuring")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "soak: hold N idle widget sockets; report the server's RSS per connection.")
		fs.PrintDefaults()
	}
	fs.Parse(os.Args[1:])
	if err := run(*bin, *base, *token, *pid, *conns, *parallel, *hold); err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(1)
	}
}

func run(bin, base, token string, pid, n, parallel int, hold time.Duration) error {
	limit, err := loadkit.RaiseNoFile()
	if err != nil {
		return err
	}
	if uint64(n)+200 > limit {
		return fmt.Errorf("open-file limit %d is too low for %d sockets: raise the hard limit (ulimit -Hn) or ask for fewer", limit, n)
	}
	ctx := context.Background()
	if bin != "" {
		dir, err := os.MkdirTemp("", "kibo-soak-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		k := &loadkit.Kibo{Bin: bin, Data: filepath.Join(dir, "data"), Env: []string{fmt.Sprintf("KIBO_CHAT_MAX_CONNS=%d", n+1000)}}
		if err := k.Setup(); err != nil {
			return err
		}
		if err := k.Start(ctx); err != nil {
			return err
		}
		defer k.Stop(30 * time.Second)
		base, token, pid = k.Base(), k.Token, k.Pid()
	}
	if base == "" || token == "" {
		return fmt.Errorf("give --bin, or --base and --token")
	}
	if pid == 0 {
		u, _ := url.Parse(base)
		port, _ := strconv.Atoi(u.Port())
		if pid, err = loadkit.PidByPort(port); err != nil {
			return err
		}
	}
	key, err := loadkit.API{Base: base, Token: token}.CreateChatInbox("soak")
	if err != nil {
		return err
	}
	// warm up: what every server allocates once (pools, the first socket) belongs to
	// the baseline, not to the connections
	for i := 0; i < 50; i++ {
		c, _, err := loadkit.Hello(ctx, base, key, "")
		if err != nil {
			return fmt.Errorf("warm-up socket: %w", err)
		}
		c.Close()
	}
	time.Sleep(2 * time.Second)
	before, err := loadkit.ReadProc(pid)
	if err != nil {
		return err
	}

	life, stop := context.WithCancel(ctx)
	defer stop()
	var (
		mu      sync.Mutex
		open    []*websocket.Conn
		errs    loadkit.Errors
		ok      atomic.Int64
		readers sync.WaitGroup
	)
	sem := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	t0 := time.Now()
	for i := 0; i < n; i++ {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			dctx, cancel := context.WithTimeout(life, 20*time.Second)
			c, _, err := loadkit.Hello(dctx, base, key, "")
			cancel()
			if err != nil {
				errs.Add(loadkit.ErrKind(err))
				return
			}
			ok.Add(1)
			mu.Lock()
			open = append(open, c)
			mu.Unlock()
			// read, so pings are answered; an idle visitor gets nothing else
			readers.Add(1)
			go func() {
				defer readers.Done()
				for {
					if _, _, err := c.ReadMessage(); err != nil {
						if life.Err() == nil {
							k, _, _ := loadkit.ReadKind(err)
							errs.Add("held_" + k)
						}
						return
					}
				}
			}()
		}()
	}
	wg.Wait()
	openTime := time.Since(t0)
	fmt.Printf("opened %d of %d sockets in %s (errors: %s); holding %s\n", ok.Load(), n, openTime.Round(time.Millisecond), errs.String(), hold)
	time.Sleep(hold)
	during, err := loadkit.ReadProc(pid)
	if err != nil {
		return fmt.Errorf("the server is gone while holding the sockets: %w", err)
	}
	stillOpen := ok.Load() - int64(errs.Map()["held_conn_lost"]) - int64(errs.Map()["held_close_1013"]) - int64(errs.Map()["held_close_1000"])
	stop()
	mu.Lock()
	for _, c := range open {
		c.Close()
	}
	mu.Unlock()
	readers.Wait()
	time.Sleep(3 * time.Second)
	after, _ := loadkit.ReadProc(pid)

	held := ok.Load()
	perKB := 0.0
	if held > 0 {
		perKB = float64(during.RSSKB-before.RSSKB) / float64(held)
	}
	var self runtime.MemStats
	runtime.ReadMemStats(&self)
	fmt.Printf("server RSS: before %.1f MB, with %d sockets %.1f MB (peak %.1f MB, %d threads), after closing %.1f MB\n",
		mb(before.RSSKB), held, mb(during.RSSKB), mb(during.HWMKB), during.Thread, mb(after.RSSKB))
	fmt.Printf("per connection: %.1f KB of server RSS (target < 50 KB); sockets still open at the end of the hold: %d; load %s\n",
		perKB, stillOpen, loadkit.LoadAvg())
	b, _ := json.Marshal(map[string]any{"tool": "soak", "conns": n, "opened": held, "open_s": openTime.Seconds(), "errors": errs.Map(),
		"rss_before_mb": mb(before.RSSKB), "rss_held_mb": mb(during.RSSKB), "rss_peak_mb": mb(during.HWMKB), "rss_after_mb": mb(after.RSSKB),
		"per_conn_kb": perKB, "still_open": stillOpen, "client_sys_mb": float64(self.Sys) / (1 << 20), "loadavg": loadkit.LoadAvg()})
	fmt.Println(string(b))
	return nil
}

func mb(kb int64) float64 { return float64(kb) / 1024 }
