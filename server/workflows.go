package server

import (
	"context"
	"log/slog"
	"time"

	"kibo/server/alerts"
	"kibo/server/counts"
	"kibo/server/datarequests"
	"kibo/server/events"
	"kibo/server/followups"
	"kibo/server/incidents"
	"kibo/server/sla"
	"kibo/store"
)

// The workflows are not the Server's methods: each is a type of its own package with
// the dependencies it names (the store, the events, the chat widgets, the outbox's
// wake, the clock, the log), and the handlers call them. This file wires them and runs
// them.

// newWorkflows builds the workflows; the outbox and the chat must exist.
func (s *Server) newWorkflows() {
	now, log := s.cfg.Now, s.log
	s.liveCounts = counts.New(s.store, s.hub, log, 300*time.Millisecond)
	s.events = events.NewPublisher(s.hub, s.store, log, s.liveCounts.Kick)
	s.dueTimes = sla.New(s.store, log)
	s.incidents = incidents.New(incidents.Deps{
		Store: s.store, Events: s.events, Widgets: s.chat, WakeOutbox: s.outbox.wake,
		Channels: s.cfg.Channels, InboxSettings: s.inboxSettings,
		PublicURL: s.cfg.PublicURL, Now: now, Log: log,
	})
	s.alerts = alerts.New(alerts.Deps{
		Store: s.store, Events: s.events, WakeOutbox: s.outbox.wake, Hosts: s.hosts(), Channels: s.cfg.Channels,
		PublicURL: s.cfg.PublicURL, Now: now, Log: log,
	})
	s.dataRequests = datarequests.New(datarequests.Deps{
		Store: s.store, Events: s.events, WakeOutbox: s.outbox.wake, Channels: s.cfg.Channels,
		PublicURL: s.cfg.PublicURL, Now: now, Log: log,
	})
	steps := followups.Inbound{SLA: s.dueTimes, DataRequests: s.dataRequests, Incidents: s.incidents}
	s.followups = inboundWork{followups.NewWorker(s.store, log, now, steps.Run)}
}

// startWorkflows runs them until Shutdown: the open incidents are loaded first, so the
// first widget's welcome carries them.
func (s *Server) startWorkflows(ctx context.Context) {
	s.incidents.Load(ctx)
	p := periodic{s.dueTimes, s.incidents, s.alerts}
	for _, run := range []func(context.Context){
		s.followups.Run, s.liveCounts.Run, s.incidents.RunFanout, s.dataRequests.Run, p.run,
		every(30*time.Second, wakeSnoozed(s.store, s.events, s.log)),
		every(3*time.Hour, optimizeStore(s.store, s.log)),
	} {
		s.bg.Add(1)
		go func() { defer s.bg.Done(); run(ctx) }()
	}
}

// periodic is the work no event starts: the SLA due times the follow-ups do not
// compute (priority changes, a changed policy), incidents whose phase the clock alone
// changed (maintenance that began or ended), and the alert checks; and the alerts'
// webhook as soon as an alert is raised.
type periodic struct {
	dueTimes  *sla.DueTimes
	incidents *incidents.Broadcaster
	alerts    *alerts.Team
}

func (p periodic) run(ctx context.Context) {
	t := time.NewTicker(alerts.CheckEvery)
	defer t.Stop()
	p.round(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case <-p.alerts.Raised():
			p.alerts.SendWebhooks(ctx)
		case <-t.C:
			p.round(ctx)
		}
	}
}

// round is one round of the periodic work; tests call it with a fake clock.
func (p periodic) round(ctx context.Context) {
	p.dueTimes.Refresh(ctx, nil)
	p.incidents.Refresh(ctx)
	p.incidents.AnnounceTimeChanges()
	p.alerts.CheckSLA(ctx)
	p.alerts.CheckVolume(ctx)
	p.alerts.CheckChannels(ctx)
	p.alerts.SendDailySummary(ctx)
	p.alerts.SendWebhooks(ctx)
}

// every runs do every d, from d after the start, until ctx ends.
func every(d time.Duration, do func(context.Context)) func(context.Context) {
	return func(ctx context.Context) {
		t := time.NewTicker(d)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				do(ctx)
			}
		}
	}
}

// wakeSnoozed reopens the snoozed conversations whose time has come.
func wakeSnoozed(st *store.Store, ev *events.Publisher, log *slog.Logger) func(context.Context) {
	return func(ctx context.Context) {
		ids, err := st.WakeSnoozed(ctx)
		if err != nil {
			log.Warn("wake snoozed conversations", "err", err)
			return
		}
		for _, id := range ids {
			ev.ConversationChanged(ctx, id)
		}
	}
}

// optimizeStore keeps the query planner's statistics current as the data grows: a
// plan chosen on statistics from a small inbox can be wrong at a million conversations.
func optimizeStore(st *store.Store, log *slog.Logger) func(context.Context) {
	return func(ctx context.Context) {
		if err := st.Optimize(ctx); err != nil && ctx.Err() == nil {
			log.Warn("refresh the query planner's statistics", "err", err)
		}
	}
}

// ---- names the channel code (sink.go, email.go, sockets.go) still calls the
// workflows by; they go once that code calls the workflows itself

// inboundWork is the follow-up worker as the sink wakes it.
type inboundWork struct{ *followups.Worker }

func (w inboundWork) kick() { w.Kick() }

// widgetIncident is the incident a widget's welcome carries (sockets.go).
func (s *Server) widgetIncident() any { return s.incidents.Widget() }

// admins are the active admins, and the active agents by id (email.go).
func (s *Server) admins(ctx context.Context) ([]*store.Agent, map[int64]*store.Agent, error) {
	return alerts.Recipients(ctx, s.store)
}

// raiseAlert raises an alert to the team (email.go).
func (s *Server) raiseAlert(ctx context.Context, kind, key, subject, text, link string, to []*store.Agent) (bool, error) {
	return s.alerts.Raise(ctx, kind, key, subject, text, link, to)
}
