// Command loadgen is Kibo's chat load generator: N visitors over the real widget
// protocol (hello → welcome; messages with a client_id; resend after a reconnect until
// acknowledged), each writing at a set rate, and agent sockets on /api/v1/ws that
// timestamp every message.created event. It reports throughput (acknowledged messages
// a second), send→ack and send→agent latency (p50, p95, p99, max), errors by kind, and
// the server's peak RSS and CPU time, as a summary and one JSON line.
//
//	go run ./scripts/loadgen --bin bin/kibo --visitors 2000 --rate 2.5 --duration 30s
//	go run ./scripts/loadgen --base http://127.0.0.1:8080 --token kibo_... --pid 1234
//
// With --bin it starts that kibo itself on a fresh data directory and a free loopback
// port (admin and API token made with the CLI), and stops it at the end.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"kibo/scripts/loadkit"
)

type envList []string

func (e *envList) String() string     { return strings.Join(*e, ",") }
func (e *envList) Set(v string) error { *e = append(*e, v); return nil }

func main() {
	fs := flag.NewFlagSet("loadgen", flag.ExitOnError)
	bin := fs.String("bin", "", "start this kibo binary on a fresh data directory (else use --base/--token)")
	base := fs.String("base", "", "URL of a running Kibo on 127.0.0.1 (without --bin)")
	token := fs.String("token", "", "admin API token of that Kibo (kibo token create)")
	key := fs.String("inbox-key", "", "public key of a chat inbox (default: create one)")
	pid := fs.Int("pid", 0, "the server's process id for RSS and CPU (default: found by the listen port)")
	visitors := fs.Int("visitors", 200, "concurrent widget visitors")
	rate := fs.Float64("rate", 2.5, "messages a second per visitor; 0: the next as soon as the last is acked (closed loop)")
	duration := fs.Duration("duration", 20*time.Second, "how long the measured window lasts")
	warmup := fs.Duration("warmup", 3*time.Second, "load before the window opens (not measured)")
	count := fs.Int("count", 0, "messages per visitor at most (0: as many as the duration allows)")
	agents := fs.Int("agents", 1, "agent sockets on /api/v1/ws")
	size := fs.Int("size", 100, "bytes of text after the marker in each message")
	rampTime := fs.Duration("ramp", 0, "spread the visitors' first connections over this long (default: 1 ms a visitor)")
	drain := fs.Duration("drain", 15*time.Second, "after the window, time to collect the last acks and events")
	ackTimeout := fs.Duration("ack-timeout", 5*time.Second, "after a rate_limited error, resend the unacknowledged messages this long later (as the widget does)")
	durability := fs.String("durability", "", "KIBO_DURABILITY for the server --bin starts (full|normal)")
	profile := fs.String("profile", "", "with --bin: directory for pprof CPU (over the window) and allocation profiles of the server")
	keep := fs.Bool("keep", false, "with --bin: keep the data directory")
	var env envList
	fs.Var(&env, "env", "KEY=VALUE for the server --bin starts (repeatable), e.g. KIBO_CHAT_RATE=50")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "loadgen: chat load over the widget protocol, with agent sockets; reports throughput, latency, errors, server RSS and CPU.")
		fs.PrintDefaults()
	}
	fs.Parse(os.Args[1:])
	if err := run(config{*bin, *base, *token, *key, *pid, *visitors, *rate, *duration, *warmup, *count, *agents, *size, *rampTime,
		*drain, *ackTimeout, *durability, *profile, *keep, env}); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

type config struct {
	bin, base, token, key string
	pid, visitors         int
	rate                  float64
	duration, warmup      time.Duration
	count, agents, size   int
	ramp, drain, ackTO    time.Duration
	durability, profile   string
	keep                  bool
	env                   []string
}

// Result is the JSON line.
type Result struct {
	Tool            string          `json:"tool"`
	Visitors        int             `json:"visitors"`
	Rate            float64         `json:"rate_per_visitor"`
	Offered         float64         `json:"offered_per_s"`
	WindowS         float64         `json:"window_s"`
	Throughput      float64         `json:"acked_per_s"`
	Sent            int64           `json:"sent"`
	Acked           int64           `json:"acked"`
	Ack             loadkit.Summary `json:"send_to_ack"`
	AgentLat        loadkit.Summary `json:"send_to_agent"`
	AgentMissing    int             `json:"agent_missing"`
	Errors          map[string]int  `json:"errors"`
	ServerPeakRSSMB float64         `json:"server_peak_rss_mb"`
	ServerRSSMB     float64         `json:"server_rss_mb"`
	ServerCPUS      float64         `json:"server_cpu_s"`
	ServerCores     float64         `json:"server_cores"`
	ClientCores     float64         `json:"client_cores"`
	Load            string          `json:"loadavg"`
	Durability      string          `json:"durability,omitempty"`
	Unacked         int             `json:"unacked_at_end"`
	Closes          map[string]int  `json:"close_frames,omitempty"`
	Extra           map[string]any  `json:"extra,omitempty"`
}

func run(c config) error {
	if _, err := loadkit.RaiseNoFile(); err != nil {
		return err
	}
	ctx := context.Background()
	var k *loadkit.Kibo
	if c.bin != "" {
		dir, err := os.MkdirTemp("", "kibo-load-")
		if err != nil {
			return err
		}
		if !c.keep {
			defer os.RemoveAll(dir)
		} else {
			fmt.Println("data directory:", dir)
		}
		k = &loadkit.Kibo{Bin: c.bin, Data: filepath.Join(dir, "data"), Env: c.env}
		if c.durability != "" {
			k.Env = append(k.Env, "KIBO_DURABILITY="+c.durability)
		}
		pprofAddr := ""
		if c.profile != "" {
			if err := os.MkdirAll(c.profile, 0o755); err != nil {
				return err
			}
			if pprofAddr, err = loadkit.FreeAddr(); err != nil {
				return err
			}
			k.Env = append(k.Env, "KIBO_PPROF="+pprofAddr)
		}
		if err := k.Setup(); err != nil {
			return err
		}
		if err := k.Start(ctx); err != nil {
			return err
		}
		defer k.Stop(30 * time.Second)
		c.base, c.token, c.pid = k.Base(), k.Token, k.Pid()
		if c.profile != "" {
			c.profile = c.profile + "|" + pprofAddr
		}
	}
	if c.base == "" || c.token == "" {
		return fmt.Errorf("give --bin, or --base and --token")
	}
	if u, err := url.Parse(c.base); err != nil || (u.Hostname() != "127.0.0.1" && u.Hostname() != "localhost") {
		return fmt.Errorf("--base must be a loopback address (127.0.0.1), not %q", c.base)
	}
	if c.pid == 0 {
		u, _ := url.Parse(c.base)
		port, _ := strconv.Atoi(u.Port())
		if p, err := loadkit.PidByPort(port); err == nil {
			c.pid = p
		} else {
			fmt.Fprintln(os.Stderr, "loadgen: server RSS/CPU not measured:", err)
		}
	}
	api := loadkit.API{Base: c.base, Token: c.token}
	if c.key == "" {
		var err error
		if c.key, err = api.CreateChatInbox("load " + loadkit.NewRunID()); err != nil {
			return err
		}
	}
	fleet := &loadkit.Fleet{Base: c.base, Key: c.key, RunID: loadkit.NewRunID(), Rate: c.rate, Count: c.count,
		AckTimeout: c.ackTO, Filler: loadkit.Filler(c.size), Track: true}

	life, stopAll := context.WithCancel(ctx)
	defer stopAll()
	agentCtx, stopAgents := context.WithCancel(ctx)
	defer stopAgents()
	var agentList []*loadkit.Agent
	var awg sync.WaitGroup
	for i := 0; i < c.agents; i++ {
		a := &loadkit.Agent{Base: c.base, Token: c.token, Fleet: fleet}
		agentList = append(agentList, a)
		awg.Add(1)
		go func() { defer awg.Done(); a.Run(agentCtx) }()
	}

	// the generation context ends with the window; it starts once everyone is connected
	gen, stopGen := context.WithCancel(ctx)
	defer stopGen()
	ramp := c.ramp
	if ramp == 0 {
		ramp = time.Duration(c.visitors) * time.Millisecond
	}
	var wg sync.WaitGroup
	vs := make([]*loadkit.Visitor, c.visitors)
	startRamp := time.Now()
	for i := range vs {
		vs[i] = &loadkit.Visitor{N: i, Fleet: fleet}
		wg.Add(1)
		go func(v *loadkit.Visitor, delay time.Duration) {
			defer wg.Done()
			time.Sleep(delay)
			v.Run(gen, life)
		}(vs[i], time.Duration(int64(ramp)*int64(i)/int64(max(1, c.visitors))))
	}
	for time.Since(startRamp) < ramp+60*time.Second && fleet.Connected.Load() < int64(c.visitors) {
		time.Sleep(50 * time.Millisecond)
	}
	connected := fleet.Connected.Load()
	if connected < int64(c.visitors) {
		fmt.Fprintf(os.Stderr, "loadgen: only %d of %d visitors connected (errors: %s)\n", connected, c.visitors, fleet.Errors.String())
	}
	time.Sleep(c.warmup)
	t0 := time.Now()
	fleet.SetWindow(t0, t0.Add(c.duration))
	var before loadkit.ProcStats
	if c.pid != 0 {
		before, _ = loadkit.ReadProc(c.pid)
	}
	self0, _ := loadkit.ReadProc(os.Getpid())
	profDone := make(chan error, 1)
	if c.profile != "" {
		dir, addr, _ := strings.Cut(c.profile, "|")
		go func() {
			profDone <- loadkit.FetchProfile(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", addr, int(c.duration.Seconds())), filepath.Join(dir, "cpu.pprof"))
		}()
	} else {
		profDone <- nil
	}
	time.Sleep(c.duration)
	stopGen()
	t1 := time.Now()
	var after loadkit.ProcStats
	if c.pid != 0 {
		after, _ = loadkit.ReadProc(c.pid)
	}
	self1, _ := loadkit.ReadProc(os.Getpid())
	if err := <-profDone; err != nil {
		fmt.Fprintln(os.Stderr, "loadgen: cpu profile:", err)
	}
	if c.profile != "" {
		dir, addr, _ := strings.Cut(c.profile, "|")
		if err := loadkit.FetchProfile("http://"+addr+"/debug/pprof/allocs", filepath.Join(dir, "allocs.pprof")); err != nil {
			fmt.Fprintln(os.Stderr, "loadgen: allocs profile:", err)
		}
		loadkit.FetchProfile("http://"+addr+"/debug/pprof/heap", filepath.Join(dir, "heap.pprof"))
	}
	// drain: the last acks, then the agents' last events
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(c.drain):
		stopAll()
		<-done
	}
	var inWindow []loadkit.MessageState
	for _, m := range fleet.Messages() {
		if m.Acked && fleet.InWindow(m.Sent) {
			inWindow = append(inWindow, m)
		}
	}
	missing := func() int {
		n := 0
		for _, m := range inWindow {
			if len(agentList) > 0 && !agentList[0].Seen(m.CID) {
				n++
			}
		}
		return n
	}
	for deadline := time.Now().Add(5 * time.Second); missing() > 0 && time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
	}
	stopAgents()
	awg.Wait()
	window := t1.Sub(t0)
	res := Result{Tool: "loadgen", Visitors: c.visitors, Rate: c.rate, Offered: c.rate * float64(c.visitors), WindowS: window.Seconds(),
		Throughput: float64(fleet.AckedInWindow.Load()) / window.Seconds(), Sent: fleet.Sent.Load(), Acked: fleet.Acked.Load(),
		Ack: fleet.AckLat.Summary(), Errors: fleet.Errors.Map(), Load: loadkit.LoadAvg(), Durability: c.durability,
		Closes: fleet.Closes()}
	if len(agentList) > 0 {
		res.AgentMissing = missing()
	}
	for _, a := range agentList {
		for k, v := range a.Errors.Map() {
			res.Errors[k] += v
		}
	}
	res.AgentLat = loadkit.Summarize(mergeAgents(agentList))
	for _, v := range vs {
		res.Unacked += v.Pending()
	}
	if c.pid != 0 {
		res.ServerPeakRSSMB = float64(after.HWMKB) / 1024
		res.ServerRSSMB = float64(after.RSSKB) / 1024
		res.ServerCPUS = (after.CPU - before.CPU).Seconds()
		res.ServerCores = res.ServerCPUS / window.Seconds()
	}
	res.ClientCores = (self1.CPU - self0.CPU).Seconds() / window.Seconds()

	fmt.Printf("visitors %d (connected %d), %.1f msg/s each (offered %.0f msg/s), agents %d, window %.1fs, load %s\n",
		c.visitors, connected, c.rate, res.Offered, c.agents, window.Seconds(), res.Load)
	fmt.Printf("throughput   %.0f acked msg/s (sent %d, acked %d, unacked at end %d)\n", res.Throughput, res.Sent, res.Acked, res.Unacked)
	fmt.Printf("send→ack     %s\n", res.Ack)
	fmt.Printf("send→agent   %s; acked but never seen by the agent: %d\n", res.AgentLat, res.AgentMissing)
	e := loadkit.Errors{}
	for k, v := range res.Errors {
		for i := 0; i < v; i++ {
			e.Add(k)
		}
	}
	fmt.Printf("errors       %s\n", e.String())
	if c.pid != 0 {
		fmt.Printf("server       peak RSS %.0f MB, RSS %.0f MB, CPU %.1fs in the window = %.2f cores; client %.2f cores\n",
			res.ServerPeakRSSMB, res.ServerRSSMB, res.ServerCPUS, res.ServerCores, res.ClientCores)
	}
	b, _ := json.Marshal(res)
	fmt.Println(string(b))
	return nil
}

func mergeAgents(as []*loadkit.Agent) []time.Duration {
	var out []time.Duration
	for _, a := range as {
		out = append(out, a.Lat.Samples()...)
	}
	return out
}
