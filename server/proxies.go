package server

import (
	"fmt"
	"net"
	"strings"

	"github.com/gofiber/fiber/v2"
)

// trustedProxies are the addresses whose X-Forwarded-* headers Kibo believes: the
// reverse proxies in front of it. Anyone else's are the client's own words, and a
// client that could name its address would walk past the login throttle, and one
// that could name its scheme or host would fake where a page came from.
type trustedProxies struct {
	ips  map[string]bool
	nets []*net.IPNet
}

// parseTrustedProxies reads IPs and CIDRs ("10.0.0.0/8", "::1"); a typo is an error,
// not a proxy silently ignored.
func parseTrustedProxies(list []string) (*trustedProxies, error) {
	t := &trustedProxies{ips: map[string]bool{}}
	for _, s := range list {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if strings.Contains(s, "/") {
			_, n, err := net.ParseCIDR(s)
			if err != nil {
				return nil, fmt.Errorf("trusted proxy %q is not an IP address or a CIDR range", s)
			}
			t.nets = append(t.nets, n)
			continue
		}
		ip := net.ParseIP(s)
		if ip == nil {
			return nil, fmt.Errorf("trusted proxy %q is not an IP address or a CIDR range", s)
		}
		t.ips[ip.String()] = true
	}
	return t, nil
}

// list is the normalised addresses and ranges, for Fiber's own check (which decides
// whether c.Protocol() and c.Hostname() read X-Forwarded-Proto and -Host).
func (t *trustedProxies) list() []string {
	var out []string
	for ip := range t.ips {
		out = append(out, ip)
	}
	for _, n := range t.nets {
		out = append(out, n.String())
	}
	return out
}

func (t *trustedProxies) trusts(ip net.IP) bool {
	if ip == nil {
		return false
	}
	if t.ips[ip.String()] {
		return true
	}
	for _, n := range t.nets {
		if n.Contains(ip) {
			return true
		}
	}
	return false
}

// client is the address of whoever sent the request: the peer, unless the peer is a
// trusted proxy; then X-Forwarded-For read from the right, past the trusted proxies,
// since each proxy appends the address it saw and everything to the left of the
// first untrusted one may be made up.
func (t *trustedProxies) client(peer net.IP, forwardedFor string) string {
	if !t.trusts(peer) || forwardedFor == "" {
		return peer.String()
	}
	hops := strings.Split(forwardedFor, ",")
	last := peer
	for i := len(hops) - 1; i >= 0; i-- {
		ip := net.ParseIP(strings.TrimSpace(hops[i]))
		if ip == nil {
			break // garbage: the last address we could believe stands
		}
		last = ip
		if !t.trusts(ip) {
			break
		}
	}
	return last.String()
}

// clientIP is the address of whoever sent the request (see trustedProxies.client).
func (s *Server) clientIP(c *fiber.Ctx) string {
	return s.proxies.client(c.Context().RemoteIP(), c.Get(fiber.HeaderXForwardedFor))
}
