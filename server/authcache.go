package server

import (
	"sync"
	"time"

	"kibo/store"
)

// authCache remembers, for authCacheTTL, who a session cookie or an API token stands
// for: every API request is authenticated, and reading the store for each one put the
// lookup in the queue of page requests. What ends or changes authority in this
// process forgets at once, in the same place that closes the sockets (logout, token
// revocation, a disabled agent, a new password or role); what another process changes
// (kibo agent passwd) is seen within the TTL, as the sockets' recheck sees it.
type authCache struct {
	mu  sync.Mutex
	ttl time.Duration
	now func() time.Time
	m   map[string]authEntry // by the secret's hash
}

type authEntry struct {
	agent   *store.Agent
	csrf    string
	tokenID int64
	ref     string // the credential's ref (sessionRef, tokenRef)
	until   time.Time
}

const (
	authCacheTTL = 10 * time.Second
	// past this many credentials the cache starts afresh rather than grow
	authCacheMax = 10000
)

func newAuthCache(now func() time.Time) *authCache {
	return &authCache{ttl: authCacheTTL, now: now, m: map[string]authEntry{}}
}

func (c *authCache) get(key string) (authEntry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[key]
	if ok && c.now().After(e.until) {
		delete(c.m, key)
		return authEntry{}, false
	}
	return e, ok
}

func (c *authCache) put(key string, e authEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= authCacheMax {
		c.m = map[string]authEntry{}
	}
	e.until = c.now().Add(c.ttl)
	c.m[key] = e
}

// forget drops the entries of a credential (by its ref) or of an agent (id > 0).
func (c *authCache) forget(ref string, agentID int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, e := range c.m {
		if e.ref == ref && ref != "" || agentID > 0 && e.agent.ID == agentID {
			delete(c.m, k)
		}
	}
}
