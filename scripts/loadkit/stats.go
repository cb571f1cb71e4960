// Package loadkit is what Kibo's load, soak, spike, crash and backup tools share: a
// widget visitor that speaks the real protocol (hello, messages with client_id, acks,
// resend after reconnect), an agent socket that timestamps message.created events, a
// launcher for a kibo binary on a fresh data directory, and the server's RSS and CPU
// read from /proc. Everything talks only to 127.0.0.1.
package loadkit

import (
	"fmt"
	"math"
	"sort"
	"sync"
	"time"
)

// Latencies collects durations; safe for concurrent use.
type Latencies struct {
	mu sync.Mutex
	d  []time.Duration
}

// Add records one sample.
func (l *Latencies) Add(d time.Duration) {
	l.mu.Lock()
	l.d = append(l.d, d)
	l.mu.Unlock()
}

// Samples is a copy of the samples.
func (l *Latencies) Samples() []time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]time.Duration(nil), l.d...)
}

// Summary is the distribution of a set of latencies, in milliseconds.
type Summary struct {
	N    int     `json:"n"`
	P50  float64 `json:"p50_ms"`
	P95  float64 `json:"p95_ms"`
	P99  float64 `json:"p99_ms"`
	Max  float64 `json:"max_ms"`
	Mean float64 `json:"mean_ms"`
}

// Summary sorts the samples and reads the percentiles (nearest rank).
func (l *Latencies) Summary() Summary {
	l.mu.Lock()
	d := append([]time.Duration(nil), l.d...)
	l.mu.Unlock()
	return Summarize(d)
}

// Summarize reads the percentiles of d (nearest rank); d is sorted in place.
func Summarize(d []time.Duration) Summary {
	if len(d) == 0 {
		return Summary{}
	}
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	var sum time.Duration
	for _, x := range d {
		sum += x
	}
	ms := func(x time.Duration) float64 { return math.Round(float64(x)/1e3) / 1e3 }
	return Summary{N: len(d), P50: ms(Percentile(d, 50)), P95: ms(Percentile(d, 95)), P99: ms(Percentile(d, 99)),
		Max: ms(d[len(d)-1]), Mean: ms(sum / time.Duration(len(d)))}
}

// Percentile of sorted samples, nearest rank.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	if i < 0 {
		i = 0
	}
	if i >= len(sorted) {
		i = len(sorted) - 1
	}
	return sorted[i]
}

func (s Summary) String() string {
	if s.N == 0 {
		return "no samples"
	}
	return fmt.Sprintf("p50 %.1f ms  p95 %.1f ms  p99 %.1f ms  max %.1f ms  (n=%d)", s.P50, s.P95, s.P99, s.Max, s.N)
}

// Errors counts errors by kind; safe for concurrent use.
type Errors struct {
	mu sync.Mutex
	m  map[string]int
}

// Add counts one error of a kind.
func (e *Errors) Add(kind string) {
	e.mu.Lock()
	if e.m == nil {
		e.m = map[string]int{}
	}
	e.m[kind]++
	e.mu.Unlock()
}

// Map is a copy of the counts.
func (e *Errors) Map() map[string]int {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make(map[string]int, len(e.m))
	for k, v := range e.m {
		out[k] = v
	}
	return out
}

// Total is the number of errors of every kind.
func (e *Errors) Total() int {
	n := 0
	for _, v := range e.Map() {
		n += v
	}
	return n
}

// String lists the kinds, most frequent first.
func (e *Errors) String() string {
	m := e.Map()
	if len(m) == 0 {
		return "none"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return m[keys[i]] > m[keys[j]] || (m[keys[i]] == m[keys[j]] && keys[i] < keys[j]) })
	out := ""
	for i, k := range keys {
		if i > 0 {
			out += ", "
		}
		out += fmt.Sprintf("%s=%d", k, m[k])
	}
	return out
}
