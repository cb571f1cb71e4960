// Command spike puts Kibo under steady chat load, then opens ten times as many widget
// sockets within seconds while a burst of API clients hammers the inbox list, then
// lets it calm down. It checks that Kibo stays up, that the steady visitors keep
// getting their acks, that what is over the limits is refused with a clear answer (a
// close frame 1013 with a reason on sockets, 503 with Retry-After on HTTP) instead of
// stalling, and that Kibo recovers by itself. It reports the steady visitors' send→ack
// latency before, during and after the spike.
//
//	go run ./scripts/spike --bin bin/kibo --steady 200 --max-conns 600 --max-inflight 16
//
// --env passes more settings to the server (KIBO_MAX_HEAVY=2, ...) and --profile writes
// a CPU profile of the server over the spike, to see where the cores went.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"kibo/scripts/loadkit"
)

func main() {
	fs := flag.NewFlagSet("spike", flag.ExitOnError)
	bin := fs.String("bin", "bin/kibo", "the kibo binary (started on a fresh data directory with low limits)")
	steady := fs.Int("steady", 200, "visitors writing steadily through all phases")
	rate := fs.Float64("rate", 2, "messages a second per steady visitor")
	factor := fs.Int("factor", 10, "the spike opens factor × steady new sockets")
	spikeOver := fs.Duration("ramp", 3*time.Second, "the spike's sockets open within this long")
	httpClients := fs.Int("http", 200, "concurrent API clients during the spike")
	maxConns := fs.Int("max-conns", 0, "KIBO_CHAT_MAX_CONNS (default 3 × steady)")
	maxInflight := fs.Int("max-inflight", 16, "KIBO_MAX_INFLIGHT")
	phase := fs.Duration("phase", 10*time.Second, "length of each phase: before, during, after")
	profile := fs.String("profile", "", "directory for a CPU profile of the server over the spike phase (spike.pprof)")
	var env envList
	fs.Var(&env, "env", "KEY=VALUE for the server (repeatable), e.g. KIBO_MAX_HEAVY=2")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "spike: steady load, then 10× the connections and an API burst; Kibo must shed with 1013/503 and recover.")
		fs.PrintDefaults()
	}
	fs.Parse(os.Args[1:])
	if *maxConns == 0 {
		*maxConns = 3 * *steady
	}
	if err := run(*bin, *steady, *rate, *factor, *spikeOver, *httpClients, *maxConns, *maxInflight, *phase, env, *profile); err != nil {
		fmt.Fprintln(os.Stderr, "spike:", err)
		os.Exit(1)
	}
}

type envList []string

func (e *envList) String() string     { return strings.Join(*e, ",") }
func (e *envList) Set(v string) error { *e = append(*e, v); return nil }

type phaseStats struct {
	lat  [3]loadkit.Latencies
	acks [3]atomic.Int64
}

func run(bin string, steady int, rate float64, factor int, ramp time.Duration, httpClients, maxConns, maxInflight int, phase time.Duration,
	env []string, profile string) error {
	if _, err := loadkit.RaiseNoFile(); err != nil {
		return err
	}
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "kibo-spike-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	k := &loadkit.Kibo{Bin: bin, Data: filepath.Join(dir, "data"), Env: []string{
		fmt.Sprintf("KIBO_CHAT_MAX_CONNS=%d", maxConns), fmt.Sprintf("KIBO_MAX_INFLIGHT=%d", maxInflight)}}
	k.Env = append(k.Env, env...)
	pprofAddr := ""
	if profile != "" {
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
	api := loadkit.API{Base: k.Base(), Token: k.Token}
	key, err := api.CreateChatInbox("spike")
	if err != nil {
		return err
	}

	// phases by the send time of a message: 0 before, 1 during, 2 after
	var bounds [2]atomic.Int64
	bounds[0].Store(1 << 62)
	bounds[1].Store(1 << 62)
	phaseOf := func(t time.Time) int {
		n := t.UnixNano()
		switch {
		case n < bounds[0].Load():
			return 0
		case n < bounds[1].Load():
			return 1
		}
		return 2
	}
	var ps phaseStats
	fleet := &loadkit.Fleet{Base: k.Base(), Key: key, RunID: loadkit.NewRunID(), Rate: rate, AckTimeout: 5 * time.Second,
		Filler: loadkit.Filler(80)}
	fleet.OnAck = func(m *loadkit.Message, at time.Time) {
		p := phaseOf(m.Sent)
		ps.lat[p].Add(at.Sub(m.Sent))
		ps.acks[p].Add(1)
	}
	gen, stopGen := context.WithCancel(ctx)
	defer stopGen()
	life, stopLife := context.WithCancel(ctx)
	defer stopLife()
	var wg sync.WaitGroup
	for i := 0; i < steady; i++ {
		v := &loadkit.Visitor{N: i, Fleet: fleet}
		wg.Add(1)
		go func(d time.Duration) { defer wg.Done(); time.Sleep(d); v.Run(gen, life) }(time.Duration(i) * time.Second / time.Duration(steady))
	}
	for t := time.Now(); fleet.Connected.Load() < int64(steady) && time.Since(t) < 30*time.Second; {
		time.Sleep(50 * time.Millisecond)
	}
	fmt.Printf("steady: %d visitors at %.1f msg/s; limits KIBO_CHAT_MAX_CONNS=%d KIBO_MAX_INFLIGHT=%d %s; load %s\n",
		fleet.Connected.Load(), rate, maxConns, maxInflight, strings.Join(env, " "), loadkit.LoadAvg())
	time.Sleep(phase)
	steadyErrsBefore := fleet.Errors.Map()

	// ---- the spike
	srv0, _ := loadkit.ReadProc(k.Pid())
	self0, _ := loadkit.ReadProc(os.Getpid())
	spikeStart := time.Now()
	bounds[0].Store(spikeStart.UnixNano())
	spikeCtx, endSpike := context.WithCancel(ctx)
	profDone := make(chan error, 1)
	if profile != "" {
		go func() {
			profDone <- loadkit.FetchProfile(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", pprofAddr, int(phase.Seconds())), filepath.Join(profile, "spike.pprof"))
		}()
	} else {
		profDone <- nil
	}
	var (
		sockErrs             loadkit.Errors
		accepted, refused    atomic.Int64
		reasons              sync.Map
		spikeWG, spikeReader sync.WaitGroup
		connsMu              sync.Mutex
		conns                []*websocket.Conn
		handshake            loadkit.Latencies
	)
	n := factor * steady
	for i := 0; i < n; i++ {
		spikeWG.Add(1)
		go func(d time.Duration) {
			defer spikeWG.Done()
			time.Sleep(d)
			t := time.Now()
			dctx, cancel := context.WithTimeout(spikeCtx, 10*time.Second)
			c, _, err := loadkit.Hello(dctx, k.Base(), key, "")
			cancel()
			handshake.Add(time.Since(t))
			if err != nil {
				kind := loadkit.ErrKind(err)
				var ce *websocket.CloseError
				if errors.As(err, &ce) {
					refused.Add(1)
					r, _ := reasons.LoadOrStore(fmt.Sprintf("%d %q", ce.Code, ce.Text), new(atomic.Int64))
					r.(*atomic.Int64).Add(1)
				} else if kind == "dial_http_503" {
					refused.Add(1)
					r, _ := reasons.LoadOrStore("HTTP 503 on the upgrade", new(atomic.Int64))
					r.(*atomic.Int64).Add(1)
				}
				sockErrs.Add(kind)
				return
			}
			accepted.Add(1)
			connsMu.Lock()
			conns = append(conns, c)
			connsMu.Unlock()
			spikeReader.Add(1)
			go func() {
				defer spikeReader.Done()
				for {
					if _, _, err := c.ReadMessage(); err != nil {
						return
					}
				}
			}()
		}(time.Duration(int64(ramp) * int64(i) / int64(n)))
	}
	// the API burst
	type httpRes struct {
		status     map[int]int
		retryAfter int
		lat        loadkit.Latencies
		errs       loadkit.Errors
	}
	hr := &httpRes{status: map[int]int{}}
	var hmu sync.Mutex
	var hwg sync.WaitGroup
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: httpClients, MaxConnsPerHost: httpClients}}
	for i := 0; i < httpClients; i++ {
		hwg.Add(1)
		go func() {
			defer hwg.Done()
			for spikeCtx.Err() == nil {
				req, _ := http.NewRequestWithContext(spikeCtx, "GET", k.Base()+"/api/v1/conversations?limit=50", nil)
				req.Header.Set("Authorization", "Bearer "+k.Token)
				t := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					if spikeCtx.Err() == nil {
						hr.errs.Add(loadkit.DialKind(err, nil))
					}
					continue
				}
				var body [512]byte
				for {
					if _, err := resp.Body.Read(body[:]); err != nil {
						break
					}
				}
				resp.Body.Close()
				hr.lat.Add(time.Since(t))
				hmu.Lock()
				hr.status[resp.StatusCode]++
				if resp.StatusCode == 503 && resp.Header.Get("Retry-After") != "" {
					hr.retryAfter++
				}
				hmu.Unlock()
				if resp.StatusCode == 503 {
					time.Sleep(50 * time.Millisecond) // a client that read Retry-After would wait longer
				}
			}
		}()
	}
	spikeWG.Wait()
	time.Sleep(phase - time.Since(spikeStart))
	duringProc, _ := loadkit.ReadProc(k.Pid())
	self1, _ := loadkit.ReadProc(os.Getpid())
	spikeLen := time.Since(spikeStart).Seconds()
	serverCores, clientCores := (duringProc.CPU-srv0.CPU).Seconds()/spikeLen, (self1.CPU-self0.CPU).Seconds()/spikeLen
	endSpike()
	hwg.Wait()
	connsMu.Lock()
	for _, c := range conns {
		c.Close()
	}
	connsMu.Unlock()
	spikeReader.Wait()
	if err := <-profDone; err != nil {
		fmt.Fprintln(os.Stderr, "spike: cpu profile:", err)
	}
	afterStart := time.Now()
	bounds[1].Store(afterStart.UnixNano())
	steadyErrsDuring := fleet.Errors.Map()

	// ---- after: does it recover by itself?
	time.Sleep(phase)
	recovered := true
	var recoverNotes []string
	if c, _, err := loadkit.Hello(ctx, k.Base(), key, ""); err != nil {
		recovered = false
		recoverNotes = append(recoverNotes, "new widget socket refused: "+err.Error())
	} else {
		c.Close()
	}
	if code, _, err := api.Do("GET", "/api/v1/conversations?limit=50", nil, &map[string]any{}); err != nil || code != 200 {
		recovered = false
		recoverNotes = append(recoverNotes, fmt.Sprintf("API answers %d: %v", code, err))
	}
	alive := k.Running()
	stopGen()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		stopLife()
		<-done
	}
	proc, _ := loadkit.ReadProc(k.Pid())

	names := []string{"before", "during", "after"}
	sum := map[string]loadkit.Summary{}
	fmt.Printf("steady visitors' send→ack latency (acks a second):\n")
	for i, nme := range names {
		sum[nme] = ps.lat[i].Summary()
		fmt.Printf("  %-7s %s  (%.0f/s)\n", nme, sum[nme], float64(ps.acks[i].Load())/phase.Seconds())
	}
	fmt.Printf("steady visitors' errors: before %v, by the end of the spike %v, at the end %v\n", steadyErrsBefore, steadyErrsDuring, fleet.Errors.Map())
	fmt.Printf("spike: %d new sockets within %s: %d accepted, %d refused with a clear answer; errors %s; handshake %s\n",
		n, ramp, accepted.Load(), refused.Load(), sockErrs.String(), handshake.Summary())
	reasonMap := map[string]int64{}
	reasons.Range(func(k, v any) bool {
		reasonMap[k.(string)] = v.(*atomic.Int64).Load()
		fmt.Printf("  refused: %s × %d\n", k, v.(*atomic.Int64).Load())
		return true
	})
	fmt.Printf("API burst: %d clients: statuses %v, 503s with Retry-After %d, transport errors %s, latency %s\n",
		httpClients, hr.status, hr.retryAfter, hr.errs.String(), hr.lat.Summary())
	fmt.Printf("server: alive %v, recovered %v %v; RSS during %.0f MB, peak %.0f MB; cores during the spike: server %.2f, this tool %.2f; load %s\n",
		alive, recovered, recoverNotes, float64(duringProc.RSSKB)/1024, float64(proc.HWMKB)/1024, serverCores, clientCores, loadkit.LoadAvg())
	b, _ := json.Marshal(map[string]any{"tool": "spike", "steady": steady, "rate": rate, "spike_sockets": n, "max_conns": maxConns,
		"max_inflight": maxInflight, "env": env, "ack": sum, "steady_errors": fleet.Errors.Map(), "accepted": accepted.Load(), "refused": refused.Load(),
		"refusals": reasonMap, "socket_errors": sockErrs.Map(), "http_status": hr.status, "http_503_retry_after": hr.retryAfter,
		"http_errors": hr.errs.Map(), "http_latency": hr.lat.Summary(), "server_cores": serverCores, "client_cores": clientCores, "alive": alive, "recovered": recovered, "loadavg": loadkit.LoadAvg()})
	fmt.Println(string(b))
	if !alive || !recovered {
		fmt.Println("FAIL: Kibo did not stay up or did not recover")
		os.Exit(1)
	}
	return nil
}
