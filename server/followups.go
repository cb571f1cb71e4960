package server

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"kibo/store"
)

// followupWorker does what follows each stored inbound message: data-request
// detection, SLA due times, the incident auto-reply. The store records the work in the
// message's own transaction (store.Followup); this worker does it and then deletes the
// record, so the work is done at least once whatever happens between the commit and
// the work (a crash, a restart, a backlog). Every step is idempotent, because a crash
// after a step and before the delete runs it again.
type followupWorker struct {
	store *store.Store
	log   *slog.Logger
	now   func() time.Time
	// steps runs the per-batch and per-message work; it returns the messages whose
	// work failed, with the reason.
	steps func(ctx context.Context, batch []followupItem) map[int64]error

	wake         chan struct{}
	done, failed atomic.Int64
}

// followupItem is one follow-up with the message and conversation it is about.
type followupItem struct {
	work store.Followup
	conv *store.Conversation
	msg  *store.Message
}

const (
	followupBatch = 256
	// a failed step waits 2^attempts seconds, at most an hour, and is never dropped: a
	// missed data request is a missed legal deadline. /metrics shows what is retrying.
	followupMaxWait = time.Hour
	// followupPoll finds work whose retry time has come, and work left by a crash
	// when nothing else wakes the worker
	followupPoll = time.Second
)

func newFollowupWorker(st *store.Store, log *slog.Logger, now func() time.Time,
	steps func(ctx context.Context, batch []followupItem) map[int64]error) *followupWorker {
	return &followupWorker{store: st, log: log, now: now, steps: steps, wake: make(chan struct{}, 1)}
}

// kick tells the worker that new work was committed.
func (w *followupWorker) kick() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

func (w *followupWorker) run(ctx context.Context) {
	t := time.NewTicker(followupPoll)
	defer t.Stop()
	for {
		// work until nothing is due, then wait
		for ctx.Err() == nil {
			n, err := w.runBatch(ctx)
			if err != nil {
				if ctx.Err() == nil {
					w.log.Warn("follow-up work", "err", err)
				}
				break
			}
			if n < followupBatch {
				break
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-w.wake:
		case <-t.C:
		}
	}
}

// runBatch does one batch of due work and returns its size.
func (w *followupWorker) runBatch(ctx context.Context) (int, error) {
	due, err := w.store.DueFollowups(ctx, w.now(), followupBatch)
	if err != nil || len(due) == 0 {
		return 0, err
	}
	msgIDs := make([]int64, len(due))
	for i, f := range due {
		msgIDs[i] = f.MessageID
	}
	msgs, err := w.store.MessagesByID(ctx, msgIDs)
	if err != nil {
		return 0, err
	}
	convIDs := make([]int64, 0, len(msgs))
	for _, m := range msgs {
		convIDs = append(convIDs, m.ConversationID)
	}
	convs, err := w.store.ConversationsByID(ctx, convIDs)
	if err != nil {
		return 0, err
	}
	finished := make([]int64, 0, len(due))
	items := make([]followupItem, 0, len(due))
	for _, f := range due {
		msg := msgs[f.MessageID]
		var conv *store.Conversation
		if msg != nil {
			conv = convs[msg.ConversationID]
		}
		if msg == nil || conv == nil {
			// erased or deleted since: nothing is left to follow up
			finished = append(finished, f.MessageID)
			continue
		}
		items = append(items, followupItem{work: f, conv: conv, msg: msg})
	}
	failures := w.steps(ctx, items)
	for _, it := range items {
		id := it.work.MessageID
		if err, bad := failures[id]; bad {
			w.failed.Add(1)
			wait := time.Duration(1<<min(it.work.Attempts, 12)) * time.Second
			wait = min(wait, followupMaxWait)
			w.log.Warn("follow-up of an inbound message failed: retrying", "message", id, "attempt", it.work.Attempts+1, "in", wait, "err", err)
			if err := w.store.PostponeFollowup(ctx, id, err.Error(), w.now().Add(wait)); err != nil {
				return 0, err
			}
			continue
		}
		finished = append(finished, id)
	}
	if err := w.store.FinishFollowups(ctx, finished); err != nil {
		return 0, err
	}
	w.done.Add(int64(len(finished)))
	return len(due), nil
}

// inboundFollowups is the follow-up work of a batch of inbound messages: SLA due times
// of the conversations they opened or reopened (one transaction for the batch), then
// per message the data-request detection and the incident auto-reply.
func (s *Server) inboundFollowups(ctx context.Context, batch []followupItem) map[int64]error {
	failures := map[int64]error{}
	var sla []store.SLAWork
	for _, it := range batch {
		if it.work.NewConversation || it.work.Reopened {
			w := store.SLAWork{ConversationID: it.conv.ID}
			if it.work.Reopened {
				at := it.msg.CreatedAt
				w.Reopened = &at
			}
			sla = append(sla, w)
		}
	}
	if len(sla) > 0 {
		if _, err := s.store.RefreshSLA(ctx, sla, len(sla)); err != nil {
			for _, it := range batch {
				failures[it.work.MessageID] = err
			}
			return failures
		}
	}
	for _, it := range batch {
		if err := s.detectDataRequest(ctx, it.conv, it.msg); err != nil {
			failures[it.work.MessageID] = err
			continue
		}
		if err := s.incidentAfterIngest(ctx, it.work, it.conv, it.msg); err != nil {
			failures[it.work.MessageID] = err
		}
	}
	return failures
}
