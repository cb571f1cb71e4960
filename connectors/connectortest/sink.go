// Package connectortest holds what the channels' tests share: a Sink that keeps
// messages in memory by the store's rule, so a connector can be tested for what it
// hands over, what it hands over twice, and what it does when the store fails, without
// a database.
package connectortest

import (
	"context"
	"sync"

	"kibo/connectors"
)

// Sink is a connectors.Sink that stores each message once by its ExternalID (ClientID
// for chat), the way the store does: a re-delivery returns the stored message with
// Duplicate set. The zero value is ready to use and safe for concurrent use.
type Sink struct {
	// Before runs before the commit; an error aborts it and nothing is stored (the
	// process died, the disk is full). Set it before the first Deliver.
	Before func(in connectors.Inbound) error
	// Commit runs inside the commit, under the sink's lock, with whether in was a
	// re-delivery: what a channel's store commits along with a message (e-mail's
	// mailbox cursor). Set it before the first Deliver.
	Commit func(in connectors.Inbound, duplicate bool)
	// After runs after the commit; an error is returned although the message is stored
	// (the answer was lost on the way back).
	After func(in connectors.Inbound) error

	mu         sync.Mutex
	fail       error
	stored     []connectors.Inbound
	byID       map[string]int64
	calls      int
	duplicates int
}

var _ connectors.Sink = (*Sink)(nil)

// Deliver stores in unless its id is stored already.
func (s *Sink) Deliver(ctx context.Context, in connectors.Inbound) (connectors.Delivered, error) {
	s.mu.Lock()
	s.calls++
	fail := s.fail
	s.mu.Unlock()
	if fail == nil {
		fail = ctx.Err()
	}
	if fail != nil {
		return connectors.Delivered{}, fail
	}
	if s.Before != nil {
		if err := s.Before(in); err != nil {
			return connectors.Delivered{}, err
		}
	}
	key := in.ExternalID
	if key == "" {
		key = "client:" + in.ClientID
	}
	s.mu.Lock()
	if s.byID == nil {
		s.byID = map[string]int64{}
	}
	id, dup := s.byID[key]
	if dup {
		s.duplicates++
	} else {
		s.stored = append(s.stored, in)
		id = int64(len(s.stored))
		s.byID[key] = id
	}
	if s.Commit != nil {
		s.Commit(in, dup)
	}
	s.mu.Unlock()
	if s.After != nil {
		if err := s.After(in); err != nil {
			return connectors.Delivered{}, err
		}
	}
	return connectors.Delivered{MessageID: id, Duplicate: dup}, nil
}

// Fail makes every Deliver fail with err (a store that is down) until Fail(nil).
func (s *Sink) Fail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail = err
}

// Stored is what was stored, in the order it was.
func (s *Sink) Stored() []connectors.Inbound {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]connectors.Inbound(nil), s.stored...)
}

// Has tells whether a message with this ExternalID is stored.
func (s *Sink) Has(externalID string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.byID[externalID]
	return ok
}

// Calls counts every Deliver, failed ones too.
func (s *Sink) Calls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

// Duplicates counts the re-deliveries of stored messages.
func (s *Sink) Duplicates() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.duplicates
}
