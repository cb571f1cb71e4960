package server

import (
	"context"
	"fmt"
	"sync"
	"time"

	"kibo/connectors"
	"kibo/store"
)

// channelFactory builds the connector of one configured inbox. report tells the
// settings page whether the channel works.
type channelFactory func(in *store.Inbox, report func(connected bool, err error)) (connectors.Connector, error)

// channels runs one connector per inbox (the chat server serves every chat inbox) and
// restarts it when its settings change. A connector that fails is reported on its
// inbox and retried; it never stops the others.
type channels struct {
	s         *Server
	factories map[string]channelFactory

	mu      sync.Mutex
	ctx     context.Context
	running map[int64]*runningChannel
	wg      sync.WaitGroup
}

type runningChannel struct {
	conn   connectors.Connector
	cancel context.CancelFunc
}

func newChannels(s *Server) *channels {
	return &channels{s: s, factories: map[string]channelFactory{}, running: map[int64]*runningChannel{}}
}

// register adds the factory for an inbox kind.
func (c *channels) register(kind string, f channelFactory) { c.factories[kind] = f }

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
	if in.Kind == "chat" {
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
	f := c.factories[in.Kind]
	if f == nil {
		return
	}
	id := in.ID
	report := func(connected bool, err error) { c.report(id, connected, err) }
	conn, err := f(in, report)
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
	kind, err := c.s.inboxKind(ctx, inboxID)
	if err != nil {
		return nil, err
	}
	if kind == "chat" {
		return c.s.chat, nil
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
