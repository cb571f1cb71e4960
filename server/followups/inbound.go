package followups

import (
	"context"

	"kibo/store"
)

// Inbound is the follow-up work of inbound messages, step by step.
type Inbound struct {
	// SLA computes the due times of the conversations the batch opened or reopened,
	// in one transaction (server/sla).
	SLA interface {
		RefreshOnly(ctx context.Context, work []store.SLAWork) error
	}
	// DataRequests suggests a data request found in a message (server/datarequests).
	DataRequests interface {
		Detect(ctx context.Context, conv *store.Conversation, msg *store.Message) error
	}
	// Incidents answers a new ticket during an incident (server/incidents).
	Incidents interface {
		AfterIngest(ctx context.Context, work store.Followup, conv *store.Conversation, msg *store.Message) error
	}
}

// Run is the Steps of inbound messages: SLA due times for the batch, then per message
// the data-request detection and the incident auto-reply. A failed SLA step fails the
// whole batch; a failed step of one message fails that message only.
func (in Inbound) Run(ctx context.Context, batch []Item) map[int64]error {
	failures := map[int64]error{}
	var sla []store.SLAWork
	for _, it := range batch {
		if it.Work.NewConversation || it.Work.Reopened {
			w := store.SLAWork{ConversationID: it.Conv.ID}
			if it.Work.Reopened {
				at := it.Msg.CreatedAt
				w.Reopened = &at
			}
			sla = append(sla, w)
		}
	}
	if len(sla) > 0 {
		if err := in.SLA.RefreshOnly(ctx, sla); err != nil {
			for _, it := range batch {
				failures[it.Work.MessageID] = err
			}
			return failures
		}
	}
	for _, it := range batch {
		if err := in.DataRequests.Detect(ctx, it.Conv, it.Msg); err != nil {
			failures[it.Work.MessageID] = err
			continue
		}
		if err := in.Incidents.AfterIngest(ctx, it.Work, it.Conv, it.Msg); err != nil {
			failures[it.Work.MessageID] = err
		}
	}
	return failures
}
