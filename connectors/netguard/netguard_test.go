package netguard

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"
)

func TestBlocked(t *testing.T) {
	blocked := []string{
		"127.0.0.1", "127.8.9.10", "::1", "0.0.0.0", "::", "10.0.0.1", "172.16.5.4", "192.168.1.1", "169.254.169.254",
		"fe80::1", "fc00::1", "fd12:3456::1", "224.0.0.1", "ff02::1", "255.255.255.255", "100.100.100.200",
		"::ffff:127.0.0.1", "::ffff:169.254.169.254", "64:ff9b::7f00:1", "2002:7f00:1::1", "0.1.2.3", "198.18.0.1",
	}
	for _, s := range blocked {
		if !Blocked(netip.MustParseAddr(s)) {
			t.Errorf("%s is not blocked", s)
		}
	}
	public := []string{"8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "64:ff9b::808:808", "2002:808:808::1", "93.184.216.34"}
	for _, s := range public {
		if Blocked(netip.MustParseAddr(s)) {
			t.Errorf("%s is blocked", s)
		}
	}
}

func TestCheckHost(t *testing.T) {
	ctx := context.Background()
	var p Policy
	for _, h := range []string{"127.0.0.1", "localhost", "LOCALHOST.", "imap.localhost", "[::1]", "::1", "169.254.169.254", "10.1.2.3", "::ffff:10.1.2.3"} {
		if err := p.CheckHost(ctx, h); !errors.Is(err, ErrBlocked) {
			t.Errorf("CheckHost(%q) = %v, want blocked", h, err)
		}
	}
	// public addresses, and names that do not resolve (the connection will say so)
	for _, h := range []string{"8.8.8.8", "2606:4700:4700::1111", "mail.kibo-test.invalid"} {
		if err := p.CheckHost(ctx, h); err != nil {
			t.Errorf("CheckHost(%q) = %v", h, err)
		}
	}
	if err := (Policy{AllowPrivate: true}).CheckHost(ctx, "127.0.0.1"); err != nil {
		t.Errorf("allowed: %v", err)
	}
	for raw, blocked := range map[string]bool{"http://127.0.0.1:9/x": true, "https://[::1]/": true, "http://localhost:8080": true, "https://api.kibo-test.invalid": false} {
		if err := p.CheckURL(ctx, raw); errors.Is(err, ErrBlocked) != blocked {
			t.Errorf("CheckURL(%q) = %v", raw, err)
		}
	}
	for _, raw := range []string{"ftp://example.com", "example.com", "http://"} {
		if err := p.CheckURL(ctx, raw); err == nil || errors.Is(err, ErrBlocked) {
			t.Errorf("CheckURL(%q) = %v, want not a URL", raw, err)
		}
	}
}

// The connection itself is checked, after name resolution: a name that resolves to
// loopback (here "localhost", as a rebinding name would) is refused at connect time.
func TestDialerAndTransportRefuseLoopback(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var p Policy
	for _, addr := range []string{ln.Addr().String(), net.JoinHostPort("localhost", port)} {
		if c, err := p.Dialer(nil).DialContext(ctx, "tcp", addr); !errors.Is(err, ErrBlocked) {
			if c != nil {
				c.Close()
			}
			t.Errorf("dialling %s: %v, want blocked", addr, err)
		}
	}
	allowed := Policy{AllowPrivate: true}
	c, err := allowed.Dialer(nil).DialContext(ctx, "tcp", ln.Addr().String())
	if err != nil {
		t.Fatalf("allowed: %v", err)
	}
	c.Close()

	var hit atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hit.Store(true) }))
	defer srv.Close()
	if _, err := p.Client(5 * time.Second).Get(srv.URL); !errors.Is(err, ErrBlocked) || hit.Load() {
		t.Errorf("HTTP to loopback: %v (reached: %v)", err, hit.Load())
	}
	resp, err := allowed.Client(5 * time.Second).Get(srv.URL)
	if err != nil || !hit.Load() {
		t.Fatalf("allowed HTTP: %v", err)
	}
	resp.Body.Close()
}
