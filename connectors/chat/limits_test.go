package chat

import (
	"sync"
	"testing"
	"time"
)

func TestNewConversationBucketsPerAddress(t *testing.T) {
	b := newAddressBuckets(6, 3) // 3 at once, then one every 10 s
	now := time.Now()
	for i := 0; i < 3; i++ {
		if !b.take("203.0.113.9", now) {
			t.Fatalf("conversation %d of the burst refused", i+1)
		}
	}
	if b.take("203.0.113.9", now) {
		t.Fatal("a fourth conversation at once was allowed")
	}
	if !b.take("198.51.100.1", now) {
		t.Fatal("another address shares the first one's bucket")
	}
	for _, lo := range []string{"127.0.0.1", "127.8.0.3", "::1"} {
		for i := 0; i < 10; i++ {
			if !b.take(lo, now) {
				t.Fatalf("loopback %s was limited", lo)
			}
		}
	}
	if b.take("203.0.113.9", now.Add(9*time.Second)) || !b.take("203.0.113.9", now.Add(11*time.Second)) {
		t.Fatal("the bucket does not refill at 6 a minute")
	}
	// full buckets are forgotten: the map holds only the addresses active lately
	b.take("192.0.2.77", now.Add(time.Hour))
	if _, ok := b.byAddr["203.0.113.9"]; ok || len(b.byAddr) != 1 {
		t.Fatalf("after an hour the buckets are %v", b.byAddr)
	}
	if newAddressBuckets(0, 10).take("203.0.113.9", now) != true {
		t.Fatal("no rate means no limit")
	}
}

func TestTypingGateCoalesces(t *testing.T) {
	var mu sync.Mutex
	var told []bool
	g := &typingGate{tell: func(_ int64, on bool) {
		mu.Lock()
		told = append(told, on)
		mu.Unlock()
	}}
	start := time.Now()
	for i := 0; i < 500; i++ {
		g.set(1, i%2 == 0, start) // on, off, on, ... ending off
	}
	time.Sleep(typingGap + 200*time.Millisecond)
	mu.Lock()
	got := append([]bool(nil), told...)
	mu.Unlock()
	if len(got) != 2 || !got[0] || got[1] {
		t.Fatalf("500 frames told the agents %v, want [true false]: the first at once, the last state after the gap", got)
	}
	// a steady "typing" every 2 s (the widget's rhythm) passes each time
	g2told := 0
	g2 := &typingGate{tell: func(int64, bool) { g2told++ }}
	for i := 0; i < 5; i++ {
		g2.set(1, true, start.Add(time.Duration(i)*2*time.Second))
	}
	if g2told != 5 {
		t.Fatalf("a visitor typing steadily told the agents %d times in 10 s, want 5", g2told)
	}
	g.stop()
	g.set(1, true, time.Now())
	g.set(1, false, time.Now())
	time.Sleep(typingGap + 100*time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	if len(told) != 2 {
		t.Fatalf("a stopped gate still tells the agents: %v", told)
	}
}
