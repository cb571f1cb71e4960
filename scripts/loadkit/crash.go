package loadkit

import (
	"context"
	"fmt"
	mrand "math/rand/v2"
	"sync"
	"time"
)

// CrashConfig is one crash test: load from visitors while the server is killed with
// SIGKILL Kills times at random moments and restarted, then one SIGTERM round.
type CrashConfig struct {
	Bin      string
	Data     string
	Env      []string
	Visitors int
	Rate     float64 // per visitor
	Kills    int
	// MinGap and MaxGap bound the random time between a restart and the next kill.
	MinGap, MaxGap time.Duration
	// Term adds a SIGTERM round after the kills: the server must exit 0 after
	// finishing what is in flight, and nothing may be lost.
	Term bool
	// Drain bounds the time to get every pending message acknowledged at the end.
	Drain time.Duration
	Logf  func(format string, args ...any)
}

// CrashResult is what a crash test found.
type CrashResult struct {
	Kills         int            `json:"kills"`
	Terms         int            `json:"sigterms"`
	TermStopMS    float64        `json:"sigterm_stop_ms"`
	MaxRestartMS  float64        `json:"max_restart_ms"`
	Check         Check          `json:"check"`
	Conversations int            `json:"conversations"`
	Errors        map[string]int `json:"client_errors"`
	PendingAtEnd  int            `json:"pending_at_end"`
	Elapsed       float64        `json:"elapsed_s"`
}

// CrashTest runs the test and checks through the API that every acknowledged
// client_id is stored exactly once.
func CrashTest(ctx context.Context, cfg CrashConfig) (CrashResult, error) {
	var res CrashResult
	start := time.Now()
	logf := cfg.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	if cfg.MinGap <= 0 {
		cfg.MinGap = 200 * time.Millisecond
	}
	if cfg.MaxGap < cfg.MinGap {
		cfg.MaxGap = cfg.MinGap + time.Second
	}
	if cfg.Drain <= 0 {
		cfg.Drain = 30 * time.Second
	}
	k := &Kibo{Bin: cfg.Bin, Data: cfg.Data, Env: cfg.Env}
	if err := k.Setup(); err != nil {
		return res, err
	}
	if err := k.Start(ctx); err != nil {
		return res, err
	}
	defer k.Kill()
	api := API{Base: k.Base(), Token: k.Token}
	key, err := api.CreateChatInbox("crash")
	if err != nil {
		return res, err
	}
	fleet := &Fleet{Base: k.Base(), Key: key, RunID: NewRunID(), Rate: cfg.Rate, AckTimeout: 2 * time.Second,
		Filler: "crash test", Track: true}
	gen, stopGen := context.WithCancel(ctx)
	defer stopGen()
	life, stopLife := context.WithCancel(ctx)
	defer stopLife()
	vs := make([]*Visitor, cfg.Visitors)
	var wg sync.WaitGroup
	for i := range vs {
		vs[i] = &Visitor{N: i, Fleet: fleet}
		wg.Add(1)
		go func(v *Visitor) { defer wg.Done(); v.Run(gen, life) }(vs[i])
	}
	gap := func() time.Duration {
		return cfg.MinGap + time.Duration(mrand.Int64N(int64(cfg.MaxGap-cfg.MinGap)+1))
	}
	restart := func() error {
		t := time.Now()
		if err := k.Start(ctx); err != nil {
			return err
		}
		if d := time.Since(t); float64(d.Milliseconds()) > res.MaxRestartMS {
			res.MaxRestartMS = float64(d.Milliseconds())
		}
		return nil
	}
	for i := 0; i < cfg.Kills; i++ {
		time.Sleep(gap())
		before := fleet.Acked.Load()
		k.Kill()
		res.Kills++
		logf("kill %d/%d: SIGKILL after %d acks", i+1, cfg.Kills, before)
		if err := restart(); err != nil {
			stopLife()
			wg.Wait()
			return res, fmt.Errorf("restart after kill %d: %w", i+1, err)
		}
	}
	if cfg.Term {
		time.Sleep(gap())
		t := time.Now()
		if err := k.Stop(20 * time.Second); err != nil {
			stopLife()
			wg.Wait()
			return res, fmt.Errorf("SIGTERM round: %w", err)
		}
		res.Terms++
		res.TermStopMS = float64(time.Since(t).Milliseconds())
		logf("SIGTERM: stopped cleanly in %s", time.Since(t).Round(time.Millisecond))
		if err := restart(); err != nil {
			stopLife()
			wg.Wait()
			return res, fmt.Errorf("restart after SIGTERM: %w", err)
		}
	}
	time.Sleep(cfg.MinGap)
	stopGen()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(cfg.Drain):
		stopLife()
		<-done
	}
	for _, v := range vs {
		res.PendingAtEnd += v.Pending()
	}
	stored, convs, err := api.AllMessages()
	if err != nil {
		return res, fmt.Errorf("read back through the API: %w", err)
	}
	res.Conversations = convs
	res.Check = Verify(fleet.RunID, fleet.Messages(), stored)
	res.Errors = fleet.Errors.Map()
	if err := k.Stop(20 * time.Second); err != nil {
		return res, fmt.Errorf("final SIGTERM: %w", err)
	}
	res.Elapsed = time.Since(start).Seconds()
	return res, nil
}
