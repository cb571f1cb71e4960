package server

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"kibo/connectors"
	"kibo/store"
)

// channels knows the channels this Kibo runs (their descriptors, registered in main)
// and runs one connector per inbox, restarted when its settings change. A connector
// that fails is reported on its inbox and retried; it never stops the others. A
// channel with no connector of its own (the chat) is served by one the server hosts.
type channels struct {
	s        *Server
	registry *connectors.Registry
	// hosted are the connectors the server runs itself, one for every inbox of their
	// kind (the chat's, behind the widget socket)
	hosted map[string]connectors.Connector
	kinds  sync.Map // inbox id → kind: an inbox never changes kind

	mu      sync.Mutex
	ctx     context.Context
	running map[int64]*runningChannel
	wg      sync.WaitGroup
}

type runningChannel struct {
	conn   connectors.Connector
	cancel context.CancelFunc
}

func newChannels(s *Server, registry *connectors.Registry) *channels {
	return &channels{s: s, registry: registry, hosted: map[string]connectors.Connector{}, running: map[int64]*runningChannel{}}
}

// host makes conn the connector of every inbox of kind.
func (c *channels) host(kind string, conn connectors.Connector) { c.hosted[kind] = conn }

// channel is the descriptor of a kind; an unknown kind is the admin's mistake.
func (c *channels) channel(kind string) (*connectors.Channel, error) {
	if ch, ok := c.registry.Lookup(kind); ok {
		return ch, nil
	}
	return nil, errUnprocessable(fmt.Sprintf("this Kibo has no %q channel: kind must be one of %s", kind, strings.Join(c.registry.Kinds(), ", ")))
}

// kindOf is the kind of an inbox, read once.
func (c *channels) kindOf(ctx context.Context, inboxID int64) (string, error) {
	if k, ok := c.kinds.Load(inboxID); ok {
		return k.(string), nil
	}
	in, err := c.s.store.Inbox(ctx, inboxID)
	if err != nil {
		return "", err
	}
	c.kinds.Store(inboxID, in.Kind)
	return in.Kind, nil
}

// of is the descriptor of an inbox's channel.
func (c *channels) of(ctx context.Context, inboxID int64) (*connectors.Channel, error) {
	kind, err := c.kindOf(ctx, inboxID)
	if err != nil {
		return nil, err
	}
	ch, ok := c.registry.Lookup(kind)
	if !ok {
		return nil, fmt.Errorf("this Kibo has no %s channel (inbox %d)", kind, inboxID)
	}
	return ch, nil
}

// connect builds the connector of an inbox; report hears how it fares.
func (c *channels) connect(ch *connectors.Channel, in *store.Inbox, report func(bool, error)) (connectors.Connector, error) {
	return ch.Connect(connectors.Inbox{ID: in.ID, Name: in.Name, Settings: in.Settings}, connectors.Env{
		Report: report, Log: c.s.log.With("inbox", in.ID), AllowPrivateHosts: c.s.cfg.AllowPrivateHosts,
		Mail: mailState{c.s.store, c.s},
	})
}

func (c *channels) start(ctx context.Context) {
	c.mu.Lock()
	c.ctx = ctx
	c.mu.Unlock()
	inboxes, err := c.s.store.Inboxes(ctx)
	if err != nil {
		c.s.log.Error("list inboxes", "err", err)
		return
	}
	for _, in := range inboxes {
		c.restart(in)
	}
}

// restart (re)builds and runs the connector of an inbox after it was created or
// changed.
func (c *channels) restart(in *store.Inbox) {
	ch, ok := c.registry.Lookup(in.Kind)
	if !ok || ch.Connect == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ctx == nil {
		return
	}
	if old := c.running[in.ID]; old != nil {
		old.cancel()
		delete(c.running, in.ID)
	}
	id := in.ID
	report := func(connected bool, err error) { c.report(id, connected, err) }
	conn, err := c.connect(ch, in, report)
	if err != nil {
		report(false, err)
		return
	}
	ctx, cancel := context.WithCancel(c.ctx)
	c.running[id] = &runningChannel{conn: conn, cancel: cancel}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		backoff := time.Second
		for ctx.Err() == nil {
			err := c.runSafely(ctx, conn)
			if ctx.Err() != nil {
				return
			}
			if err != nil {
				report(false, err)
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, time.Minute)
		}
	}()
}

func (c *channels) runSafely(ctx context.Context, conn connectors.Connector) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("the %s connector crashed: %v", conn.Kind(), r)
		}
	}()
	return conn.Run(ctx, sink{c.s})
}

func (c *channels) report(inboxID int64, connected bool, err error) {
	state, msg := "connected", ""
	if !connected {
		state = "error"
	}
	if err != nil {
		msg = err.Error()
	}
	if e := c.s.store.SetInboxState(context.Background(), inboxID, state, msg); e != nil {
		c.s.log.Warn("record inbox state", "inbox", inboxID, "err", e)
	}
	if err != nil {
		c.s.log.Warn("channel error", "inbox", inboxID, "err", err)
	}
}

// get returns the connector that sends for an inbox.
func (c *channels) get(ctx context.Context, inboxID int64) (connectors.Connector, error) {
	kind, err := c.kindOf(ctx, inboxID)
	if err != nil {
		return nil, err
	}
	return c.connector(kind, inboxID)
}

// connector is the connector of an inbox of kind: the hosted one, or the inbox's own.
func (c *channels) connector(kind string, inboxID int64) (connectors.Connector, error) {
	if conn := c.hosted[kind]; conn != nil {
		return conn, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if r := c.running[inboxID]; r != nil {
		return r.conn, nil
	}
	return nil, fmt.Errorf("the %s channel of inbox %d is not running: check its settings", kind, inboxID)
}

func (c *channels) stop() {
	c.mu.Lock()
	for id, r := range c.running {
		r.cancel()
		delete(c.running, id)
	}
	c.mu.Unlock()
	c.wg.Wait()
}
