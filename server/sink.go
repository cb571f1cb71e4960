package server

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"kibo/connectors"
	"kibo/store"
)

// sink is where every connector hands its inbound messages: it stores them (contact,
// conversation and message in one transaction, committed before Deliver returns) and
// tells the agents.
type sink struct{ s *Server }

func (k sink) Deliver(ctx context.Context, in connectors.Inbound) (connectors.Delivered, error) {
	s := k.s
	ch, err := s.channels.of(ctx, in.InboxID)
	if err != nil {
		return connectors.Delivered{}, err
	}
	res, err := s.store.Ingest(ctx, store.Incoming{Inbound: in, ReuseOpen: ch.ReuseOpen})
	if err != nil {
		if in.ConversationID != 0 && errors.Is(err, store.ErrNotFound) {
			return connectors.Delivered{}, fmt.Errorf("%w: %w", connectors.ErrConversationGone, err)
		}
		var ve *store.ValidationError
		if errors.As(err, &ve) {
			// bad input will be as bad on the next try: the channel quarantines it
			return connectors.Delivered{}, connectors.Permanent("the message can't be stored: "+ve.Message, err)
		}
		return connectors.Delivered{}, err
	}
	s.metrics.ingested.Add(1)
	if !res.Duplicate {
		s.published.add(res)
		s.followups.kick()
	}
	return connectors.Delivered{
		MessageID: res.MessageID, ConversationID: res.ConversationID, ContactID: res.ContactID,
		CreatedAt: res.CreatedAt, Duplicate: res.Duplicate, NewConversation: res.NewConversation,
	}, nil
}

// publisher tells the agents about new inbound messages, off the path of the
// acknowledgement: the widget's ack waits only for the commit. It works in batches,
// loading the messages and conversations of many commits in two statements, which is
// what keeps a spike of chat messages from queueing behind per-message reads. What
// must follow a message (data-request detection, SLA, the incident auto-reply) is not
// its business: that work is recorded with the message and done by the follow-up
// worker (followups.go), so a dropped event loses nothing but a page's freshness.
type publisher struct {
	s  *Server
	ch chan store.Ingested
	// lost is set when an event was dropped: the pages are then told to resync
	lost atomic.Bool
}

func newPublisher(s *Server, queue int) *publisher {
	return &publisher{s: s, ch: make(chan store.Ingested, queue)}
}

func (p *publisher) add(res store.Ingested) {
	select {
	case p.ch <- res:
	default:
		// a backlog this deep means the pages are far behind: they resync once the
		// publisher has caught up
		p.s.metrics.dropped.Add(1)
		p.lost.Store(true)
	}
}

func (p *publisher) run(ctx context.Context) {
	ctx = store.ForEvents(ctx)
	batch := make([]store.Ingested, 0, 256)
	for {
		select {
		case <-ctx.Done():
			return
		case first := <-p.ch:
			batch = append(batch[:0], first)
		fill:
			for len(batch) < cap(batch) {
				select {
				case r := <-p.ch:
					batch = append(batch, r)
				default:
					break fill
				}
			}
			p.publish(ctx, batch)
			if p.lost.Swap(false) {
				p.s.hub.Publish(map[string]any{"type": "resync"})
			}
		}
	}
}

func (p *publisher) publish(ctx context.Context, batch []store.Ingested) {
	s := p.s
	msgIDs := make([]int64, len(batch))
	convIDs := make([]int64, len(batch))
	for i, r := range batch {
		msgIDs[i], convIDs[i] = r.MessageID, r.ConversationID
	}
	msgs, err := s.store.MessagesByID(ctx, msgIDs)
	if err != nil {
		s.log.Warn("load ingested messages", "err", err)
		return
	}
	convs, err := s.store.ConversationsByID(ctx, convIDs)
	if err != nil {
		s.log.Warn("load conversations", "err", err)
		return
	}
	for _, r := range batch {
		msg, conv := msgs[r.MessageID], convs[r.ConversationID]
		if msg == nil || conv == nil {
			continue
		}
		s.publishMessage(conv, msg)
	}
}
