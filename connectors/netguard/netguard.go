// Package netguard keeps the hosts an admin types into Kibo (IMAP and SMTP servers,
// platform API base URLs, the alerts webhook) from reaching Kibo's own machine or the
// network behind it: loopback, private, link-local (cloud metadata at 169.254.169.254),
// unspecified, multicast and other reserved addresses are refused unless the
// installation allows them (KIBO_ALLOW_PRIVATE_HOSTS=true, for tests and single-machine
// setups whose mail server runs beside Kibo).
//
// A URL typed into settings is input, not authority: it would otherwise let whoever
// can edit settings make Kibo send page tokens, passwords and customer data to internal
// services. The check runs twice: when the setting is saved (CheckHost, CheckURL: a
// clear error for the admin) and on every connection (Dialer, Transport: the address
// actually dialled, after DNS, so a name that resolves elsewhere later, or a redirect,
// cannot get around it).
package netguard

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// Policy says whether private addresses may be reached. The zero Policy refuses them.
type Policy struct {
	AllowPrivate bool
}

// ErrBlocked is matched (errors.Is) by every *BlockedError.
var ErrBlocked = errors.New("the address is a loopback, private or reserved one")

// BlockedError is a host or address that the policy refuses.
type BlockedError struct {
	// Host is what was asked for (a name or an address); Addr what it is or resolved to.
	Host string
	Addr netip.Addr
}

func (e *BlockedError) Error() string {
	what := e.Addr.String()
	if e.Host != "" && e.Host != what {
		what = fmt.Sprintf("%s (%s)", e.Host, e.Addr)
	}
	return fmt.Sprintf("%s is a loopback, private, link-local or reserved address: Kibo does not connect there unless KIBO_ALLOW_PRIVATE_HOSTS=true", what)
}

// Is lets errors.Is(err, ErrBlocked) match.
func (e *BlockedError) Is(target error) bool { return target == ErrBlocked }

// reserved are ranges that are not public unicast besides those netip names.
var reserved = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),       // "this network"
	netip.MustParsePrefix("100.64.0.0/10"),   // carrier-grade NAT, some clouds' metadata
	netip.MustParsePrefix("192.0.0.0/24"),    // IETF protocol assignments
	netip.MustParsePrefix("192.0.2.0/24"),    // documentation
	netip.MustParsePrefix("198.18.0.0/15"),   // benchmarking
	netip.MustParsePrefix("198.51.100.0/24"), // documentation
	netip.MustParsePrefix("203.0.113.0/24"),  // documentation
	netip.MustParsePrefix("240.0.0.0/4"),     // reserved, and the broadcast address
	netip.MustParsePrefix("::/96"),           // IPv4-compatible (deprecated)
	netip.MustParsePrefix("100::/64"),        // discard
	netip.MustParsePrefix("2001:db8::/32"),   // documentation
	netip.MustParsePrefix("fec0::/10"),       // site-local (deprecated)
}

var (
	nat64  = netip.MustParsePrefix("64:ff9b::/96")
	sixTo4 = netip.MustParsePrefix("2002::/16")
)

// Blocked tells whether an address is one the zero Policy refuses.
func Blocked(a netip.Addr) bool {
	if !a.IsValid() {
		return true
	}
	a = a.Unmap()
	if a.IsUnspecified() || a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast() ||
		a.IsLinkLocalMulticast() || a.IsInterfaceLocalMulticast() || a.IsMulticast() {
		return true
	}
	for _, p := range reserved {
		if p.Contains(a) {
			return true
		}
	}
	// addresses that carry an IPv4 address inside: NAT64 and 6to4
	if a.Is6() {
		b := a.As16()
		switch {
		case nat64.Contains(a):
			return Blocked(netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]}))
		case sixTo4.Contains(a):
			return Blocked(netip.AddrFrom4([4]byte{b[2], b[3], b[4], b[5]}))
		}
	}
	return false
}

// checkAddr applies the policy to one address.
func (p Policy) checkAddr(host string, a netip.Addr) error {
	if p.AllowPrivate || !Blocked(a) {
		return nil
	}
	return &BlockedError{Host: host, Addr: a.Unmap()}
}

// lookupTimeout bounds the name lookup of a save-time check.
const lookupTimeout = 3 * time.Second

// CheckHost is the save-time check of a host name or address: an address is checked
// as it is, a name by what it resolves to now (all of its addresses). A name that does
// not resolve passes: the connection will fail and say so, and Dialer checks whatever
// it resolves to then.
func (p Policy) CheckHost(ctx context.Context, host string) error {
	if p.AllowPrivate {
		return nil
	}
	host = strings.TrimSuffix(strings.Trim(strings.TrimSpace(host), "[]"), ".")
	if host == "" {
		return nil
	}
	if a, err := netip.ParseAddr(host); err == nil {
		return p.checkAddr(host, a)
	}
	if strings.EqualFold(host, "localhost") || strings.HasSuffix(strings.ToLower(host), ".localhost") {
		return &BlockedError{Host: host, Addr: netip.AddrFrom4([4]byte{127, 0, 0, 1})}
	}
	ctx, cancel := context.WithTimeout(ctx, lookupTimeout)
	defer cancel()
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil
	}
	for _, a := range addrs {
		if err := p.checkAddr(host, a); err != nil {
			return err
		}
	}
	return nil
}

// CheckURL is CheckHost for the host of an http(s) URL.
func (p Policy) CheckURL(ctx context.Context, raw string) error {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q is not an http(s) URL", raw)
	}
	return p.CheckHost(ctx, u.Hostname())
}

// control is a net.Dialer Control: it sees the address about to be connected to, after
// name resolution, for every attempt.
func (p Policy) control(network, address string, _ syscall.RawConn) error {
	if p.AllowPrivate {
		return nil
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("netguard: unexpected address %q", address)
	}
	return p.checkAddr("", ap.Addr())
}

// Dialer returns a copy of d (nil: a plain dialer with a 30-second timeout) whose
// connections obey the policy.
func (p Policy) Dialer(d *net.Dialer) *net.Dialer {
	var out net.Dialer
	if d != nil {
		out = *d
	} else {
		out = net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	}
	if p.AllowPrivate {
		return &out
	}
	prev := out.Control
	out.Control = func(network, address string, c syscall.RawConn) error {
		if err := p.control(network, address, c); err != nil {
			return err
		}
		if prev != nil {
			return prev(network, address, c)
		}
		return nil
	}
	return &out
}

// Transport returns an HTTP transport like http.DefaultTransport whose connections obey
// the policy. When private addresses are refused it uses no proxy: a proxy would
// resolve and reach the host itself, out of the policy's sight.
func (p Policy) Transport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = p.Dialer(nil).DialContext
	if !p.AllowPrivate {
		t.Proxy = nil
	}
	return t
}

// Client is an HTTP client with Transport and the given timeout.
func (p Policy) Client(timeout time.Duration) *http.Client {
	return &http.Client{Transport: p.Transport(), Timeout: timeout}
}
